//! The dashboard's view and router: the JSON a poll gets, the page, read-only routes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::*;
use crate::journal::testing::{AT, applied, finished, intent, run_started};
use crate::testing::topology_with;

const E: &str = "us-east-1";
const W: &str = "us-west-2";

/// Two services over two regions, each with one sim dial (members named after regions).
fn demo() -> Topology {
    let mut t = topology_with(vec![
        ("edge-api", vec![(E, 100.0, 30.0), (W, 100.0, 10.0)]),
        ("catalog", vec![(E, 100.0, 20.0), (W, 100.0, 20.0)]),
    ]);
    // The journal fixtures' runs belong to topology `demo`.
    t.name = "demo".to_string();
    t
}

fn sim_weights(edge: (u32, u32), catalog: (u32, u32)) -> Weights {
    BTreeMap::from([
        (
            "edge-api/sim".to_string(),
            BTreeMap::from([(E.to_string(), edge.0), (W.to_string(), edge.1)]),
        ),
        (
            "catalog/sim".to_string(),
            BTreeMap::from([(E.to_string(), catalog.0), (W.to_string(), catalog.1)]),
        ),
    ])
}

fn log(records: Vec<Record>) -> RunLog {
    RunLog::from_records(records).expect("starts with run_started")
}

/// A feed whose answer the test sets (the state and the weights of "another process").
struct Fixed(
    Mutex<Option<Inputs>>,
    Mutex<Weights>,
    Mutex<Vec<Vec<Record>>>,
);

#[async_trait]
impl Feed for Fixed {
    async fn read(&self) -> Result<Inputs, String> {
        if let Some(inputs) = self.0.lock().unwrap().take() {
            return Ok(inputs);
        }
        Ok(Inputs {
            runs: self.2.lock().unwrap().iter().cloned().map(log).collect(),
            weights: Ok(self.1.lock().unwrap().clone()),
            lock_holder: Some("r2".to_string()),
        })
    }
}

#[test]
fn shares_flows_and_totals_follow_the_weights() {
    let t = demo();
    let view = View::build(
        &t,
        "sim",
        Inputs {
            runs: vec![],
            weights: Ok(sim_weights((0, 100), (50, 50))),
            lock_holder: None,
        },
    );
    assert_eq!(view.shares["edge-api"][E], 0.0);
    assert_eq!(view.shares["edge-api"][W], 1.0);
    assert_eq!(view.shares["catalog"][E], 0.5);
    // Loads: edge-api 40, catalog 40 of 80: us-east-1 serves half of catalog only.
    assert!((view.region_shares[E] - 0.25).abs() < 1e-9, "{view:?}");
    assert!((view.region_shares[W] - 0.75).abs() < 1e-9, "{view:?}");
    let flow = |from: &str, to: &str| {
        view.flows
            .iter()
            .find(|f| f.from == from && f.to == to)
            .map(|f| f.share)
    };
    // edge-api's 30 in us-east-1 all go west; catalog serves where it always did.
    assert!((flow(E, W).unwrap() - 30.0 / 80.0).abs() < 1e-9, "{view:?}");
    assert!((flow(W, W).unwrap() - 30.0 / 80.0).abs() < 1e-9, "{view:?}");
    assert!((flow(E, E).unwrap() - 20.0 / 80.0).abs() < 1e-9, "{view:?}");
    assert_eq!(flow(W, E), None);
    let total: f64 = view.flows.iter().map(|f| f.share).sum();
    assert!(
        (total - 1.0).abs() < 1e-9,
        "flows carry all the load: {total}"
    );
    assert_eq!(view.run, None);
    assert_eq!(view.error, None);
    // At the declared-load baseline every flow is local.
    let baseline = View::build(
        &t,
        "sim",
        Inputs {
            runs: vec![],
            weights: Ok(sim_weights((3, 1), (1, 1))),
            lock_holder: None,
        },
    );
    assert!(
        baseline.flows.iter().all(|f| f.from == f.to),
        "{:?}",
        baseline.flows
    );
}

#[test]
fn follows_the_active_run_else_the_last_one() {
    let t = demo();
    let done = vec![
        run_started("r1", AT),
        intent(0),
        applied(0, 3),
        finished(RunState::Completed),
    ];
    let active = vec![run_started("r2", AT), intent(0)];
    let build = |runs: Vec<Vec<Record>>| {
        View::build(
            &t,
            "sim",
            Inputs {
                runs: runs.into_iter().map(log).collect(),
                weights: Ok(sim_weights((1, 1), (1, 1))),
                lock_holder: Some("r2".to_string()),
            },
        )
    };
    let run = build(vec![active.clone(), done.clone()]).run.unwrap();
    assert_eq!((run.id.as_str(), run.active, run.live), ("r2", true, true));
    assert_eq!(run.state, "running");
    let step = run.step.unwrap();
    assert_eq!(
        (step.index, step.wave, step.percent, step.applied),
        (0, 0, 100, false)
    );
    assert_eq!((run.steps_total, run.waves_total), (1, 1));
    let last = build(vec![done]).run.unwrap();
    assert_eq!(
        (last.id.as_str(), last.active, last.live),
        ("r1", false, false)
    );
    assert_eq!(last.state, "completed");
    assert!(last.step.unwrap().applied);
    let events: Vec<&str> = last.timeline.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        events,
        ["run_started", "step_intent", "step_applied", "run_finished"]
    );
    assert_eq!(last.timeline[2].text, "step 1 applied (3 API calls)");
    // Runs of other topologies are not followed.
    let mut other = t.clone();
    other.name = "other".to_string();
    let view = View::build(
        &other,
        "sim",
        Inputs {
            runs: vec![log(active)],
            weights: Ok(sim_weights((1, 1), (1, 1))),
            lock_holder: None,
        },
    );
    assert_eq!(view.run, None);
}

#[test]
fn the_last_checks_are_shown_against_their_thresholds() {
    let t = demo();
    let checked = Record::StepChecked {
        at: AT.to_string(),
        index: 0,
        results: vec![CheckResult {
            name: "p99".to_string(),
            region: Some(W.to_string()),
            service: None,
            value: Some(120.0),
            threshold: "<= 250".to_string(),
            ok: true,
            detail: None,
        }],
    };
    let view = View::build(
        &t,
        "sim",
        Inputs {
            runs: vec![log(vec![
                run_started("r1", AT),
                intent(0),
                applied(0, 1),
                checked,
            ])],
            weights: Err("cannot read live weights: throttled".to_string()),
            lock_holder: None,
        },
    );
    let run = view.run.unwrap();
    assert_eq!(run.checks_step, Some(0));
    assert_eq!(run.checks[0].value, Some(120.0));
    assert_eq!(run.checks[0].threshold, "<= 250");
    assert_eq!(run.timeline[3].text, "step 1: 1 checks ok");
    // Unreadable weights: the error is shown, no shares are made up.
    assert_eq!(
        view.error.as_deref(),
        Some("cannot read live weights: throttled")
    );
    assert!(view.shares.is_empty() && view.flows.is_empty());
}

/// Serves the router on a free loopback port; returns its base URL.
async fn serve(feed: Arc<dyn Feed>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(demo(), "sim", feed);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// One poll of the page's JSON.
async fn poll(client: &reqwest::Client, base: &str) -> serde_json::Value {
    let response = client
        .get(format!("{base}/api/state"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn api_state_answers_the_live_view_as_json_on_every_poll() {
    let feed = Arc::new(Fixed(
        Mutex::new(None),
        Mutex::new(sim_weights((1, 1), (1, 1))),
        Mutex::new(vec![vec![run_started("r2", AT)]]),
    ));
    let base = serve(feed.clone()).await;
    let client = reqwest::Client::new();
    let first = poll(&client, &base).await;
    assert_eq!(first["topology"], "demo");
    assert_eq!(first["backend"], "sim");
    assert_eq!(first["shares"]["edge-api"][E], 0.5);
    assert_eq!(first["run"]["id"], "r2");
    assert_eq!(first["run"]["live"], true);
    assert_eq!(first["run"]["step"], serde_json::Value::Null);
    // Another process moves traffic and journals a step: the next poll shows both.
    *feed.1.lock().unwrap() = sim_weights((0, 1), (1, 1));
    feed.2.lock().unwrap()[0].push(intent(0));
    let second = poll(&client, &base).await;
    assert_eq!(second["shares"]["edge-api"][E], 0.0);
    assert_eq!(second["run"]["step"]["percent"], 100);
}

#[tokio::test]
async fn the_page_embeds_its_first_view_and_nothing_acts() {
    let feed = Arc::new(Fixed(
        Mutex::new(None),
        Mutex::new(sim_weights((0, 1), (1, 1))),
        Mutex::new(vec![]),
    ));
    let base = serve(feed).await;
    let client = reqwest::Client::new();
    let page = client.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(!html.contains(INITIAL_MARK), "the view is embedded");
    assert!(html.contains(r#""edge-api":{"us-east-1":0.0"#), "{html}");
    // No asset from the network, no form, no button.
    for absent in ["http://", "https://", "<form", "<button", "src="] {
        assert!(
            !html.contains(absent) || absent == "http://" && only_svg_namespace(&html),
            "{absent} in the page"
        );
    }
    // Read-only: nothing but GET is routed.
    for path in ["/", "/api/state"] {
        let post = client.post(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(post.status(), 405, "POST {path}");
    }
    let missing = client.get(format!("{base}/weights")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}

/// Whether every `http://` of the page is the SVG namespace name (not fetched).
fn only_svg_namespace(html: &str) -> bool {
    html.matches("http://").count() == html.matches("http://www.w3.org/2000/svg").count()
}

#[tokio::test]
async fn a_feed_error_is_shown_not_served_as_a_failure() {
    let feed = Arc::new(Fixed(
        Mutex::new(Some(Inputs {
            runs: vec![],
            weights: Err("cannot read live weights: boom".to_string()),
            lock_holder: None,
        })),
        Mutex::new(BTreeMap::new()),
        Mutex::new(vec![]),
    ));
    let base = serve(feed).await;
    let view = poll(&reqwest::Client::new(), &base).await;
    assert_eq!(view["error"], "cannot read live weights: boom");
}
