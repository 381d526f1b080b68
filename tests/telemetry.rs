//! Telemetry: a real executor run on the in-memory simulator exports `run`, `wave`, `step`
//! and `check` spans that carry the run id and nest; and the `kong` binary sends them over
//! OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, before it exits. An aborted run's span
//! carries `abort.kind`.

pub mod support {
    pub mod kong;
}

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_sdk::trace::{InMemorySpanExporterBuilder, SpanData};

use kong::backend::sim::{SimBackend, SimFaults};
use kong::checks::{SimSource, Sources};
use kong::exec::{ExecOptions, Executor, Outcome, Progress, ProgressEvent, Prompter};
use kong::journal::{Journal, RunHeader, RunJournal, new_run_id};
use kong::model::{AbortKind, parse_playbook, parse_topology};
use kong::plan::{Operation, PlanInput, plan};

use support::kong::{Kong, STREAMING as TOPOLOGY, fast_playbook};

fn playbook() -> String {
    fast_playbook(&[
        ("name", "spans"),
        ("steps", "[50, 100]"),
        ("bake", "0s"),
        ("propagation", "0s"),
        ("guards", "false"),
    ])
}

struct Quiet;

impl Progress for Quiet {
    fn event(&self, _event: &ProgressEvent) {}
}

struct No;

#[async_trait::async_trait]
impl Prompter for No {
    async fn confirm(&self, _question: &str) -> bool {
        false
    }
}

/// Evacuates us-east-1 of the streaming topology on an in-memory simulator; returns the
/// outcome and the run id.
async fn evacuate(state_dir: &std::path::Path) -> (Outcome, String) {
    evacuate_with(state_dir, &playbook()).await
}

/// [`evacuate`] with another playbook.
async fn evacuate_with(state_dir: &std::path::Path, playbook: &str) -> (Outcome, String) {
    let topology = parse_topology("streaming.yaml", TOPOLOGY).expect("valid topology");
    let playbook = parse_playbook("spans.yaml", playbook, Some(&topology)).expect("valid");
    let backend = Arc::new(SimBackend::in_memory(
        topology.clone(),
        SimFaults::default(),
    ));
    let observed = backend.weights().await;
    let input = PlanInput {
        topology: &topology,
        playbook: &playbook,
        operation: Operation::Evacuate,
        region: "us-east-1",
        observed: &observed,
        restore_to: None,
    };
    let plan = plan(&input).expect("plans");
    let sources = Sources::with_sim(SimSource::new(backend.clone()));
    let (_ctrl_c, interrupts) = tokio::sync::watch::channel(0);
    let executor = Executor {
        topology: &topology,
        playbook: &playbook,
        backend: backend.as_ref(),
        scaling: None,
        restore_capacity: &[],
        source: &sources,
        progress: &Quiet,
        prompter: &No,
        options: ExecOptions::default(),
        interrupts,
    };
    let id = new_run_id("evacuate", "us-east-1");
    let header = RunHeader {
        id: id.clone(),
        operation: Operation::Evacuate,
        region: "us-east-1".into(),
        command: "evacuate".into(),
        topology: topology.name.clone(),
        topology_path: "streaming.yaml".into(),
        playbook_path: "spans.yaml".into(),
        backend: "sim".into(),
        host: "test".into(),
        pid: std::process::id(),
        started_at: "2026-01-01T00:00:00Z".into(),
        dry_run: false,
        operator: None,
        forced: None,
    };
    let mut journal = RunJournal::Local(Journal::create(state_dir, &id).expect("journal"));
    (executor.run(&plan, header, &mut journal).await, id)
}

fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str().into_owned())
}

/// Span names from `span` up to its root.
fn ancestry(span: &SpanData, by_id: &HashMap<String, &SpanData>) -> Vec<String> {
    let mut names = vec![span.name.to_string()];
    let mut parent = span.parent_span_id.to_string();
    while let Some(p) = by_id.get(&parent) {
        names.push(p.name.to_string());
        parent = p.parent_span_id.to_string();
    }
    names
}

#[tokio::test(flavor = "current_thread")]
async fn run_wave_step_and_check_spans_carry_the_run_id_and_nest() {
    let exporter = InMemorySpanExporterBuilder::new().build();
    let (subscriber, guard) = kong::telemetry::with_exporter(exporter.clone());
    let state = tempfile::tempdir().unwrap();
    let (outcome, run) = {
        // The current-thread runtime polls everything on this thread: a thread default is
        // enough and leaves other tests' subscribers alone.
        let _default = tracing::subscriber::set_default(subscriber);
        evacuate(state.path()).await
    };
    assert_eq!(outcome, Outcome::Completed);
    guard.flush();
    let spans = exporter.get_finished_spans().unwrap();
    let by_id: HashMap<String, &SpanData> = spans
        .iter()
        .map(|s| (s.span_context.span_id().to_string(), s))
        .collect();
    let named =
        |name: &str| -> Vec<&SpanData> { spans.iter().filter(|s| s.name == name).collect() };

    let runs = named("run");
    assert_eq!(runs.len(), 1, "one run span");
    let root = runs[0];
    assert_eq!(attr(root, "run").as_deref(), Some(run.as_str()));
    assert_eq!(attr(root, "operation").as_deref(), Some("evacuate"));
    assert_eq!(attr(root, "region").as_deref(), Some("us-east-1"));
    assert_eq!(
        attr(root, "abort.kind"),
        None,
        "a completed run has no abort kind"
    );
    assert!(
        !by_id.contains_key(&root.parent_span_id.to_string()),
        "run is the root"
    );

    let waves = named("wave");
    let steps = named("step");
    let checks = named("check");
    assert!(waves.len() >= 2, "the streaming topology has several waves");
    assert!(steps.len() >= 2 * waves.len(), "two steps per wave");
    assert!(!checks.is_empty(), "checks were evaluated");
    for span in &spans {
        assert_eq!(
            span.span_context.trace_id(),
            root.span_context.trace_id(),
            "{} is in the run's trace",
            span.name
        );
    }
    for wave in &waves {
        assert_eq!(wave.parent_span_id, root.span_context.span_id());
        assert_eq!(attr(wave, "run").as_deref(), Some(run.as_str()));
    }
    for step in &steps {
        assert_eq!(ancestry(step, &by_id), ["step", "wave", "run"]);
        assert_eq!(attr(step, "run").as_deref(), Some(run.as_str()));
        assert!(attr(step, "percent").is_some());
    }
    // The steady state is checked before the run (under `run`), then after every step.
    let after_steps = checks
        .iter()
        .filter(|c| ancestry(c, &by_id) == ["check", "step", "wave", "run"])
        .count();
    assert!(
        after_steps >= steps.len(),
        "{after_steps} checks under steps"
    );
    for check in &checks {
        assert_eq!(
            ancestry(check, &by_id).last().map(String::as_str),
            Some("run")
        );
        assert_eq!(attr(check, "name").as_deref(), Some("destination p99"));
    }
    assert_eq!(
        root.instrumentation_scope.name(),
        kong::telemetry::SERVICE_NAME
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_aborted_run_span_carries_the_abort_kind() {
    let exporter = InMemorySpanExporterBuilder::new().build();
    let (subscriber, guard) = kong::telemetry::with_exporter(exporter.clone());
    let state = tempfile::tempdir().unwrap();
    // No destination serves a p99 of at most 1 ms: the steady state fails before the run.
    let failing = playbook().replace("max: 250", "max: 1");
    let (outcome, run) = {
        let _default = tracing::subscriber::set_default(subscriber);
        evacuate_with(state.path(), &failing).await
    };
    let Outcome::Refused { abort } = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(abort.kind, AbortKind::CheckFailed, "{abort:?}");
    guard.flush();
    let spans = exporter.get_finished_spans().unwrap();
    let runs: Vec<&SpanData> = spans.iter().filter(|s| s.name == "run").collect();
    assert_eq!(runs.len(), 1, "one run span");
    assert_eq!(attr(runs[0], "run").as_deref(), Some(run.as_str()));
    assert_eq!(attr(runs[0], "abort.kind").as_deref(), Some("check_failed"));
}

#[test]
fn without_an_exporter_the_guard_exports_nothing() {
    let guard = kong::telemetry::TelemetryGuard::default();
    assert!(!guard.exporting());
    guard.flush();
}

/// One OTLP/HTTP request as received.
struct Request {
    path: String,
    content_type: String,
    body: Vec<u8>,
}

/// A collector stand-in on 127.0.0.1: answers 200 to every request and keeps it. Serves
/// until the test process ends (each connection has a read timeout, so it never hangs).
fn collector() -> (String, Arc<Mutex<Vec<Request>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let received = Arc::new(Mutex::new(Vec::new()));
    let keep = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let keep = keep.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let mut reader = BufReader::new(stream);
                // Keep-alive: several requests per connection.
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                    let (mut length, mut content_type) = (0usize, String::new());
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) == 0 {
                            return;
                        }
                        let header = header.trim_end();
                        if header.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = header.split_once(':') {
                            match name.to_ascii_lowercase().as_str() {
                                "content-length" => length = value.trim().parse().unwrap_or(0),
                                "content-type" => content_type = value.trim().to_string(),
                                _ => {}
                            }
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    keep.lock().unwrap().push(Request {
                        path,
                        content_type,
                        body,
                    });
                    let reply = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                    if reader.get_mut().write_all(reply).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, received)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn the_binary_exports_its_spans_over_otlp_http_before_exiting() {
    let (endpoint, received) = collector();
    let out = Kong::streaming(&playbook())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .command(&["evacuate", "us-east-1", "--yes"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    // The run id is printed as `run ID: journal PATH`.
    let run = stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("run ")?
                .split_once(": journal")
                .map(|(id, _)| id)
        })
        .unwrap_or_else(|| panic!("no run id in: {stdout}"))
        .to_string();

    let received = received.lock().unwrap();
    assert!(
        !received.is_empty(),
        "no OTLP request arrived; stderr: {stderr}"
    );
    for request in received.iter() {
        assert_eq!(request.path, "/v1/traces");
        assert_eq!(request.content_type, "application/x-protobuf");
    }
    let body: Vec<u8> = received.iter().flat_map(|r| r.body.clone()).collect();
    // Protobuf keeps strings as plain UTF-8: the names and the run id are visible.
    for needle in ["service.name", "kong", "run", "wave", "step", "check"] {
        assert!(contains(&body, needle), "{needle} not exported");
    }
    assert!(contains(&body, &run), "run id {run} not exported");
}
