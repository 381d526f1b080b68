//! A fault-injecting HTTP proxy between kong and moto (toxiproxy is not packaged here), for
//! Route 53 and ELBv2 (XML errors) and DynamoDB (JSON errors, operation from `X-Amz-Target`).
//!
//! kong's `--endpoint-url` points at it; it forwards every request to moto and logs the AWS
//! operation. Its [`Rules`] pick calls to spoil: Route 53 `Throttling` and
//! `PriorRequestNotComplete` errors, 500s, slow answers, connections dropped before or after
//! moto saw the request, and `PENDING` from `GetChange` for a while (moto is always `INSYNC`).
//! The rules can change while kong runs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// One way to spoil a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 400 `Throttling` (Route 53 and ELBv2 both use this code).
    Throttling,
    /// 400 `PriorRequestNotComplete` (Route 53; `Throttling` for ELBv2, which has no such code).
    PriorRequestNotComplete,
    /// 500 `InternalFailure`.
    ServerError,
    /// Forward after a pause (a slow answer, not an error unless kong's timeout is shorter).
    Slow(Duration),
    /// Close the connection without forwarding: moto never sees the call.
    DropBeforeForward,
    /// Forward, then close the connection without answering: the call took effect, and kong
    /// cannot know it.
    DropAfterForward,
}

impl Fault {
    fn name(&self) -> &'static str {
        match self {
            Fault::Throttling => "Throttling",
            Fault::PriorRequestNotComplete => "PriorRequestNotComplete",
            Fault::ServerError => "500",
            Fault::Slow(_) => "slow",
            Fault::DropBeforeForward => "drop before forward",
            Fault::DropAfterForward => "drop after forward",
        }
    }
}

/// Which calls get a fault.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// None: a plain pass-through proxy that logs.
    Off,
    /// The first occurrence of every distinct request (method, path, body) is spoiled, so the
    /// retry of a spoiled call passes: every step's change batches and modify calls (new
    /// bodies each step), the first read of each zone, listener and rule, the first
    /// `GetChange`. (Spoiling repeats of the same request instead, e.g. every other one, would
    /// make a read of several zones fail for ever when their parities differ.)
    FirstOccurrence,
    /// Every selected call.
    Always,
}

/// What the proxy does now.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Which calls get a fault.
    pub mode: Mode,
    /// The faults, used in turn.
    pub faults: Vec<Fault>,
    /// Only these operations get faults (empty: all). An entry `Operation:text` selects the
    /// calls of `Operation` whose body contains `text` (e.g. `TransactWriteItems:step_intent`).
    pub operations: Vec<String>,
    /// Answer `PENDING` to this many more `GetChange` calls; while any are left, every
    /// `ChangeResourceRecordSets` is answered `PENDING` too, as Route 53 answers every
    /// change (moto answers `INSYNC` at once, and kong polls only a `PENDING` change).
    pub pending_get_changes: u32,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            mode: Mode::Off,
            faults: Vec::new(),
            operations: Vec::new(),
            pending_get_changes: 0,
        }
    }
}

/// One call seen.
#[derive(Debug, Clone)]
pub struct Entry {
    /// When it arrived.
    pub at: Instant,
    /// The AWS operation, e.g. `ChangeResourceRecordSets`.
    pub operation: String,
    /// The fault applied, if any.
    pub fault: Option<&'static str>,
    /// Whether moto received it.
    pub forwarded: bool,
}

struct State {
    rules: Rules,
    seen: HashMap<String, u32>,
    next_fault: usize,
    log: Vec<Entry>,
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    /// Its port on 127.0.0.1.
    pub port: u16,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the fault proxy")
    }
}

impl std::error::Error for Dropped {}

impl Proxy {
    /// Starts a proxy to `upstream` (`http://127.0.0.1:PORT`) on a free port.
    pub fn start(upstream: &str, rules: Rules) -> Proxy {
        let state = Arc::new(Mutex::new(State {
            rules,
            seen: HashMap::new(),
            next_fault: 0,
            log: Vec::new(),
        }));
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let upstream = upstream.trim_end_matches('/').to_string();
        let shared = state.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("proxy runtime");
            rt.block_on(async move {
                let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
                    .await
                    .expect("bind proxy");
                port_tx
                    .send(listener.local_addr().expect("proxy addr").port())
                    .expect("report port");
                let client: Client<HttpConnector, Full<Bytes>> =
                    Client::builder(TokioExecutor::new()).build_http();
                let serve = async {
                    loop {
                        let Ok((stream, _)) = listener.accept().await else {
                            continue;
                        };
                        let client = client.clone();
                        let state = shared.clone();
                        let upstream = upstream.clone();
                        tokio::spawn(async move {
                            let service = service_fn(move |req| {
                                handle(req, client.clone(), state.clone(), upstream.clone())
                            });
                            // A dropped connection ends here with an error: expected.
                            let _ = http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                };
                tokio::select! {
                    _ = serve => {}
                    _ = stop_rx => {}
                }
            });
        });
        let port = port_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("proxy did not start");
        Proxy {
            port,
            state,
            stop: Some(stop_tx),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Replaces the rules (takes effect for the next call); requests seen before count as
    /// new again.
    pub fn set_rules(&self, rules: Rules) {
        let mut st = lock(&self.state);
        st.rules = rules;
        st.seen.clear();
    }

    /// Stops injecting faults; keeps logging.
    pub fn heal(&self) {
        self.set_rules(Rules::default());
    }

    /// Every call seen so far.
    pub fn log(&self) -> Vec<Entry> {
        lock(&self.state).log.clone()
    }

    /// Forgets the calls seen so far.
    pub fn clear_log(&self) {
        lock(&self.state).log.clear();
    }

    /// Calls of `operation` that reached moto.
    pub fn forwarded(&self, operation: &str) -> usize {
        self.log()
            .iter()
            .filter(|e| e.operation == operation && e.forwarded)
            .count()
    }

    /// Calls of `operation` that got a fault.
    pub fn faulted(&self, operation: &str) -> usize {
        self.log()
            .iter()
            .filter(|e| e.operation == operation && e.fault.is_some())
            .count()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The AWS operation of a request: Route 53 speaks REST-XML, ELBv2 the Query protocol.
fn operation(method: &str, path: &str, body: &[u8]) -> String {
    if let Some(rest) = path.strip_prefix("/2013-04-01/") {
        let rest = rest.split('?').next().unwrap_or_default();
        let route =
            if rest.starts_with("hostedzone/") && rest.trim_end_matches('/').ends_with("/rrset") {
                if method == "POST" {
                    "ChangeResourceRecordSets"
                } else {
                    "ListResourceRecordSets"
                }
            } else if rest.starts_with("change/") {
                "GetChange"
            } else {
                return format!("route53 {method} {rest}");
            };
        return route.to_string();
    }
    let body = String::from_utf8_lossy(body);
    body.split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .map(str::to_string)
        .unwrap_or_else(|| format!("{method} {path}"))
}

/// DynamoDB's answer for a fault (JSON protocol): `ThrottlingException`,
/// `ProvisionedThroughputExceededException` (for `PriorRequestNotComplete`), or a 500.
fn json_error_response(fault: &Fault, n: usize) -> Response<Full<Bytes>> {
    let (status, code) = match fault {
        Fault::Throttling => (400, "ThrottlingException"),
        Fault::PriorRequestNotComplete => (400, "ProvisionedThroughputExceededException"),
        _ => (500, "InternalServerError"),
    };
    let body = format!(
        "{{\"__type\":\"com.amazonaws.dynamodb.v20120810#{code}\",\"message\":\"injected by the fault proxy\"}}"
    );
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amzn-requestid", format!("fault-proxy-{n}"))
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}

fn error_response(fault: &Fault, route53: bool, n: usize) -> Response<Full<Bytes>> {
    let (status, kind, code, message) = match fault {
        Fault::Throttling => (400, "Sender", "Throttling", "Rate exceeded"),
        Fault::PriorRequestNotComplete if route53 => (
            400,
            "Sender",
            "PriorRequestNotComplete",
            "The request was rejected because Route 53 was still processing a prior request.",
        ),
        Fault::PriorRequestNotComplete => (400, "Sender", "Throttling", "Rate exceeded"),
        _ => (
            500,
            "Receiver",
            "InternalFailure",
            "injected by the fault proxy",
        ),
    };
    let xmlns = if route53 {
        "https://route53.amazonaws.com/doc/2013-04-01/"
    } else {
        "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"
    };
    let body = format!(
        "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"{xmlns}\"><Error><Type>{kind}</Type>\
         <Code>{code}</Code><Message>{message}</Message></Error>\
         <RequestId>fault-proxy-{n}</RequestId></ErrorResponse>"
    );
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "text/xml")
        .header("x-amzn-requestid", format!("fault-proxy-{n}"))
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}

async fn handle(
    req: Request<Incoming>,
    client: Client<HttpConnector, Full<Bytes>>,
    state: Arc<Mutex<State>>,
    upstream: String,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
    let method = parts.method.as_str().to_string();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    // JSON protocols (DynamoDB) name the operation in a header.
    let json_target = parts
        .headers
        .get("x-amz-target")
        .and_then(|t| t.to_str().ok())
        .and_then(|t| t.rsplit('.').next())
        .map(str::to_string);
    let op = json_target
        .clone()
        .unwrap_or_else(|| operation(&method, &path, &body));
    let route53 = path.starts_with("/2013-04-01/");

    // Decide under the lock, act outside it.
    let (fault, pending, n) = {
        let mut st = lock(&state);
        let text = String::from_utf8_lossy(&body);
        let selected = st.rules.operations.is_empty()
            || st.rules.operations.iter().any(|o| match o.split_once(':') {
                Some((name, needle)) => name == op && text.contains(needle),
                None => *o == op,
            });
        // A JSON body's key order may change between attempts (DynamoDB's SDK builds its
        // maps anew): compare them in canonical order.
        let canonical = json_target
            .as_ref()
            .and_then(|_| serde_json::from_slice::<serde_json::Value>(&body).ok())
            .map(|v| v.to_string());
        let key = format!(
            "{method} {path} {}",
            canonical.unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned())
        );
        let seen = st.seen.entry(key).or_default();
        *seen += 1;
        let first = *seen == 1;
        let spoil = selected
            && !st.rules.faults.is_empty()
            && match st.rules.mode {
                Mode::Off => false,
                Mode::FirstOccurrence => first,
                Mode::Always => true,
            };
        let fault = if spoil {
            let i = st.next_fault % st.rules.faults.len();
            st.next_fault += 1;
            Some(st.rules.faults[i].clone())
        } else {
            None
        };
        let pending = op == "GetChange" && st.rules.pending_get_changes > 0 && fault.is_none();
        if pending {
            st.rules.pending_get_changes -= 1;
        }
        let pending_change =
            op == "ChangeResourceRecordSets" && st.rules.pending_get_changes > 0 && fault.is_none();
        let n = st.log.len();
        let forwarded = !matches!(
            fault,
            Some(
                Fault::Throttling
                    | Fault::PriorRequestNotComplete
                    | Fault::ServerError
                    | Fault::DropBeforeForward
            )
        );
        st.log.push(Entry {
            at: Instant::now(),
            operation: op.clone(),
            fault: fault
                .as_ref()
                .map(Fault::name)
                .or(pending.then_some("PENDING")),
            forwarded,
        });
        (fault, pending || pending_change, n)
    };

    match &fault {
        Some(f @ (Fault::Throttling | Fault::PriorRequestNotComplete | Fault::ServerError)) => {
            if json_target.is_some() {
                return Ok(json_error_response(f, n));
            }
            return Ok(error_response(f, route53, n));
        }
        Some(Fault::DropBeforeForward) => return Err(Dropped),
        Some(Fault::Slow(d)) => tokio::time::sleep(*d).await,
        _ => {}
    }

    let mut upstream_req = Request::builder()
        .method(parts.method.clone())
        .uri(format!("{upstream}{path}"));
    for (name, value) in &parts.headers {
        if name != hyper::header::HOST {
            upstream_req = upstream_req.header(name, value);
        }
    }
    let upstream_req = upstream_req.body(Full::new(body)).map_err(|_| Dropped)?;
    let response = client.request(upstream_req).await.map_err(|_| Dropped)?;
    if fault == Some(Fault::DropAfterForward) {
        return Err(Dropped);
    }
    let (mut parts, body) = response.into_parts();
    let mut body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
    if pending {
        let text = String::from_utf8_lossy(&body).replace("INSYNC", "PENDING");
        body = Bytes::from(text);
        parts.headers.remove(hyper::header::CONTENT_LENGTH);
    }
    Ok(Response::from_parts(parts, Full::new(body)))
}
