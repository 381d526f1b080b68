//! Announcements to webhooks, against a local receiver that also fails and hangs on request:
//! every event arrives in order; a failing or hanging webhook never delays a run beyond its
//! timeout; URLs never appear in output, journal or report.

#[path = "support/webhook.rs"]
mod webhook;

use std::time::{Duration, Instant};

use kong::model::{SecretUrl, Webhook, WebhookFormat, WebhookUrl};
use kong::notify::{Announcement, Event, Notifier, RunInfo};
use webhook::{Behaviour, Receiver};

/// A path that looks like a Slack token: it must never leak.
const SECRET: &str = "/services/T000SECRET/B000SECRET/XXXXSECRETXXXX";

fn webhook(url: &str, format: WebhookFormat, timeout: Duration) -> Webhook {
    Webhook {
        format,
        url: WebhookUrl::Literal(SecretUrl::parse(url).unwrap()),
        timeout,
    }
}

fn info() -> RunInfo {
    RunInfo {
        run: "20261130-180000-evacuate-us-east-1-abcd".to_string(),
        operation: "evacuate".to_string(),
        command: "drill".to_string(),
        region: "us-east-1".to_string(),
        operator: "alice".to_string(),
        host: "bastion-1".to_string(),
        report: ".kong/runs/20261130-180000-evacuate-us-east-1-abcd/drill-report.md".to_string(),
    }
}

fn announcement(event: Event, outcome: &str) -> Announcement {
    Announcement {
        event,
        run: info(),
        outcome: outcome.to_string(),
        at: "2026-11-30T18:00:00Z".to_string(),
    }
}

fn events() -> Vec<Announcement> {
    vec![
        announcement(Event::Start { resumed: false }, "running"),
        announcement(
            Event::Wave {
                wave: 0,
                services: vec!["edge-api".into()],
            },
            "running",
        ),
        announcement(
            Event::Wave {
                wave: 1,
                services: vec!["playback".into(), "identity".into()],
            },
            "running",
        ),
        announcement(
            Event::Abort {
                reason: "check p99 failed".into(),
            },
            "aborting",
        ),
        announcement(Event::RollbackDone, "rolled back"),
        announcement(
            Event::Finish { exit_code: 4 },
            "rolled back: check p99 failed",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_announcement_arrives_in_order_with_the_run_fields() {
    let json = Receiver::start(Behaviour::Accept).await;
    let slack = Receiver::start(Behaviour::Accept).await;
    let notifier = Notifier::start(
        &[
            webhook(
                &json.url("/hook"),
                WebhookFormat::Json,
                Duration::from_secs(5),
            ),
            webhook(
                &slack.url(SECRET),
                WebhookFormat::Slack,
                Duration::from_secs(5),
            ),
        ],
        |_| None,
    );
    for a in events() {
        notifier.announce(a);
    }
    let failures = notifier.finish().await;
    assert!(failures.is_empty(), "{failures:?}");

    let got = json.received();
    let names: Vec<&str> = got
        .iter()
        .map(|r| r.body["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["start", "wave", "wave", "abort", "rollback_done", "finish"]
    );
    let first = &got[0].body;
    for (key, value) in [
        ("run", "20261130-180000-evacuate-us-east-1-abcd"),
        ("operation", "evacuate"),
        ("command", "drill"),
        ("region", "us-east-1"),
        ("operator", "alice"),
        ("host", "bastion-1"),
        ("outcome", "running"),
    ] {
        assert_eq!(first[key], value, "{key} in {first}");
    }
    assert!(
        first["report"]
            .as_str()
            .unwrap()
            .ends_with("drill-report.md")
    );
    assert_eq!(got[2].body["wave"], 1);
    assert_eq!(got[5].body["exit_code"], 4);

    let texts: Vec<String> = slack
        .received()
        .iter()
        .map(|r| r.body["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts.len(), 6);
    assert!(
        texts[0].contains("kong drill (evacuate) us-east-1: started"),
        "{}",
        texts[0]
    );
    assert!(texts[0].contains("by alice on bastion-1"), "{}", texts[0]);
    assert!(
        texts[2].contains("wave 2 started: playback, identity"),
        "{}",
        texts[2]
    );
    assert!(texts[5].contains("finished: rolled back"), "{}", texts[5]);
    assert_eq!(slack.received()[0].path, SECRET);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_webhook_never_delays_beyond_its_timeout_and_is_named_by_host() {
    let hang = Receiver::start(Behaviour::Hang).await;
    let ok = Receiver::start(Behaviour::Accept).await;
    let timeout = Duration::from_millis(700);
    let notifier = Notifier::start(
        &[
            webhook(&hang.url(SECRET), WebhookFormat::Slack, timeout),
            webhook(&ok.url("/ok"), WebhookFormat::Json, Duration::from_secs(5)),
        ],
        |_| None,
    );
    let started = Instant::now();
    for a in events() {
        notifier.announce(a);
    }
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "announcing must not wait for deliveries: {:?}",
        started.elapsed()
    );
    let failures = notifier.finish().await;
    // The healthy webhook got everything; the run waited at most the longest timeout (5 s of
    // the healthy one, which answers at once) -- and never 6 x 700 ms for the hanging one.
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(3_000), "{elapsed:?}");
    assert_eq!(ok.received().len(), 6);
    assert!(!failures.is_empty());
    let text: String = failures.iter().map(|f| f.text.clone() + "\n").collect();
    assert!(
        text.contains(&format!("webhook {}", hang.addr.ip())),
        "{text}"
    );
    assert!(
        text.contains("no answer within") || text.contains("not delivered"),
        "{text}"
    );
    assert!(!text.contains("SECRET"), "{text}");
    assert!(failures.iter().all(|f| f.run == info().run));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finish_waits_at_most_the_timeout_for_a_hanging_webhook() {
    let hang = Receiver::start(Behaviour::Hang).await;
    let timeout = Duration::from_millis(500);
    let notifier = Notifier::start(
        &[webhook(&hang.url(SECRET), WebhookFormat::Json, timeout)],
        |_| None,
    );
    for a in events() {
        notifier.announce(a);
    }
    let started = Instant::now();
    let failures = notifier.finish().await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < timeout + Duration::from_millis(300),
        "{elapsed:?}"
    );
    let text: String = failures.iter().map(|f| f.text.clone() + "\n").collect();
    assert!(text.contains("not delivered"), "{text}");
    assert!(!text.contains("SECRET"), "{text}");
    // Deliveries are sequential, in order: the first is the start (the next may have been
    // sent once the first timed out, before finish returned).
    let received = hang.received();
    assert!(
        !received.is_empty() && received.len() <= 2,
        "{}",
        received.len()
    );
    assert_eq!(received[0].body["event"], "start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_webhook_is_reported_by_host_and_later_events_still_go_out() {
    let rx = Receiver::start(Behaviour::Fail).await;
    let notifier = Notifier::start(
        &[webhook(
            &rx.url(SECRET),
            WebhookFormat::Json,
            Duration::from_secs(5),
        )],
        |_| None,
    );
    let mut all = events().into_iter();
    notifier.announce(all.next().unwrap());
    // Wait for the failed delivery, then let the receiver recover.
    for _ in 0..100 {
        if !rx.received().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    rx.set(Behaviour::Accept);
    for a in all {
        notifier.announce(a);
    }
    let failures = notifier.finish().await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(
        failures[0].text,
        format!(
            "webhook {}: start not delivered: HTTP 500 Internal Server Error",
            rx.addr.ip()
        )
    );
    assert_eq!(rx.received().len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_from_an_unset_variable_is_a_problem_named_by_the_variable() {
    let hook = Webhook {
        format: WebhookFormat::Slack,
        url: WebhookUrl::Env("KONG_TEST_UNSET_WEBHOOK".to_string()),
        timeout: Duration::from_secs(1),
    };
    let notifier = Notifier::start(&[hook], |_| None);
    assert_eq!(
        notifier.setup_problems(),
        ["webhook $KONG_TEST_UNSET_WEBHOOK: the variable is not set; nothing was announced to it"]
    );
    notifier.announce(events().remove(0));
    assert!(notifier.finish().await.is_empty());
}

#[test]
fn a_webhook_url_shows_only_its_host() {
    let url =
        SecretUrl::parse("https://user:pw@hooks.example.com:8443/services/T0/B0/XYZ?x=1").unwrap();
    assert_eq!(url.host(), "hooks.example.com");
    assert_eq!(format!("{url:?}"), "SecretUrl(hooks.example.com)");
    assert_eq!(
        serde_json::to_string(&url).unwrap(),
        "\"hooks.example.com\""
    );
    assert!(SecretUrl::parse("ftp://x/y").is_err());
    assert!(SecretUrl::parse("https:///path").is_err());
    assert!(!SecretUrl::parse("nope").unwrap_err().contains("nope"));
}
