//! Shared state in DynamoDB (moto, through the SDK): racing processes, takeover after a kill,
//! fencing of a holder that stalled past its lease, faults between kong and DynamoDB, and
//! drills from two "machines" (other HOME, cwd and state dir; the same table).

pub mod support {
    pub mod fleet;
    pub mod kong;
    pub mod moto;
    pub mod proxy;
}

use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::Value;

use support::fleet::{Fleet, Spec};
use support::kong::{Kong, Output, State, fast_playbook, new_table_name};
use support::moto::moto_serial as moto;
use support::proxy::{Fault, Mode, Proxy, Rules};

/// A short run on the simulator: two step groups per wave, 1 s bakes.
fn sim_playbook() -> String {
    fast_playbook(&[
        ("name", "shared"),
        ("steps", "[50, 100]"),
        ("propagation", "0s"),
        ("on_abort", "pause"),
    ])
}

/// A run on Route 53 (moto) slow enough to be stopped or killed mid-way.
const AWS_PLAYBOOK: &str = "name: shared
steps: [25, 50, 100]
bake: 2s
propagation: 0s
hold: 0s
on_abort: rollback
";

/// The first "machine" on a new table of its own (made by `kong state init`): the
/// simulator's streaming topology and [`sim_playbook`], the state through `endpoint`, a
/// 30 s lease. [`Kong::another_machine`] gives the others on the same table.
fn sim_machine(endpoint: &str) -> Kong {
    Kong::streaming(&sim_playbook()).on(&State::dynamodb(endpoint.to_string()))
}

/// The first "machine" on a new table of its own, on Route 53 (moto) with `fleet`'s
/// topology and [`AWS_PLAYBOOK`], with a lock lease of `lease`.
fn aws_machine(fleet: &Fleet, lease: &'static str) -> Kong {
    let endpoint = moto().url();
    Kong::aws(&fleet.topology, AWS_PLAYBOOK, &endpoint).on(&State::DynamoDb { endpoint, lease })
}

/// The run id a `kong evacuate` prints (`run ID: journal ...`).
fn run_id_of(stdout: &str) -> Option<String> {
    stdout.lines().find_map(|l| {
        l.strip_prefix("run ")
            .and_then(|rest| rest.split_once(": journal"))
            .map(|(id, _)| id.to_string())
    })
}

fn count(records: &[Value], event: &str) -> usize {
    records.iter().filter(|r| r["event"] == event).count()
}

/// Waits until `pred` holds (polling), or panics naming `what`.
fn wait_for(what: &str, timeout: Duration, mut pred: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !pred() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `observer` sees the first run of the table with a step applied; its id.
fn first_step_applied(observer: &Kong) -> String {
    let mut id = None;
    wait_for("the first step applied", Duration::from_secs(60), || {
        id = id.clone().or_else(|| {
            observer
                .runs()
                .first()
                .map(|r| r["id"].as_str().unwrap().to_string())
        });
        id.as_ref()
            .is_some_and(|id| count(&observer.records(id), "step_applied") >= 1)
    });
    id.unwrap()
}

fn signal(child: &Child, sig: i32) {
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill({pid}, {sig})");
}

fn wait(child: Child) -> Output {
    child.wait_with_output().unwrap().into()
}

#[test]
fn state_init_check_and_the_first_line_name_the_table() {
    let name = new_table_name("init");
    let m = Kong::streaming(&sim_playbook()).shared_state(
        &format!("dynamodb://{name}?region=us-east-1"),
        &moto().url(),
        "30s",
    );
    let out = m.run(&["state", "init"]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert!(out.stdout.contains("on-demand"), "{}", out.stdout);
    // init again keeps the table; point-in-time recovery on.
    let out = m.run(&["state", "init", "--point-in-time-recovery"]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert!(
        out.stdout.contains("exists already") && out.stdout.contains("point-in-time recovery on"),
        "{}",
        out.stdout
    );
    let out = m.run(&["state", "check"]);
    assert_eq!(out.code, 0, "{}", out.text());
    for step in ["access", "read", "conditional write"] {
        assert!(
            out.stdout.contains(&format!("ok  {step}")),
            "{}",
            out.stdout
        );
    }
    // The first line names the state beside the backend.
    let out = m.run(&["status"]);
    assert_eq!(out.code, 0, "{}", out.text());
    let first = out.stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("backend: sim")
            && first.contains(&format!("state: dynamodb {name} (us-east-1)")),
        "{first}"
    );
    // A table that does not exist: check fails naming what it needs.
    let missing = Kong::streaming(&sim_playbook()).shared_state(
        "dynamodb://kong-no-such-table?region=us-east-1",
        &moto().url(),
        "30s",
    );
    let out = missing.run(&["state", "check"]);
    assert_eq!(out.code, 1, "{}", out.text());
    assert!(
        out.stderr.contains("dynamodb:DescribeTable"),
        "{}",
        out.text()
    );
    // A bad --state is a bad invocation.
    let bad = Kong::streaming(&sim_playbook())
        .arg("--state")
        .arg("dynamo://x");
    let out = bad.run(&["runs"]);
    assert_eq!(out.code, 2, "{}", out.text());
}

/// The racers' playbook: one step group per wave, then a bake longer than any trial, so the
/// winner still holds the lock when every loser has decided. The test then interrupts it
/// (Ctrl-C: it rolls back to the baseline and exits 4), so a trial lasts as long as the
/// racers take to decide, not a whole evacuation, and the next one starts at the baseline.
const RACE_PLAYBOOK: &str = "name: race
steps: [100]
bake: 10m
propagation: 0s
hold: 0s
on_abort: rollback
";

/// One racing trial: `n` copies of `kong ARGS` on `m` started together. Once all but one
/// have exited and the last one's output shows `ready` (or after a minute), the ones still
/// running get Ctrl-C until they exit. Returns each one's
/// output and when it exited (from the start), in start order; stdout and stderr go to
/// files, so a chatty process never blocks on a full pipe while the others are polled.
fn race(m: &Kong, trial: usize, n: usize, args: &[&str], ready: &str) -> Vec<(Output, Duration)> {
    let started = Instant::now();
    let file = |i: usize, stream: &str| m.path(&format!("race/{trial}-{i}.{stream}"));
    std::fs::create_dir_all(m.path("race")).unwrap();
    let mut racers: Vec<(Child, Option<(i32, Duration)>)> = (0..n)
        .map(|i| {
            let child = m
                .command(args)
                .stdout(std::fs::File::create(file(i, "out")).unwrap())
                .stderr(std::fs::File::create(file(i, "err")).unwrap())
                .spawn()
                .unwrap();
            (child, None)
        })
        .collect();
    let mut interrupted: Option<Instant> = None;
    while racers.iter().any(|(_, exit)| exit.is_none()) {
        for (child, exit) in racers.iter_mut().filter(|(_, e)| e.is_none()) {
            if let Some(status) = child.try_wait().unwrap() {
                *exit = Some((status.code().unwrap_or(-1), started.elapsed()));
            }
        }
        let running: Vec<usize> = (0..n).filter(|&i| racers[i].1.is_none()).collect();
        let last_is_ready = || {
            running.len() == 1
                && std::fs::read_to_string(file(running[0], "out"))
                    .is_ok_and(|out| out.contains(ready))
        };
        // Ctrl-C again every half second until it exits (a press while the run is not yet
        // under way is not counted).
        if (last_is_ready() || started.elapsed() > Duration::from_secs(60))
            && interrupted.is_none_or(|at| at.elapsed() > Duration::from_millis(500))
        {
            for (child, _) in racers.iter().filter(|(_, e)| e.is_none()) {
                signal(child, libc::SIGINT);
            }
            interrupted = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    racers
        .into_iter()
        .enumerate()
        .map(|(i, (_, exit))| {
            let (code, at) = exit.unwrap();
            let read = |stream| std::fs::read_to_string(file(i, stream)).unwrap();
            let output = Output {
                code,
                stdout: read("out"),
                stderr: read("err"),
            };
            (output, at)
        })
        .collect()
}

#[test]
fn ten_racing_evacuations_one_proceeds_nine_exit_3_naming_the_holder_in_20_trials() {
    let m = sim_machine(&moto().url());
    m.write("playbook.yaml", RACE_PLAYBOOK);
    // The simulator's world exists before the race (the losers never write it).
    let baseline = m.weights();
    let started = Instant::now();
    let (mut decided, mut finished) = (Vec::new(), Vec::new());
    for trial in 0..20 {
        // Interrupted once it is baking after its first step.
        let args = ["evacuate", "us-east-1", "--yes"];
        let outs = race(&m, trial, 10, &args, "bake: waiting");
        let all = || {
            outs.iter()
                .map(|(o, _)| o.text())
                .collect::<Vec<_>>()
                .join("\n=====\n")
        };
        let (losers, winners): (Vec<_>, Vec<_>) = outs.iter().partition(|(o, _)| o.code == 3);
        assert_eq!(
            winners.len(),
            1,
            "trial {trial}: exactly one proceeds: {}",
            all()
        );
        let (winner, at) = winners[0];
        let id = run_id_of(&winner.stdout)
            .unwrap_or_else(|| panic!("trial {trial}: the winner names its run: {}", all()));
        // It held the lock until every other had decided: interrupted, it rolled back.
        assert_eq!(winner.code, 4, "trial {trial}: {}", winner.text());
        assert!(winner.stderr.contains("interrupted"), "{}", winner.text());
        for (out, _) in &losers {
            assert!(
                out.stderr.contains(&format!("held by run {id}"))
                    && out.stderr.contains("lease until"),
                "trial {trial}: names the holder: {}",
                out.text()
            );
        }
        decided.push(losers.iter().map(|(_, at)| *at).max().unwrap());
        finished.push(*at);
    }
    let secs = |d: &[Duration]| {
        let s: Vec<f64> = d.iter().map(Duration::as_secs_f64).collect();
        let max = s.iter().copied().fold(0.0, f64::max);
        format!(
            "mean {:.2} s, max {max:.2} s",
            s.iter().sum::<f64>() / s.len() as f64
        )
    };
    eprintln!(
        "20 racing trials of 10 processes in {:.1} s; the 9 losers had decided after {}; \
         the interrupted winner had rolled back after {}",
        started.elapsed().as_secs_f64(),
        secs(&decided),
        secs(&finished)
    );
    let runs = m.runs();
    assert_eq!(runs.len(), 20, "one run per trial");
    assert!(runs.iter().all(|r| r["state"] == "rolled_back"), "{runs:?}");
    assert_eq!(m.weights(), baseline);
}

#[test]
fn two_drills_from_two_machines_on_one_table_one_runs_the_other_exits_3() {
    let a = sim_machine(&moto().url());
    let b = a.another_machine();
    for m in [&a, &b] {
        assert_eq!(m.run(&["status"]).code, 0);
    }
    let args = ["drill", "us-east-1", "--yes", "--hold", "1s"];
    let (oa, ob) = (a.spawn(&args), b.spawn(&args));
    let (oa, ob) = (wait(oa), wait(ob));
    let codes = [oa.code, ob.code];
    assert!(
        codes.contains(&0) && codes.contains(&3),
        "{}\n=====\n{}",
        oa.text(),
        ob.text()
    );
    let ((winner, wm), (loser, lm)) = if oa.code == 0 {
        ((&oa, &a), (&ob, &b))
    } else {
        ((&ob, &b), (&oa, &a))
    };
    let id = run_id_of(&winner.stdout).unwrap();
    assert!(
        loser.stderr.contains(&format!("held by run {id}")),
        "{}",
        loser.stderr
    );
    // The drill report is written to the winner's local state dir, at the path it printed.
    let line = winner
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("drill report: "))
        .unwrap_or_else(|| panic!("{}", winner.stdout));
    let (md, _) = line.split_once(" (HTML: ").unwrap();
    assert_eq!(md, format!("state/runs/{id}/drill-report.md"));
    let report = std::fs::read_to_string(wm.path(md)).unwrap();
    assert!(
        report.starts_with("# kong drill us-east-1: completed"),
        "{report}"
    );
    // Both machines see the drill's two runs in the table.
    for m in [&a, &b] {
        let runs = m.runs();
        assert_eq!(runs.len(), 2, "{runs:?}");
        assert!(runs.iter().all(|r| r["state"] == "completed"), "{runs:?}");
    }
    // The other machine reports the drill (evacuation and restore) from the table; the
    // charts go to its own local state dir, where the report links them.
    let out = lm.run(&["report", &id]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert!(
        out.stdout.contains("## Steps") && out.stdout.contains("restore"),
        "{}",
        out.stdout
    );
    let chart = out
        .stdout
        .split(&format!("state/runs/{id}/report-"))
        .nth(1)
        .and_then(|rest| rest.split(".svg").next())
        .unwrap_or_else(|| panic!("the report links its charts: {}", out.stdout));
    let svg = lm.path(&format!("state/runs/{id}/report-{chart}.svg"));
    assert!(svg.exists(), "{} linked but not written", svg.display());
    let status = lm.status();
    assert!(
        status["active_run"].is_null() && status["lock"].is_null(),
        "{status}"
    );
}

fn small_fleet(tag: &str) -> Fleet {
    Fleet::create(
        &moto().url(),
        tag,
        &Spec {
            zones: 2,
            services: 3,
            per_wave: 3,
            albs: false,
            canary: false,
        },
    )
}

#[test]
fn after_kill_9_the_lock_is_taken_over_only_once_the_lease_expired_then_another_machine_rolls_back_exactly()
 {
    let fleet = small_fleet("kill");
    let baseline = fleet.snapshot();
    let a = aws_machine(&fleet, "4s");
    let b = a.another_machine();

    let mut child = a.spawn(&["evacuate", "us-east-1", "--yes"]);
    // Kill it during the bake after its first step group.
    let id = first_step_applied(&b);
    child.kill().unwrap(); // SIGKILL
    let killed_at = Instant::now();
    let _ = child.wait();
    assert_ne!(fleet.snapshot(), baseline, "the first step moved traffic");

    // The lease is still running: the other machine sees the run and its holder, and is
    // refused, naming the holder.
    let status = b.status();
    assert_eq!(status["active_run"]["id"], id.as_str(), "{status}");
    assert_eq!(status["lock"]["run_id"], id.as_str(), "{status}");
    let out = b.run(&["rollback", &id]);
    assert_eq!(out.code, 3, "{}", out.text());
    assert!(
        out.stderr.contains(&format!("held by run {id}")),
        "{}",
        out.stderr
    );
    assert!(killed_at.elapsed() < Duration::from_secs(4));

    // Once it expired, the other machine takes over and returns to the exact baseline.
    std::thread::sleep(
        Duration::from_secs(4).saturating_sub(killed_at.elapsed()) + Duration::from_millis(500),
    );
    let status = b.status();
    assert_eq!(status["active_run"]["live"], false, "{status}");
    assert!(status["lock"].is_null(), "the lease expired: {status}");
    let out = b.run(&["rollback", &id]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(fleet.snapshot(), baseline, "rollback is exact");
    let records = b.records(&id);
    assert_eq!(records.last().unwrap()["event"], "run_finished");
    assert_eq!(records.last().unwrap()["state"], "rolled_back");
    // The first machine sees the same history.
    assert_eq!(a.runs()[0]["state"], "rolled_back");
}

#[test]
fn a_holder_stopped_past_its_lease_is_fenced_off_after_another_took_over_and_rolled_back() {
    let fleet = small_fleet("fence");
    let baseline = fleet.snapshot();
    let a = aws_machine(&fleet, "3s");
    let b = a.another_machine();

    let child = a.spawn(&["evacuate", "us-east-1", "--yes"]);
    let id = first_step_applied(&b);
    signal(&child, libc::SIGSTOP);
    std::thread::sleep(Duration::from_millis(3500));

    let out = b.run(&["rollback", &id]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(fleet.snapshot(), baseline);
    let before = b.records(&id);

    signal(&child, libc::SIGCONT);
    let out = wait(child);
    assert_eq!(out.code, 5, "{}", out.text());
    assert!(
        out.stderr.contains("lost the lock") && out.stderr.contains(&format!("run {id}")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("kong resume") && out.stderr.contains("kong rollback"));
    // No journal item and no weight change after the wake-up.
    assert_eq!(b.records(&id), before);
    assert_eq!(fleet.snapshot(), baseline);
}

#[test]
fn throttling_and_500s_from_dynamodb_are_waited_out() {
    let direct = sim_machine(&moto().url());
    let proxy = Proxy::start(
        &moto().url(),
        Rules {
            mode: Mode::FirstOccurrence,
            faults: vec![
                Fault::Throttling,
                Fault::PriorRequestNotComplete,
                Fault::ServerError,
            ],
            operations: Vec::new(),
            pending_get_changes: 0,
        },
    );
    let m = direct.another_machine().endpoint(&proxy.url());
    let out = m.run(&["evacuate", "us-east-1", "--yes", "--time-scale", "10"]);
    assert_eq!(out.code, 0, "{}", out.text());
    for op in ["UpdateItem", "TransactWriteItems", "Query"] {
        assert!(proxy.faulted(op) > 0, "no fault was injected into {op}");
    }
    let runs = m.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["state"], "completed");
}

#[test]
fn a_dropped_connection_on_an_intents_write_pauses_the_run_before_the_change() {
    let direct = sim_machine(&moto().url());
    let proxy = Proxy::start(&moto().url(), Rules::default());
    // A machine whose state calls go through the proxy; `direct` reads the same table.
    let m = direct.another_machine().endpoint(&proxy.url());
    let baseline = m.weights();
    let child = m.spawn(&["evacuate", "us-east-1", "--yes"]);
    let id = first_step_applied(&direct);
    proxy.set_rules(Rules {
        mode: Mode::Always,
        faults: vec![Fault::DropBeforeForward],
        operations: vec!["TransactWriteItems:step_intent".to_string()],
        pending_get_changes: 0,
    });
    let after_first = m.weights();
    let out = wait(child);
    assert_eq!(out.code, 5, "{}", out.text());
    assert!(
        out.stderr.contains(&format!("kong resume {id}"))
            && out.stderr.contains(&format!("kong rollback {id}")),
        "{}",
        out.stderr
    );
    assert!(
        proxy.faulted("TransactWriteItems") > 1,
        "retried before giving up"
    );
    // Nothing moved after the intent that could not be written.
    assert_eq!(m.weights(), after_first);
    let records = direct.records(&id);
    assert_eq!(count(&records, "step_intent"), 1, "{records:?}");
    proxy.heal();
    let out = m.run(&["rollback", &id]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(m.weights(), baseline);
}

#[test]
fn export_and_import_move_a_run_between_local_and_shared_state() {
    let m = sim_machine(&moto().url());
    let out = m.run(&["evacuate", "us-east-1", "--yes", "--time-scale", "10"]);
    assert_eq!(out.code, 0, "{}", out.text());
    let id = run_id_of(&out.stdout).unwrap();
    let exported = m.run(&["state", "export", &id]);
    assert_eq!(exported.code, 0, "{}", exported.text());

    // Into a machine on the local state dir (no --state, a topology without `state:`):
    // its journal holds exactly the exported lines.
    let local = Kong::streaming(&sim_playbook());
    local.write("run.jsonl", &exported.stdout);
    m.write("run.jsonl", &exported.stdout);
    let out = local.run(&["state", "import", "run.jsonl"]);
    assert_eq!(out.code, 0, "{}", out.text());
    let journal =
        std::fs::read_to_string(local.path(&format!("state/runs/{id}/journal.jsonl"))).unwrap();
    assert_eq!(journal, exported.stdout);
    // Importing again is refused; so is importing into the table it came from.
    assert_eq!(local.run(&["state", "import", "run.jsonl"]).code, 3);
    assert_eq!(m.run(&["state", "import", "run.jsonl"]).code, 3);
    // A local export reads back identically.
    assert_eq!(local.run(&["state", "export", &id]).stdout, exported.stdout);
}
