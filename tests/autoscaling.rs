//! Capacity from Auto Scaling and pre-scaling, end to end on moto through the `kong`
//! binary (`--backend aws --endpoint-url`): groups and launch configurations are created and
//! read back through the Auto Scaling SDK, weights through Route 53.
//!
//! The fixture: service `svc00` (a weighted record set, load 100/60/40 req/s in us-east-1 /
//! us-west-2 / eu-west-1) bound in every region to a group of 20 req/s instances, sized for
//! its own load under max_utilization 0.75: desired capacity 7 / 4 / 3. Evacuating us-east-1
//! moves 100 req/s onto the other two, which their in-service instances could not take
//! (80 and 60 req/s allowed): only pre-scaling makes the evacuation possible. moto brings instances
//! `InService` as soon as the desired capacity is set, so the wait for instances passes at
//! its first look; the wait and its timeout are covered on the simulator
//! (`src/exec/tests/prescale.rs`).

pub mod support {
    pub mod fleet;
    pub mod kong;
    pub mod moto;
}

use std::collections::BTreeMap;

use aws_sdk_autoscaling as autoscaling;
use serde_json::Value;
use support::fleet::{Fleet, Snapshot, Spec, runtime, sdk};
use support::kong::Kong;
use support::moto::moto;

const REGIONS: [&str; 3] = ["us-east-1", "us-west-2", "eu-west-1"];
const PER_INSTANCE: f64 = 20.0;
/// Desired capacity of each group at the start, in the order of [`REGIONS`].
const DESIRED: [i32; 3] = [7, 4, 3];

fn playbook(check: &str) -> String {
    format!(
        "name: prescale
steps: [25, 50, 100]
bake: 0s
propagation: 0s
on_abort: rollback
prescale: {{timeout: 1m}}
{check}"
    )
}

/// A fleet of one service (and the simulator canary when `canary`) whose every region is
/// bound to a group `TAG-REGION` at its [`DESIRED`] capacity; the destinations' max size is
/// `max` (us-east-1's 10).
struct Groups {
    fleet: Fleet,
    tag: String,
    topology: String,
}

impl Groups {
    fn create(tag: &str, max: i32, canary: bool) -> Groups {
        let spec = Spec {
            zones: 1,
            services: 1,
            per_wave: 1,
            albs: false,
            canary,
        };
        let fleet = Fleet::create(&moto().url(), tag, &spec);
        runtime().block_on(async {
            for (i, region) in REGIONS.into_iter().enumerate() {
                let client = autoscaling::Client::new(&sdk(&moto().url(), region).await);
                let max = if i == 0 { 10 } else { max };
                let config = format!("{tag}-lc");
                client
                    .create_launch_configuration()
                    .launch_configuration_name(&config)
                    .image_id("ami-12c6146b")
                    .instance_type("t2.micro")
                    .send()
                    .await
                    .expect("create launch configuration");
                client
                    .create_auto_scaling_group()
                    .auto_scaling_group_name(format!("{tag}-{region}"))
                    .launch_configuration_name(&config)
                    .min_size(1)
                    .max_size(max)
                    .desired_capacity(DESIRED[i])
                    .availability_zones(format!("{region}a"))
                    .send()
                    .await
                    .expect("create auto scaling group");
            }
        });
        let mut binding = String::from("    autoscaling:\n");
        for region in REGIONS {
            binding.push_str(&format!(
                "      {region}: {{group: {tag}-{region}, per_instance: {PER_INSTANCE}}}\n"
            ));
        }
        let topology = fleet
            .topology
            .replacen("  svc00:\n", &format!("  svc00:\n{binding}"), 1);
        Groups {
            fleet,
            tag: tag.to_string(),
            topology,
        }
    }

    /// Desired capacity and in-service instances of each group, by region, read through the
    /// SDK.
    fn sizes(&self) -> BTreeMap<String, (i32, usize)> {
        runtime().block_on(async {
            let mut out = BTreeMap::new();
            for region in REGIONS {
                let client = autoscaling::Client::new(&sdk(&moto().url(), region).await);
                let groups = client
                    .describe_auto_scaling_groups()
                    .auto_scaling_group_names(format!("{}-{region}", self.tag))
                    .send()
                    .await
                    .expect("describe auto scaling groups");
                let group = &groups.auto_scaling_groups()[0];
                let in_service = group
                    .instances()
                    .iter()
                    .filter(|i| {
                        i.lifecycle_state() == Some(&autoscaling::types::LifecycleState::InService)
                    })
                    .count();
                out.insert(
                    region.to_string(),
                    (group.desired_capacity().unwrap_or(-1), in_service),
                );
            }
            out
        })
    }

    fn original_sizes() -> BTreeMap<String, (i32, usize)> {
        REGIONS
            .iter()
            .zip(DESIRED)
            .map(|(r, d)| (r.to_string(), (d, d as usize)))
            .collect()
    }

    fn snapshot(&self) -> Snapshot {
        self.fleet.snapshot()
    }
}

/// The `event` of every record of the journal of run `id`, in order.
fn journal_events(kong: &Kong, id: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(
        kong.path("state")
            .join("runs")
            .join(id)
            .join("journal.jsonl"),
    )
    .expect("journal");
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("journal line"))
        .collect()
}

fn last_run(kong: &Kong) -> String {
    let runs = kong.runs();
    runs.last().expect("a run")["id"]
        .as_str()
        .expect("run id")
        .to_string()
}

fn position(events: &[Value], event: &str) -> Option<usize> {
    events.iter().position(|e| e["event"] == event)
}

#[test]
fn evacuation_prescales_before_the_first_weight_change_and_restore_returns_the_groups() {
    let groups = Groups::create("asg-ok", 10, false);
    let original = groups.snapshot();
    let kong = Kong::aws(&groups.topology, &playbook(""), &moto().url());

    // The plan counts on what the groups can reach: max size x per_instance.
    let plan = kong.plan("evacuate", "us-east-1");
    let rows = plan["preflight"].as_array().expect("preflight rows");
    assert!(!rows.is_empty(), "{plan}");
    for row in rows {
        assert_eq!(row["capacity_source"], "autoscaling", "{row}");
        assert_eq!(row["capacity"], 200.0, "{row}");
    }

    let out = kong.run(&["evacuate", "us-east-1", "--yes"]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert!(
        out.stdout.contains("prescale: setting desired capacity"),
        "{}",
        out.text()
    );
    groups.fleet.assert_evacuated(&original, "us-east-1");

    // Each destination raised to ceil(projected load / (20 x 0.75)), the evacuated region
    // left alone; every instance in service.
    let sizes = groups.sizes();
    assert_eq!(sizes["us-east-1"], (DESIRED[0], DESIRED[0] as usize));
    let original_sizes = Groups::original_sizes();
    for row in rows {
        let region = row["region"].as_str().expect("region");
        let load = row["projected_load"].as_f64().expect("load");
        let needed = (load / (PER_INSTANCE * 0.75) - 1e-9).ceil() as i32;
        assert!(needed > original_sizes[region].0, "{row}");
        assert_eq!(sizes[region], (needed, needed as usize), "{region}: {row}");
    }

    // Journaled before the first weight change: intent, instances in service, then steps.
    let id = last_run(&kong);
    let events = journal_events(&kong, &id);
    let intent = position(&events, "prescale_intent").expect("prescale_intent");
    let done = position(&events, "prescale_done").expect("prescale_done");
    let first_step = position(&events, "step_intent").expect("step_intent");
    assert!(intent < done && done < first_step, "{events:#?}");
    let raised = events[intent]["groups"].as_array().expect("groups");
    assert_eq!(raised.len(), 2, "{raised:?}");
    for g in raised {
        let region = g["region"].as_str().expect("region");
        assert_eq!(g["from"], original_sizes[region].0, "{g}");
    }

    let out = kong.run(&["restore", "us-east-1", "--yes"]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(groups.snapshot(), original, "weights back at the baseline");
    assert_eq!(
        groups.sizes(),
        Groups::original_sizes(),
        "groups back at their original desired capacity"
    );
    let events = journal_events(&kong, &last_run(&kong));
    let restored = position(&events, "capacity_restore_intent").expect("capacity_restore_intent");
    let last_step = events
        .iter()
        .rposition(|e| e["event"] == "step_applied")
        .expect("step_applied");
    assert!(
        last_step < restored,
        "capacity is lowered after traffic is back: {events:#?}"
    );
}

#[test]
fn failing_check_after_the_first_step_returns_weights_and_desired_capacity_with_exit_4() {
    // The canary moves with svc00; its destinations pass 25% utilization at the first step.
    let check = "checks:
  - name: canary destination utilization
    source: sim
    metric: utilization
    service: canary
    per: destination
    max: 0.25
";
    let groups = Groups::create("asg-chk", 10, true);
    let original = groups.snapshot();
    let kong = Kong::aws(&groups.topology, &playbook(check), &moto().url());

    let out = kong.run(&["evacuate", "us-east-1", "--yes"]);
    assert_eq!(out.code, 4, "{}", out.text());
    assert!(out.stdout.contains("step 1 applied"), "{}", out.text());
    assert_eq!(groups.snapshot(), original, "weights back at the baseline");
    assert_eq!(
        groups.sizes(),
        Groups::original_sizes(),
        "groups back at their original desired capacity"
    );
    let events = journal_events(&kong, &last_run(&kong));
    let weights_back = position(&events, "rollback_intent").expect("rollback_intent");
    let capacity_back = position(&events, "capacity_restored").expect("capacity_restored");
    assert!(weights_back < capacity_back, "{events:#?}");
}

#[test]
fn max_size_too_small_refuses_with_exit_3_and_changes_nothing() {
    // 5 instances x 20 req/s x 0.75 = 75 req/s allowed per destination; 200 req/s to place.
    let groups = Groups::create("asg-small", 5, false);
    let original = groups.snapshot();
    let kong = Kong::aws(&groups.topology, &playbook(""), &moto().url());

    let out = kong.run(&["evacuate", "us-east-1", "--yes"]);
    assert_eq!(out.code, 3, "{}", out.text());
    assert!(
        out.text().contains("svc00 in us-west-2") && out.text().contains("max size 5 x 20 req/s"),
        "{}",
        out.text()
    );
    assert_eq!(groups.snapshot(), original, "no weight changed");
    assert_eq!(groups.sizes(), Groups::original_sizes(), "no group changed");
}

#[test]
fn a_group_missing_in_its_region_refuses_naming_it() {
    let groups = Groups::create("asg-gone", 10, false);
    let topology = groups
        .topology
        .replace("group: asg-gone-us-west-2", "group: asg-nope");
    let kong = Kong::aws(&topology, &playbook(""), &moto().url());
    let out = kong.run(&["evacuate", "us-east-1", "--yes"]);
    assert_eq!(out.code, 3, "{}", out.text());
    assert!(
        out.stderr
            .contains("Auto Scaling group asg-nope does not exist in us-west-2"),
        "{}",
        out.text()
    );
    assert_eq!(groups.sizes(), Groups::original_sizes());
}

/// The example topology on the simulator with `web` bound to groups of 600 req/s instances
/// and only 6000 req/s (10 instances, max size 20) in us-west-2 and eu-west-1.
fn sim_world(prescale: bool) -> Kong {
    let topology = support::kong::STREAMING;
    let web = "    capacity: {us-east-1: 10800, us-west-2: 9600, eu-west-1: 8400}\n";
    assert!(topology.contains(web), "the example's web capacity changed");
    let topology = topology.replacen(
        web,
        "    capacity: {us-east-1: 10800, us-west-2: 6000, eu-west-1: 6000}
    autoscaling:
      us-east-1: {group: web-use1, per_instance: 600}
      us-west-2: {group: web-usw2, per_instance: 600}
      eu-west-1: {group: web-euw1, per_instance: 600}
",
        1,
    );
    let playbook = format!(
        "name: sim
steps: [50, 100]
bake: 0s
propagation: 0s
{}checks:
  - name: web utilization
    source: sim
    metric: utilization
    service: web
    per: destination
    max: 0.75
",
        if prescale { "prescale: true\n" } else { "" }
    );
    Kong::new(&topology, &playbook).backend("sim")
}

/// `region/group` -> (desired, in service) in the simulator's world file.
fn sim_groups(kong: &Kong) -> BTreeMap<String, (u64, u64)> {
    let text =
        std::fs::read_to_string(kong.path("state/sim/streaming.json")).expect("simulator world");
    let world: Value = serde_json::from_str(&text).expect("world JSON");
    world["groups"]
        .as_object()
        .expect("groups")
        .iter()
        .map(|(k, g)| {
            (
                k.clone(),
                (
                    g["desired"].as_u64().expect("desired"),
                    g["in_service"].as_u64().expect("in_service"),
                ),
            )
        })
        .collect()
}

#[test]
fn on_the_simulator_prescale_makes_an_evacuation_possible_and_restore_shrinks_back() {
    // Without pre-scaling, the destinations' 10 instances cannot take us-east-1's traffic.
    let kong = sim_world(false);
    let out = kong.run(&["evacuate", "us-east-1", "--yes"]);
    assert_eq!(out.code, 3, "{}", out.text());
    assert!(out.stderr.contains("web in "), "{}", out.text());

    let kong = sim_world(true);
    let out = kong.run(&["evacuate", "us-east-1", "--yes"]);
    assert_eq!(out.code, 0, "{}", out.text());
    let report = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("report: "))
        .and_then(|l| l.split(" (HTML: ").next())
        .expect("a report line");
    let report = std::fs::read_to_string(kong.path(report)).expect("report");
    assert!(report.contains("prescale"), "{report}");
    let raised = sim_groups(&kong);
    assert_eq!(raised["us-east-1/web-use1"], (18, 18), "{raised:?}");
    for key in ["us-west-2/web-usw2", "eu-west-1/web-euw1"] {
        let (desired, in_service) = raised[key];
        assert!(desired > 10 && desired <= 20, "{key}: {raised:?}");
        assert_eq!(in_service, desired, "{key}");
    }

    let out = kong.run(&["restore", "us-east-1", "--yes"]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert!(
        out.stdout.contains("capacity restored: 2 groups"),
        "{}",
        out.text()
    );
    let back = sim_groups(&kong);
    assert_eq!(back["us-west-2/web-usw2"], (10, 10), "{back:?}");
    assert_eq!(back["eu-west-1/web-euw1"], (10, 10), "{back:?}");
    assert_eq!(back["us-east-1/web-use1"], (18, 18), "{back:?}");
}

#[test]
fn kill_9_while_waiting_for_instances_then_rollback_returns_the_groups() {
    let kong = sim_world(true);
    // Instances take an hour: the run waits for them until it is killed.
    let mut child = kong
        .command(&["evacuate", "us-east-1", "--yes"])
        .env("KONG_SIM_IN_SERVICE_DELAY_MS", "3600000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn kong");
    let runs = kong.path("state/runs");
    let journal = loop {
        let found = std::fs::read_dir(&runs).ok().and_then(|entries| {
            entries
                .flatten()
                .map(|e| e.path().join("journal.jsonl"))
                .find(|p| {
                    std::fs::read_to_string(p).is_ok_and(|t| t.contains("\"prescale_intent\""))
                })
        });
        if let Some(path) = found {
            break path;
        }
        assert!(
            child.try_wait().expect("poll kong").is_none(),
            "kong ended before its prescale intent"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    // The intent is journaled before any group is set: wait until the world shows one.
    let raised_one = |groups: &BTreeMap<String, (u64, u64)>| {
        ["us-west-2/web-usw2", "eu-west-1/web-euw1"]
            .iter()
            .any(|k| groups.get(*k).is_some_and(|g| g.0 > 10))
    };
    while !raised_one(&sim_groups_or_initial(&kong)) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().expect("kill -9");
    child.wait().expect("reap kong");
    // Killed after the first group was set, maybe before the second: either way the
    // journaled intent names both.
    let raised = sim_groups(&kong);
    assert!(raised_one(&raised), "{raised:?}");
    let text = std::fs::read_to_string(&journal).expect("journal");
    assert!(!text.contains("step_intent"), "no weight was changed yet");

    let id = journal
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .expect("run id")
        .to_string();
    let out = kong.run(&["rollback", &id]);
    assert_eq!(out.code, 0, "{}", out.text());
    let back = sim_groups(&kong);
    assert_eq!(back["us-west-2/web-usw2"], (10, 10), "{back:?}");
    assert_eq!(back["eu-west-1/web-euw1"], (10, 10), "{back:?}");
    let status = kong.status();
    assert_eq!(status["active_run"], Value::Null, "{status}");
}

/// [`sim_groups`], or nothing while the world file is not written yet.
fn sim_groups_or_initial(kong: &Kong) -> BTreeMap<String, (u64, u64)> {
    if kong.path("state/sim/streaming.json").exists() {
        sim_groups(kong)
    } else {
        BTreeMap::new()
    }
}

#[test]
fn restore_after_traffic_came_back_by_hand_still_returns_the_raised_groups() {
    let kong = sim_world(true);
    let world_path = kong.path("state/sim/streaming.json");
    let out = kong.run(&["evacuate", "us-east-1", "--yes"]);
    assert_eq!(out.code, 0, "{}", out.text());
    let evacuation = last_sim_run(&kong);
    // An operator puts every weight back by hand (the journal's baseline): traffic is home,
    // but the destination groups are still raised.
    let baseline = sim_run_baseline(&kong, &evacuation);
    let mut world: Value =
        serde_json::from_str(&std::fs::read_to_string(&world_path).expect("world")).expect("JSON");
    world["weights"] = baseline;
    std::fs::write(&world_path, world.to_string()).expect("write world");
    let raised = sim_groups(&kong);
    assert!(raised["us-west-2/web-usw2"].0 > 10, "{raised:?}");

    let out = kong.run(&["restore", "us-east-1", "--yes"]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert!(
        out.stdout.contains("returning 2 Auto Scaling group(s)"),
        "{}",
        out.text()
    );
    let back = sim_groups(&kong);
    assert_eq!(back["us-west-2/web-usw2"], (10, 10), "{back:?}");
    assert_eq!(back["eu-west-1/web-euw1"], (10, 10), "{back:?}");

    // Once they are back there is nothing left to do, and no run is made.
    let out = kong.run(&["restore", "us-east-1", "--yes"]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert!(out.stdout.contains("nothing to do"), "{}", out.text());
}

/// The id of the newest run in the simulator test's state dir.
fn last_sim_run(kong: &Kong) -> String {
    kong.journals().pop().expect("a run").0
}

/// The baseline weights `run_started` journaled for `run`.
fn sim_run_baseline(kong: &Kong, run: &str) -> Value {
    let (_, journal) = kong
        .journals()
        .into_iter()
        .find(|(id, _)| id == run)
        .expect("the run's journal");
    journal
        .into_iter()
        .find(|r| r["event"] == "run_started")
        .expect("run_started")["baseline"]
        .clone()
}
