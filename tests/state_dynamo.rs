//! Shared state in DynamoDB (moto, through the SDK): racing processes, takeover after a kill,
//! fencing of a holder that stalled past its lease, faults between kong and DynamoDB, and
//! drills from two "machines" (other HOME, cwd and state dir; the same table).

pub mod support {
    pub mod fleet;
    pub mod moto;
    pub mod proxy;
}

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

use support::fleet::{Fleet, Spec};
use support::moto::moto_serial as moto;
use support::proxy::{Fault, Mode, Proxy, Rules};

/// A short run on the simulator: two step groups per wave, 1 s bakes.
const SIM_PLAYBOOK: &str = "name: shared
steps: [50, 100]
bake: 1s
propagation: 0s
hold: 1s
on_abort: pause
checks:
  - name: destination p99
    source: sim
    metric: p99_latency_ms
    per: destination
    max: 250
";

/// A run on Route 53 (moto) slow enough to be stopped or killed mid-way.
const AWS_PLAYBOOK: &str = "name: shared
steps: [25, 50, 100]
bake: 2s
propagation: 0s
hold: 0s
on_abort: rollback
";

/// A table of its own for each test.
fn table(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "kong-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// One "machine": its own cwd (with the topology and playbook), HOME and state dir, pointed
/// at the shared table.
struct Machine {
    dir: tempfile::TempDir,
    state: String,
    endpoint: String,
    backend: &'static str,
    lease: &'static str,
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

impl Machine {
    fn new(
        topology: &str,
        playbook: &str,
        table: &str,
        endpoint: &str,
        backend: &'static str,
    ) -> Machine {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("topology.yaml"), topology).unwrap();
        std::fs::write(dir.path().join("playbook.yaml"), playbook).unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        for f in ["aws-config", "aws-credentials"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        Machine {
            dir,
            state: format!("dynamodb://{table}?region=us-east-1"),
            endpoint: endpoint.to_string(),
            backend,
            lease: "30s",
        }
    }

    /// The simulator's streaming topology.
    fn sim(table: &str, endpoint: &str) -> Machine {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let topology = std::fs::read_to_string(root.join("topology/streaming.yaml")).unwrap();
        Machine::new(&topology, SIM_PLAYBOOK, table, endpoint, "sim")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("kong").unwrap();
        let home = self.dir.path().join("home");
        cmd.current_dir(self.dir.path())
            .args(args)
            .args(["--topology", "topology.yaml", "--playbook", "playbook.yaml"])
            .args(["--state-dir", "state", "--backend", self.backend])
            .args(["--state", &self.state, "--lock-lease", self.lease])
            .args(["--endpoint-url", &self.endpoint, "--route53-rate", "200"])
            .env("HOME", &home)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_CONFIG_FILE", self.dir.path().join("aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.dir.path().join("aws-credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for var in [
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_ENDPOINT_URL",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "KONG_SIM_FAIL_APPLIES",
            "KONG_SIM_FAILURE_RATE",
            "KONG_SIM_API_LATENCY_MS",
            "KONG_STATE_DIR",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command(args).spawn().unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The run's records, read from the table (`kong state export`).
    fn records(&self, run: &str) -> Vec<Value> {
        let out = self.run(&["state", "export", run]);
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn runs(&self) -> Vec<Value> {
        self.json(&["runs", "--format", "json"])
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Live weights by dial, through `kong status`.
    fn weights(&self) -> BTreeMap<String, Value> {
        self.json(&["status", "--format", "json"])["dials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["dial"].as_str().unwrap().to_string(),
                    d["weights"].clone(),
                )
            })
            .collect()
    }
}

/// Creates the table through `kong state init` and checks it with `kong state check`.
fn init_table(tag: &str, endpoint: &str) -> String {
    let name = table(tag);
    let m = Machine::new("", "", &name, endpoint, "sim");
    let out = m.run(&["state", "init"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("on-demand"), "{stdout}");
    name
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

fn signal(child: &Child, sig: i32) {
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill({pid}, {sig})");
}

#[test]
fn state_init_check_and_the_first_line_name_the_table() {
    let name = init_table("init", &moto().url());
    let m = Machine::sim(&name, &moto().url());
    // init again keeps the table; point-in-time recovery on.
    let out = m.run(&["state", "init", "--point-in-time-recovery"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("exists already") && stdout.contains("point-in-time recovery on"),
        "{stdout}"
    );
    let out = m.run(&["state", "check"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for step in ["access", "read", "conditional write"] {
        assert!(stdout.contains(&format!("ok  {step}")), "{stdout}");
    }
    // The first line names the state beside the backend.
    let out = m.run(&["status"]);
    assert!(out.status.success(), "{}", text(&out));
    let first = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(
        first.starts_with("backend: sim")
            && first.contains(&format!("state: dynamodb {name} (us-east-1)")),
        "{first}"
    );
    // A table that does not exist: check fails naming what it needs.
    let missing = Machine::sim("kong-no-such-table", &moto().url());
    let out = missing.run(&["state", "check"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("dynamodb:DescribeTable"),
        "{}",
        text(&out)
    );
    // A bad --state is a bad invocation.
    let mut bad = Machine::sim(&name, &moto().url());
    bad.state = "dynamo://x".to_string();
    let out = bad.run(&["runs"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn ten_racing_evacuations_one_proceeds_nine_exit_3_naming_the_holder_in_20_trials() {
    let name = init_table("race", &moto().url());
    let started = Instant::now();
    for trial in 0..20 {
        let m = Machine::sim(&name, &moto().url());
        // The simulator's world exists before the race (the losers never write it).
        assert!(m.run(&["status"]).status.success());
        let children: Vec<Child> = (0..10)
            .map(|_| m.spawn(&["evacuate", "us-east-1", "--yes", "--time-scale", "1"]))
            .collect();
        let outs: Vec<Output> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let winners: Vec<&Output> = outs.iter().filter(|o| o.status.success()).collect();
        assert_eq!(
            winners.len(),
            1,
            "trial {trial}: {}",
            outs.iter().map(text).collect::<Vec<_>>().join("\n=====\n")
        );
        let winner = run_id_of(&String::from_utf8_lossy(&winners[0].stdout))
            .expect("the winner names its run");
        for out in outs.iter().filter(|o| !o.status.success()) {
            assert_eq!(out.status.code(), Some(3), "trial {trial}: {}", text(out));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains(&format!("held by run {winner}")) && stderr.contains("lease until"),
                "trial {trial}: names the holder: {stderr}"
            );
        }
    }
    eprintln!(
        "20 racing trials of 10 processes in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn two_drills_from_two_machines_on_one_table_one_runs_the_other_exits_3() {
    let name = init_table("drill", &moto().url());
    let a = Machine::sim(&name, &moto().url());
    let b = Machine::sim(&name, &moto().url());
    for m in [&a, &b] {
        assert!(m.run(&["status"]).status.success());
    }
    let args = ["drill", "us-east-1", "--yes", "--hold", "1s"];
    let (ca, cb) = (a.spawn(&args), b.spawn(&args));
    let (oa, ob) = (
        ca.wait_with_output().unwrap(),
        cb.wait_with_output().unwrap(),
    );
    let codes = [oa.status.code(), ob.status.code()];
    assert!(
        codes.contains(&Some(0)) && codes.contains(&Some(3)),
        "{}\n=====\n{}",
        text(&oa),
        text(&ob)
    );
    let (winner, loser) = if oa.status.success() {
        (&oa, &ob)
    } else {
        (&ob, &oa)
    };
    let id = run_id_of(&String::from_utf8_lossy(&winner.stdout)).unwrap();
    let stderr = String::from_utf8_lossy(&loser.stderr);
    assert!(stderr.contains(&format!("held by run {id}")), "{stderr}");
    // Both machines see the drill's two runs in the table.
    for m in [&a, &b] {
        let runs = m.runs();
        assert_eq!(runs.len(), 2, "{runs:?}");
        assert!(runs.iter().all(|r| r["state"] == "completed"), "{runs:?}");
    }
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
    let name = init_table("kill", &moto().url());
    let fleet = small_fleet("kill");
    let baseline = fleet.snapshot();
    let mut a = Machine::new(&fleet.topology, AWS_PLAYBOOK, &name, &moto().url(), "aws");
    a.lease = "4s";
    let mut b = Machine::new(&fleet.topology, AWS_PLAYBOOK, &name, &moto().url(), "aws");
    b.lease = "4s";

    let mut child = a.spawn(&["evacuate", "us-east-1", "--yes"]);
    // Kill it during the bake after its first step group.
    let mut id = None;
    wait_for("the first step applied", Duration::from_secs(60), || {
        id = id.clone().or_else(|| {
            b.runs()
                .first()
                .map(|r| r["id"].as_str().unwrap().to_string())
        });
        id.as_ref()
            .is_some_and(|id| count(&b.records(id), "step_applied") >= 1)
    });
    let id = id.unwrap();
    child.kill().unwrap(); // SIGKILL
    let killed_at = Instant::now();
    let _ = child.wait();
    assert_ne!(fleet.snapshot(), baseline, "the first step moved traffic");

    // The lease is still running: the other machine is refused, naming the holder.
    let out = b.run(&["rollback", &id]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("held by run {id}")), "{stderr}");
    assert!(killed_at.elapsed() < Duration::from_secs(4));

    // Once it expired, the other machine takes over and returns to the exact baseline.
    std::thread::sleep(
        Duration::from_secs(4).saturating_sub(killed_at.elapsed()) + Duration::from_millis(500),
    );
    let out = b.run(&["rollback", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(fleet.snapshot(), baseline, "rollback is exact");
    let records = b.records(&id);
    assert_eq!(records.last().unwrap()["event"], "run_finished");
    assert_eq!(records.last().unwrap()["state"], "rolled_back");
    // The first machine sees the same history.
    assert_eq!(a.runs()[0]["state"], "rolled_back");
}

#[test]
fn a_holder_stopped_past_its_lease_is_fenced_off_after_another_took_over_and_rolled_back() {
    let name = init_table("fence", &moto().url());
    let fleet = small_fleet("fence");
    let baseline = fleet.snapshot();
    let mut a = Machine::new(&fleet.topology, AWS_PLAYBOOK, &name, &moto().url(), "aws");
    a.lease = "3s";
    let mut b = Machine::new(&fleet.topology, AWS_PLAYBOOK, &name, &moto().url(), "aws");
    b.lease = "3s";

    let child = a.spawn(&["evacuate", "us-east-1", "--yes"]);
    let mut id = None;
    wait_for("the first step applied", Duration::from_secs(60), || {
        id = id.clone().or_else(|| {
            b.runs()
                .first()
                .map(|r| r["id"].as_str().unwrap().to_string())
        });
        id.as_ref()
            .is_some_and(|id| count(&b.records(id), "step_applied") >= 1)
    });
    let id = id.unwrap();
    signal(&child, libc::SIGSTOP);
    std::thread::sleep(Duration::from_millis(3500));

    let out = b.run(&["rollback", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(fleet.snapshot(), baseline);
    let before = b.records(&id);

    signal(&child, libc::SIGCONT);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("lost the lock") && stderr.contains(&format!("run {id}")),
        "{stderr}"
    );
    assert!(stderr.contains("kong resume") && stderr.contains("kong rollback"));
    // No journal item and no weight change after the wake-up.
    assert_eq!(b.records(&id), before);
    assert_eq!(fleet.snapshot(), baseline);
}

#[test]
fn throttling_and_500s_from_dynamodb_are_waited_out() {
    let name = init_table("throttle", &moto().url());
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
    let m = Machine::sim(&name, &proxy.url());
    let out = m.run(&["evacuate", "us-east-1", "--yes", "--time-scale", "10"]);
    assert!(out.status.success(), "{}", text(&out));
    for op in ["UpdateItem", "TransactWriteItems", "Query"] {
        assert!(proxy.faulted(op) > 0, "no fault was injected into {op}");
    }
    let runs = m.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["state"], "completed");
}

#[test]
fn a_dropped_connection_on_an_intents_write_pauses_the_run_before_the_change() {
    let name = init_table("drop", &moto().url());
    let proxy = Proxy::start(&moto().url(), Rules::default());
    let m = Machine::sim(&name, &proxy.url());
    let direct = Machine::sim(&name, &moto().url());
    let baseline = m.weights();
    let child = m.spawn(&["evacuate", "us-east-1", "--yes"]);
    let mut id = None;
    wait_for("the first step applied", Duration::from_secs(60), || {
        id = id.clone().or_else(|| {
            direct
                .runs()
                .first()
                .map(|r| r["id"].as_str().unwrap().to_string())
        });
        id.as_ref()
            .is_some_and(|id| count(&direct.records(id), "step_applied") >= 1)
    });
    let id = id.unwrap();
    proxy.set_rules(Rules {
        mode: Mode::Always,
        faults: vec![Fault::DropBeforeForward],
        operations: vec!["TransactWriteItems:step_intent".to_string()],
        pending_get_changes: 0,
    });
    let after_first = m.weights();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("kong resume {id}"))
            && stderr.contains(&format!("kong rollback {id}")),
        "{stderr}"
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
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(m.weights(), baseline);
}

#[test]
fn export_and_import_move_a_run_between_local_and_shared_state() {
    let name = init_table("move", &moto().url());
    let m = Machine::sim(&name, &moto().url());
    let out = m.run(&["evacuate", "us-east-1", "--yes", "--time-scale", "10"]);
    assert!(out.status.success(), "{}", text(&out));
    let id = run_id_of(&String::from_utf8_lossy(&out.stdout)).unwrap();
    let exported = m.run(&["state", "export", &id]);
    assert!(exported.status.success(), "{}", text(&exported));
    std::fs::write(m.dir.path().join("run.jsonl"), &exported.stdout).unwrap();

    // Into the local state dir (no --state, a topology without `state:`): the local journal
    // holds exactly the exported lines.
    let local = |args: &[&str]| {
        let mut cmd = Command::cargo_bin("kong").unwrap();
        cmd.current_dir(m.dir.path()).args(args).args([
            "--topology",
            "topology.yaml",
            "--state-dir",
            "local",
        ]);
        cmd.output().unwrap()
    };
    let out = local(&["state", "import", "run.jsonl"]);
    assert!(out.status.success(), "{}", text(&out));
    let journal = std::fs::read(
        m.dir
            .path()
            .join("local/runs")
            .join(&id)
            .join("journal.jsonl"),
    )
    .unwrap();
    assert_eq!(journal, exported.stdout);
    // Importing again is refused; so is importing into the table it came from.
    assert_eq!(
        local(&["state", "import", "run.jsonl"]).status.code(),
        Some(3)
    );
    assert_eq!(
        m.run(&["state", "import", "run.jsonl"]).status.code(),
        Some(3)
    );
    // A local export reads back identically.
    assert_eq!(local(&["state", "export", &id]).stdout, exported.stdout);
}
