//! kong vs the naive way on moto: evacuate 200 weighted record sets (200 record names with
//! 3 weighted records each) spread over 4 hosted zones in 5 steps.
//!
//! - kong: `kong evacuate us-east-1 --backend aws` at the default 5 Route 53 requests/s.
//! - naive: what a user scripting `aws route53 change-resource-record-sets` does: one call
//!   per record per step (UPSERT of that record with its new weight), same weights as kong's
//!   plan, no waits, unthrottled; the time it would need at Route 53's 5 requests/s is
//!   computed from its call count.
//!
//! Calls are counted by a pass-through proxy in front of moto. Run with
//! `cargo bench --bench aws` (needs moto: `bash ops/test.sh` installs it).

#[path = "../tests/support"]
pub mod support {
    pub mod fleet;
    pub mod kong;
    pub mod moto;
    pub mod proxy;
}

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_route53 as route53;
use route53::types::{Change, ChangeAction, ChangeBatch};
use support::fleet::{Fleet, Spec, runtime, sdk};
use support::kong::Kong;
use support::moto::moto;
use support::proxy::{Proxy, Rules};

const PLAYBOOK: &str = "name: bench
steps: [20, 40, 60, 80, 100]
bake: 0s
propagation: 0s
hold: 0s
on_abort: rollback
";

/// Route 53's per-account API rate.
const ROUTE53_RATE: f64 = 5.0;

struct Measured {
    wall: Duration,
    calls: BTreeMap<String, usize>,
}

impl Measured {
    fn total(&self) -> usize {
        self.calls.values().sum()
    }

    fn route53(&self) -> usize {
        self.calls
            .iter()
            .filter(|(op, _)| {
                [
                    "ListResourceRecordSets",
                    "ChangeResourceRecordSets",
                    "GetChange",
                ]
                .contains(&op.as_str())
            })
            .map(|(_, n)| n)
            .sum()
    }
}

fn counted(proxy: &Proxy, f: impl FnOnce()) -> Measured {
    proxy.clear_log();
    let start = Instant::now();
    f();
    let wall = start.elapsed();
    let mut calls = BTreeMap::new();
    for e in proxy.log() {
        *calls.entry(e.operation).or_default() += 1;
    }
    Measured { wall, calls }
}

fn main() {
    let spec = Spec {
        zones: 4,
        services: 200,
        per_wave: 200,
        albs: false,
        canary: false,
    };
    eprintln!("creating 4 hosted zones, 200 weighted record sets (600 records) on moto...");
    let fleet = Fleet::create(&moto().url(), "bench", &spec);
    let original = fleet.snapshot();
    let proxy = Proxy::start(&moto().url(), Rules::default());
    let kong = Kong::aws(&fleet.topology, PLAYBOOK, &proxy.url()).route53_rate(ROUTE53_RATE);

    let plan = kong.plan("evacuate", "us-east-1");
    let steps = plan["steps"].as_array().cloned().unwrap_or_default();

    let kong_run = counted(&proxy, || {
        let out = kong.run(&["evacuate", "us-east-1", "--yes"]);
        assert_eq!(out.code, 0, "{}", out.text());
    });
    let evacuated = fleet.snapshot();
    let out = kong.run(&["restore", "us-east-1", "--yes"]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(
        fleet.snapshot(),
        original,
        "restore returns the original form"
    );

    // The naive way: one ChangeResourceRecordSets per record per step.
    let naive = counted(&proxy, || {
        runtime().block_on(async {
            let r53 = route53::Client::new(&sdk(&proxy.url(), "us-east-1").await);
            // Like a script that lists each zone once to learn the records it rewrites.
            let mut records = BTreeMap::new();
            for (zone, sets) in &original.records {
                r53.list_resource_record_sets()
                    .hosted_zone_id(zone)
                    .send()
                    .await
                    .expect("list");
                for set in sets {
                    records.insert(
                        (
                            set.name.clone(),
                            set.set_identifier.clone().unwrap_or_default(),
                        ),
                        (zone.clone(), set.clone()),
                    );
                }
            }
            let name_of: BTreeMap<String, String> = fleet
                .records
                .iter()
                .map(|d| (format!("{}/dns", d.service), d.name.clone()))
                .collect();
            for step in &steps {
                for change in step["changes"].as_array().into_iter().flatten() {
                    let dial = change["dial"].as_str().unwrap_or_default();
                    let member = change["member"].as_str().unwrap_or_default();
                    let to = change["to"].as_i64().unwrap_or_default();
                    let (zone, set) = &records[&(name_of[dial].clone(), member.to_string())];
                    let mut set = set.clone();
                    set.weight = Some(to);
                    if set.alias_target.is_some() {
                        set.ttl = None;
                    }
                    let change = Change::builder()
                        .action(ChangeAction::Upsert)
                        .resource_record_set(set)
                        .build()
                        .expect("change");
                    r53.change_resource_record_sets()
                        .hosted_zone_id(zone)
                        .change_batch(
                            ChangeBatch::builder()
                                .changes(change)
                                .build()
                                .expect("batch"),
                        )
                        .send()
                        .await
                        .expect("naive change");
                }
            }
        });
    });
    assert_eq!(
        fleet.snapshot(),
        evacuated,
        "the naive way ends at kong's weights"
    );

    let naive_at_rate = Duration::from_secs_f64(naive.route53() as f64 / ROUTE53_RATE);
    let zones_x_steps = spec.zones * 5;
    println!(
        "evacuate us-east-1: 200 weighted record sets (600 records), 4 hosted zones, 5 steps, moto"
    );
    println!();
    println!("| | wall time | API calls | ChangeResourceRecordSets | reads + GetChange |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    let row = |name: &str, wall: String, m: &Measured| {
        let changes = m
            .calls
            .get("ChangeResourceRecordSets")
            .copied()
            .unwrap_or(0);
        println!(
            "| {name} | {wall} | {} | {changes} | {} |",
            m.total(),
            m.total() - changes
        );
    };
    row(
        &format!("kong (--route53-rate {ROUTE53_RATE})"),
        format!("{:.1} s", kong_run.wall.as_secs_f64()),
        &kong_run,
    );
    row(
        "naive, unthrottled on moto",
        format!("{:.1} s", naive.wall.as_secs_f64()),
        &naive,
    );
    println!(
        "| naive at Route 53's {ROUTE53_RATE} req/s | >= {:.0} s | | | |",
        naive_at_rate.as_secs_f64()
    );
    println!();
    println!(
        "kong: {} ChangeResourceRecordSets = zones x steps ({zones_x_steps}); calls by operation: {:?}",
        kong_run
            .calls
            .get("ChangeResourceRecordSets")
            .copied()
            .unwrap_or(0),
        kong_run.calls
    );
    println!(
        "ratio naive/kong: {:.1}x the API calls; {:.1}x the time at the account's rate ({:.0} s vs {:.1} s)",
        naive.total() as f64 / kong_run.total() as f64,
        naive_at_rate.as_secs_f64() / kong_run.wall.as_secs_f64(),
        naive_at_rate.as_secs_f64(),
        kong_run.wall.as_secs_f64()
    );
}
