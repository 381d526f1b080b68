//! A real Prometheus server per test (`/usr/bin/prometheus`, or `prometheus` on PATH) on a
//! free 127.0.0.1 port, scraping one target every second, with its TSDB in a temp dir; and
//! `kong sim serve` as that target.
//!
//! Both are killed when their handle drops, and die with the test thread that started them
//! if the test process dies (`PR_SET_PDEATHSIG`), so no server outlives its test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::kong::Kong;

/// A free port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

/// A child process killed when this drops, and when the thread that spawned it dies.
pub struct Daemon {
    child: Option<Child>,
    /// What it is, for messages.
    pub name: String,
}

impl Daemon {
    /// Spawns `cmd`, asking the kernel to SIGKILL it when the spawning thread exits.
    pub fn spawn(name: &str, cmd: &mut Command) -> std::io::Result<Daemon> {
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Ok(Daemon {
            child: Some(cmd.spawn()?),
            name: name.to_string(),
        })
    }

    /// The child, while it has not been killed.
    pub fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("daemon already killed")
    }

    /// SIGKILLs it and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The Prometheus binary: `/usr/bin/prometheus`, else `prometheus` on PATH.
fn binary() -> PathBuf {
    let usr = PathBuf::from("/usr/bin/prometheus");
    if usr.exists() {
        return usr;
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("prometheus"))
            .find(|p| p.exists())
    });
    found.unwrap_or_else(|| {
        panic!(
            "Prometheus is not installed (no /usr/bin/prometheus, none on PATH); \
             `bash ops/test.sh` installs it (apt-get install prometheus)"
        )
    })
}

/// A running Prometheus.
pub struct Prometheus {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its config, TSDB and log.
    dir: tempfile::TempDir,
    daemon: Daemon,
}

impl Prometheus {
    /// Starts Prometheus on `port` scraping `target` (`HOST:PORT`, path `/metrics`) every
    /// second, and waits until it is ready and has a sample of `kong_sim_requests_per_second`.
    pub fn start(port: u16, target: &str) -> Prometheus {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: kong-sim\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("write prometheus.yml");
        let log = dir.path().join("prometheus.log");
        let stderr = std::fs::File::create(&log).expect("create prometheus.log");
        let daemon = Daemon::spawn(
            "prometheus",
            Command::new(binary())
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--log.level=warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr),
        )
        .expect("start prometheus");
        let mut prometheus = Prometheus { port, dir, daemon };
        prometheus.wait_ready();
        prometheus.wait_for_data("kong_sim_requests_per_second");
        prometheus
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its log so far, for assertion messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// Kills it (SIGKILL): queries are refused from now on.
    pub fn kill(&mut self) {
        self.daemon.kill();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.daemon.child().try_wait() {
                panic!("prometheus exited ({status}) before ready:\n{}", self.log());
            }
            if let Ok((200, _)) = get(self.port, "/-/ready") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready within 60 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until `query` returns at least one series (the target is up and scraped).
    pub fn wait_for_data(&self, query: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let result = self.query(query);
            if result.as_array().is_some_and(|r| !r.is_empty()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no `{query}` in prometheus within 60 s (last result {result}):\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `data.result` of an instant query (`null` when the query failed).
    pub fn query(&self, query: &str) -> Value {
        let path = format!("/api/v1/query?query={}", encode(query));
        match get(self.port, &path) {
            Ok((200, body)) => serde_json::from_str::<Value>(&body)
                .map(|v| v["data"]["result"].clone())
                .unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }

    /// The value of an instant query that returns one series.
    pub fn value(&self, query: &str) -> Option<f64> {
        let result = self.query(query);
        let series = result.as_array()?;
        match series.as_slice() {
            [one] => one["value"][1].as_str()?.parse().ok(),
            _ => None,
        }
    }
}

/// `kong sim serve` on a free port.
pub struct SimServe {
    /// `127.0.0.1:PORT` it listens on.
    pub addr: String,
    daemon: Daemon,
}

impl SimServe {
    /// Starts `kong sim serve --listen 127.0.0.1:0` through `kong`'s runner (its files,
    /// state, backend and environment) and waits for the line with its URL.
    pub fn start(kong: &Kong) -> SimServe {
        let mut cmd = kong.command(&["sim", "serve", "--listen", "127.0.0.1:0"]);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut daemon = Daemon::spawn("kong sim serve", &mut cmd).expect("start kong sim serve");
        let stdout = daemon.child().stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find("http://") {
                    let _ = tx.send(line[at + "http://".len()..].to_string());
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let status = daemon.child().wait().ok();
                panic!(
                    "kong sim serve exited ({status:?}) without printing its URL; see its stderr above"
                )
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                panic!("kong sim serve printed no URL within 60 s")
            }
        };
        let addr = url.trim_end_matches("/metrics").to_string();
        SimServe { addr, daemon }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port")
    }

    /// One scrape: HTTP status and body.
    pub fn scrape(&self) -> (u16, String) {
        get(self.port(), "/metrics").expect("scrape kong sim serve")
    }

    /// Stops it.
    pub fn kill(&mut self) {
        self.daemon.kill();
    }
}

/// `GET path` on 127.0.0.1:port over HTTP/1.0 (no chunked answers): status and body.
pub fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Percent-encodes a query parameter.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
