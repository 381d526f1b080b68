//! A local webhook receiver: records every POST body in order, and answers 200, answers 500,
//! or never answers (hangs), as the test asks; the behaviour can change while kong runs.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// 200 OK.
    Accept,
    /// 500 Internal Server Error.
    Fail,
    /// Reads the request, then never answers.
    Hang,
}

/// One request received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request path (with query).
    pub path: String,
    /// The JSON body (`Value::Null` when not JSON).
    pub body: Value,
}

/// A receiver on 127.0.0.1 and a free port, serving until dropped with its runtime.
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    behaviour: Arc<Mutex<Behaviour>>,
}

impl Receiver {
    /// Starts serving on the current tokio runtime.
    pub async fn start(behaviour: Behaviour) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let received = Arc::new(Mutex::new(Vec::new()));
        let behaviour = Arc::new(Mutex::new(behaviour));
        let (r, b) = (received.clone(), behaviour.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (r, b) = (r.clone(), b.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let (r, b) = (r.clone(), b.clone());
                        async move {
                            let path = req
                                .uri()
                                .path_and_query()
                                .map(|p| p.to_string())
                                .unwrap_or_default();
                            let bytes = req
                                .into_body()
                                .collect()
                                .await
                                .map(|c| c.to_bytes())
                                .unwrap_or_default();
                            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                            r.lock().unwrap().push(Received { path, body });
                            let behaviour = *b.lock().unwrap();
                            let status = match behaviour {
                                Behaviour::Accept => StatusCode::OK,
                                Behaviour::Fail => StatusCode::INTERNAL_SERVER_ERROR,
                                Behaviour::Hang => std::future::pending().await,
                            };
                            let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
                            *response.status_mut() = status;
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver {
            addr,
            received,
            behaviour,
        }
    }

    /// Its URL with `path` (e.g. a secret-looking token, to check it never leaks).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Changes how it answers from now on.
    pub fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }
}
