//! One moto server per test binary, on a free 127.0.0.1 port, shared by its tests (each
//! creates its own hosted zones and load balancers, named after the test, so they never see
//! each other's fixtures).
//!
//! The server reads its stdin and exits at end of file: the test process holds the other end
//! of the pipe, so the server goes away with the test binary however it ends (even kill -9).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The moto version `ops/test.sh` installs.
pub const MOTO_VERSION: &str = "5.2.1";

const SERVER: &str = r#"
import os, sys
try:
    from moto.server import ThreadedMotoServer
except ImportError as e:
    print("missing " + str(e), flush=True)
    sys.exit(3)
if len(sys.argv) > 2 and sys.argv[2] == "serial":
    # One request at a time: moto's conditional writes are not atomic across its request
    # threads (DynamoDB's are), which tests of racing lock holders would otherwise see.
    import threading
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", int(sys.argv[1]), app, threaded=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
else:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
    server.start()
print("ready", flush=True)
sys.stdin.read()
os._exit(0)
"#;

/// A running moto server.
pub struct Moto {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Where its stderr goes.
    pub log: PathBuf,
    _child: Mutex<Child>,
    _stdin: Mutex<ChildStdin>,
}

impl Moto {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// The moto server of this test binary, started on first use.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| start_server(false))
}

/// A moto server answering one request at a time, so that its conditional writes are atomic
/// as DynamoDB's are (tests of processes racing for a lock).
pub fn moto_serial() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| start_server(true))
}

fn start_server(serial: bool) -> Moto {
    let mut last = String::new();
    for _ in 0..3 {
        match start(serial) {
            Ok(m) => return m,
            Err(e) => last = e,
        }
    }
    panic!("{last}")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

fn start(serial: bool) -> Result<Moto, String> {
    let install = format!(
        "`bash ops/test.sh` installs it (or: python3 -m pip install 'moto[server]=={MOTO_VERSION}')"
    );
    let port = free_port();
    let log = std::env::temp_dir().join(format!("kong-moto-{port}.log"));
    let stderr = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut child = Command::new("python3")
        .args(["-c", SERVER, &port.to_string()])
        .args(serial.then_some("serial"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot start python3 for the moto server ({e}); {install}"))?;
    let stdin = child.stdin.take().ok_or("no stdin")?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(60)).map_err(|_| {
        format!(
            "moto server did not start within 60 s; see {}",
            log.display()
        )
    })?;
    if line.starts_with("missing") {
        return Err(format!(
            "the moto server is not installed ({}); {install}",
            line.trim()
        ));
    }
    if !line.starts_with("ready") {
        let _ = child.kill();
        let mut text = String::new();
        let _ = std::fs::File::open(&log).and_then(|mut f| f.read_to_string(&mut text));
        return Err(format!(
            "moto server failed to start on port {port}: {text}"
        ));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err(format!("moto server does not accept connections on {port}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Moto {
        port,
        log,
        _child: Mutex::new(child),
        _stdin: Mutex::new(stdin),
    })
}

/// The default subnets of `region` (moto creates a default VPC per region) as
/// `(subnet id, vpc id)`, through EC2's Query API over plain HTTP: building `aws-sdk-ec2`
/// for one call would cost minutes, and moto does not check signatures (it only reads the
/// service and region from the credential scope).
pub fn default_subnets(endpoint: &str, region: &str) -> Vec<(String, String)> {
    let addr = endpoint.trim_start_matches("http://");
    let body = "Action=DescribeSubnets&Version=2016-11-15";
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/ec2/aws4_request, \
         SignedHeaders=host, Signature=0\r\nX-Amz-Date: 20260101T000000Z\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(addr).expect("connect to moto");
    stream
        .write_all(request.as_bytes())
        .expect("send DescribeSubnets");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read DescribeSubnets");
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "DescribeSubnets: {response}"
    );
    // Every subnet has exactly one of each of these tags (nested sets have none of them).
    let ids = tags(&response, "subnetId");
    let vpcs = tags(&response, "vpcId");
    let defaults = tags(&response, "defaultForAz");
    assert!(
        ids.len() == vpcs.len() && ids.len() == defaults.len(),
        "{response}"
    );
    ids.into_iter()
        .zip(vpcs)
        .zip(defaults)
        .filter(|(_, d)| d == "true")
        .map(|(pair, _)| pair)
        .collect()
}

fn tags(xml: &str, name: &str) -> Vec<String> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        rest = &rest[start + open.len()..];
        let Some(end) = rest.find(&close) else { break };
        found.push(rest[..end].to_string());
        rest = &rest[end..];
    }
    found
}
