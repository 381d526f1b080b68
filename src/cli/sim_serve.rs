//! `kong sim serve`: the simulator's metrics as a Prometheus scrape target.
//!
//! Every `GET /metrics` reads the live weights of every dial through the chosen backend and
//! computes the simulator's traffic model from them
//! ([`crate::backend::sim::traffic::metrics`]), so Prometheus sees traffic follow every move,
//! including moves made by another kong process: the simulator's world is opened again from
//! the state dir on every scrape (a backend holds its world in memory), and so is an aws
//! backend whose topology has sim dials; an aws-only topology is read through one backend.
//! A failed read answers HTTP 500 with the error: Prometheus marks the target down, queries
//! get no data, and checks fail, as they should.
//!
//! A minimal HTTP/1.1 server over a tokio `TcpListener`: one request per connection
//! (`Connection: close`), `GET /metrics` and 404 for anything else. It never changes a weight.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::context::{Context, Line};
use super::exit::Done;
use super::{CliError, Common, backend};
use crate::backend::TrafficBackend;
use crate::backend::sim::{exposition, traffic};
use crate::model::{BackendKind, DialKind, Topology};

/// Longest request head read; a scrape's is a few hundred bytes.
const MAX_HEAD: usize = 16 * 1024;
/// Time a client has to send its request head.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the weights are read on each scrape.
enum Reader {
    /// Open the backend again for every scrape (the world is in the state dir).
    Reopen {
        common: Box<Common>,
        topology: Arc<Topology>,
    },
    /// One backend for the process (its clients are reused).
    Keep {
        backend: Arc<dyn TrafficBackend>,
        topology: Arc<Topology>,
    },
}

impl Reader {
    /// The exposition-format body of one scrape, or why the weights could not be read.
    async fn scrape(&self) -> Result<String, String> {
        match self {
            Reader::Reopen { common, topology } => {
                let (common, t) = (common.clone(), topology.clone());
                let opened = tokio::task::spawn_blocking(move || backend::open(&common, &t))
                    .await
                    .map_err(|e| format!("opening the backend: {e}"))?
                    .map_err(|e| {
                        let e = e.to_string();
                        format!("opening the backend: {}", e.trim_start_matches("error: "))
                    })?;
                metrics_of(opened.as_ref(), topology).await
            }
            Reader::Keep { backend, topology } => metrics_of(backend.as_ref(), topology).await,
        }
    }
}

/// Reads every dial once and renders the simulator's metrics for those weights. One
/// attempt: Prometheus scrapes again soon, and a slow answer only delays it.
async fn metrics_of(backend: &dyn TrafficBackend, topology: &Topology) -> Result<String, String> {
    let weights = backend
        .read(&crate::backend::all_dials(topology))
        .await
        .map_err(|e| format!("reading the live weights: {e}"))?;
    Ok(exposition::render(&traffic::metrics(topology, &weights)))
}

/// Serves `GET /metrics` on `listen` until SIGINT or SIGTERM.
pub fn run(common: &Common, listen: &str) -> Result<Done, CliError> {
    let addr: SocketAddr = listen.parse().map_err(|e| {
        CliError::Usage(format!(
            "--listen {listen}: expected HOST:PORT such as 127.0.0.1:9464 ({e})"
        ))
    })?;
    let ctx = Context::<Topology>::open(common, "sim serve", Line::Stdout)?;
    let kind = ctx.kind;
    // Opened once here (outside the runtime) so that flags are checked before listening and
    // the simulator's world file exists from the start.
    let first = ctx.backends()?.traffic;
    let topology = Arc::new(ctx.topology().clone());
    let has_sim_dials = topology
        .services
        .values()
        .any(|s| s.dials.iter().any(|d| matches!(d.kind, DialKind::Sim)));
    let reader = if kind == BackendKind::Sim || has_sim_dials {
        Reader::Reopen {
            common: Box::new(common.clone()),
            topology,
        }
    } else {
        Reader::Keep {
            backend: first,
            topology,
        }
    };
    ctx.block_on(serve(addr, Arc::new(reader)))
}

async fn serve(addr: SocketAddr, reader: Arc<Reader>) -> Result<Done, CliError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::Refused(format!("cannot listen on {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| CliError::Unexpected(e.into()))?;
    println!("serving simulator metrics on http://{local}/metrics");
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| CliError::Unexpected(e.into()))?;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let reader = reader.clone();
                    tokio::spawn(async move { handle(stream, &reader).await });
                }
                // Out of file descriptors or a reset before accept: keep serving.
                Err(e) => tracing::warn!(error = %e, "accepting a connection"),
            },
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
        }
    }
    eprintln!("stopped serving on http://{local}/metrics");
    Ok(Done::Ok)
}

/// Answers one request and closes the connection.
async fn handle(mut stream: TcpStream, reader: &Reader) {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(head)) => head,
        // A client that sends nothing usable gets nothing.
        Ok(Err(_)) | Err(_) => return,
    };
    let (status, content_type, body) = match route(&head) {
        Route::Metrics => match reader.scrape().await {
            Ok(body) => ("200 OK", exposition::CONTENT_TYPE, body),
            Err(e) => {
                tracing::warn!(error = %e, "scrape failed");
                (
                    "500 Internal Server Error",
                    "text/plain; charset=utf-8",
                    format!("{e}\n"),
                )
            }
        },
        Route::NotFound => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found: GET /metrics\n".to_string(),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    // The client may be gone already; there is no one to tell.
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Reads up to the end of the request head (`\r\n\r\n`).
async fn read_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.len() > MAX_HEAD {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

#[derive(Debug, PartialEq, Eq)]
enum Route {
    Metrics,
    NotFound,
}

/// `GET /metrics` (any query string) or not.
fn route(head: &str) -> Route {
    let mut parts = head.lines().next().unwrap_or("").split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    if method == "GET" && path == "/metrics" {
        Route::Metrics
    } else {
        Route::NotFound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_only_get_metrics() {
        assert_eq!(
            route("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Route::Metrics
        );
        assert_eq!(route("GET /metrics?x=1 HTTP/1.1\r\n\r\n"), Route::Metrics);
        assert_eq!(route("GET / HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(route("POST /metrics HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(route(""), Route::NotFound);
    }
}
