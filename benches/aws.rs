//! kong vs the naive way on moto: evacuate 200 weighted record sets (200 record names with
//! 3 weighted records each) spread over 4 hosted zones in 5 steps.
//!
//! - kong: `kong evacuate us-east-1 --backend aws` at the default 5 Route 53 requests/s, and
//!   with no rate limit (`--route53-rate 1000000`);
//! - batched: the least a script can send: one ChangeResourceRecordSets per hosted zone per
//!   step (every record of the zone that changes in the step), nothing else, unthrottled,
//!   from a process already running (issue 9's target: kong unthrottled takes at most twice
//!   its wall time);
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

    // kong with no rate limit, in a scratch directory of its own.
    let free = Kong::aws(&fleet.topology, PLAYBOOK, &proxy.url()).route53_rate(1_000_000.0);
    let kong_free = counted(&proxy, || {
        let out = free.run(&["evacuate", "us-east-1", "--yes"]);
        assert_eq!(out.code, 0, "{}", out.text());
    });
    assert_eq!(
        fleet.snapshot(),
        evacuated,
        "unthrottled kong ends where kong did"
    );
    let out = free.run(&["restore", "us-east-1", "--yes"]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(fleet.snapshot(), original);

    // The batched script: one ChangeResourceRecordSets per zone per step, nothing else.
    let by_zone = |target: &BTreeMap<(String, String), i64>| {
        let mut zones: BTreeMap<String, Vec<Change>> = BTreeMap::new();
        for ((name, id), weight) in target {
            let (zone, set) = original
                .records
                .iter()
                .find_map(|(zone, sets)| {
                    sets.iter()
                        .find(|s| {
                            s.name == *name && s.set_identifier.as_deref() == Some(id.as_str())
                        })
                        .map(|s| (zone.clone(), s.clone()))
                })
                .expect("record");
            let mut set = set;
            set.weight = Some(*weight);
            if set.alias_target.is_some() {
                set.ttl = None;
            }
            zones.entry(zone).or_default().push(
                Change::builder()
                    .action(ChangeAction::Upsert)
                    .resource_record_set(set)
                    .build()
                    .expect("change"),
            );
        }
        zones
    };
    let name_of: BTreeMap<String, String> = fleet
        .records
        .iter()
        .map(|d| (format!("{}/dns", d.service), d.name.clone()))
        .collect();
    // The batches, prepared before the clock starts: per step, per zone, its changes.
    let mut step_batches = Vec::new();
    let mut last: Option<(u64, u64)> = None;
    let mut group: BTreeMap<(String, String), i64> = BTreeMap::new();
    for step in &steps {
        // A step group: one wave at one percent (the plan lists its services in a row).
        let key = (
            step["wave"].as_u64().unwrap_or_default(),
            step["percent"].as_u64().unwrap_or_default(),
        );
        if last != Some(key) && !group.is_empty() {
            step_batches.push(by_zone(&group));
            group.clear();
        }
        last = Some(key);
        for change in step["changes"].as_array().into_iter().flatten() {
            let dial = change["dial"].as_str().unwrap_or_default();
            let member = change["member"].as_str().unwrap_or_default();
            let to = change["to"].as_i64().unwrap_or_default();
            group.insert((name_of[dial].clone(), member.to_string()), to);
        }
    }
    if !group.is_empty() {
        step_batches.push(by_zone(&group));
    }
    let send = |batches: &[BTreeMap<String, Vec<Change>>]| {
        runtime().block_on(async {
            let r53 = route53::Client::new(&sdk(&proxy.url(), "us-east-1").await);
            for zones in batches {
                for (zone, changes) in zones {
                    r53.change_resource_record_sets()
                        .hosted_zone_id(zone)
                        .change_batch(
                            ChangeBatch::builder()
                                .set_changes(Some(changes.clone()))
                                .build()
                                .expect("batch"),
                        )
                        .send()
                        .await
                        .expect("batched change");
                }
            }
        })
    };
    let batched = counted(&proxy, || send(&step_batches));
    assert_eq!(
        fleet.snapshot(),
        evacuated,
        "the batched script ends at kong's weights"
    );
    // Back to the original weights (not measured) for the naive way.
    let back: BTreeMap<(String, String), i64> = original
        .records
        .values()
        .flatten()
        .map(|s| {
            (
                (s.name.clone(), s.set_identifier.clone().unwrap_or_default()),
                s.weight.unwrap_or_default(),
            )
        })
        .collect();
    send(&[by_zone(&back)]);
    assert_eq!(fleet.snapshot(), original);

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
        "kong, no rate limit",
        format!("{:.2} s", kong_free.wall.as_secs_f64()),
        &kong_free,
    );
    row(
        "batched script (one change per zone per step), unthrottled",
        format!("{:.2} s", batched.wall.as_secs_f64()),
        &batched,
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
        "kong, no rate limit / batched script: {:.2}x the wall time (target <= 2); calls by operation: {:?}",
        kong_free.wall.as_secs_f64() / batched.wall.as_secs_f64(),
        kong_free.calls
    );
    println!(
        "ratio naive/kong: {:.1}x the API calls; {:.1}x the time at the account's rate ({:.0} s vs {:.1} s)",
        naive.total() as f64 / kong_run.total() as f64,
        naive_at_rate.as_secs_f64() / kong_run.wall.as_secs_f64(),
        naive_at_rate.as_secs_f64(),
        kong_run.wall.as_secs_f64()
    );
}
