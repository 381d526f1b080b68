//! The HTTP server set-up shared by `kong sim serve` and `kong dashboard`: which addresses
//! may be bound, and serving an axum router until SIGINT or SIGTERM.

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;

/// Whether `addr` may be bound: loopback always; any other address only with the explicit
/// flag `allow_flag`, and then with a warning for people (returned, to print).
pub fn check_listen(
    addr: SocketAddr,
    allow_remote: bool,
    allow_flag: &str,
) -> Result<Option<String>, String> {
    if addr.ip().is_loopback() {
        Ok(None)
    } else if allow_remote {
        Ok(Some(format!(
            "warning: listening on {addr}, not on loopback: anyone who can reach this machine \
             on port {} can read it",
            addr.port()
        )))
    } else {
        Err(format!(
            "--listen {addr} is not a loopback address: pass {allow_flag} to serve other \
             machines, or listen on 127.0.0.1"
        ))
    }
}

/// Parses `--listen HOST:PORT` (an IP address and a port; port 0: any free port).
pub fn parse_listen(listen: &str, example: &str) -> Result<SocketAddr, String> {
    listen
        .parse()
        .map_err(|e| format!("--listen {listen}: expected HOST:PORT such as {example} ({e})"))
}

/// Binds `addr`.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// Serves `router` on `listener` until SIGINT or SIGTERM (requests in flight finish).
pub async fn serve_until_signal(listener: TcpListener, router: Router) -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_always_allowed() {
        for addr in ["127.0.0.1:0", "127.0.0.5:9465", "[::1]:9465"] {
            let addr: SocketAddr = addr.parse().unwrap();
            assert_eq!(check_listen(addr, false, "--allow-remote"), Ok(None));
            assert_eq!(check_listen(addr, true, "--allow-remote"), Ok(None));
        }
    }

    #[test]
    fn other_addresses_need_the_flag_and_warn() {
        for addr in ["0.0.0.0:9465", "192.168.1.4:9465", "[::]:9465"] {
            let addr: SocketAddr = addr.parse().unwrap();
            let refused = check_listen(addr, false, "--allow-remote").unwrap_err();
            assert!(refused.contains("--allow-remote"), "{refused}");
            assert!(refused.contains("not a loopback address"), "{refused}");
            let warning = check_listen(addr, true, "--allow-remote")
                .unwrap()
                .expect("a warning");
            assert!(warning.starts_with("warning: "), "{warning}");
        }
    }

    #[test]
    fn listen_takes_an_ip_and_a_port() {
        assert_eq!(
            parse_listen("127.0.0.1:9465", "127.0.0.1:9465").unwrap(),
            "127.0.0.1:9465".parse::<SocketAddr>().unwrap()
        );
        let e = parse_listen("localhost", "127.0.0.1:9465").unwrap_err();
        assert!(
            e.contains("expected HOST:PORT such as 127.0.0.1:9465"),
            "{e}"
        );
    }
}
