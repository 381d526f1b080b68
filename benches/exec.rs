//! The executor's Performance benchmark (issue 3): evacuating a generated 1,000-service
//! topology (3 regions, dependency depth 10) on the in-memory simulator with 20 ms of
//! injected latency per apply call, bake and propagation 0, no checks, on tokio's real clock.
//!
//! `cargo bench --bench exec` prints a table:
//! - wall time of `Executor::run` (best and median of the runs);
//! - the critical-path lower bound: step groups (waves x steps) x 20 ms, i.e. one batched
//!   call per group with all of a group's batches concurrent, and the ratio to it (goal 1.2);
//! - apply calls made vs (batch key, step group) batches in the plan (must be equal);
//! - the naive sequential figure: one call per dial change, one service at a time.
//!
//! Options after `--`: `--services N`, `--depth D`, `--runs R`, `--latency-ms L`,
//! `--read-latency-ms L` (reads and propagation waits; default 0), `--journal-dir DIR` (where
//! the fsynced journal goes; default a temporary directory beside the target dir).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kong::backend::sim::{SimBackend, SimFaults};
use kong::backend::{TrafficBackend, batch_key};
use kong::checks::{SimSource, Sources};
use kong::exec::{ExecOptions, Executor, Outcome, Progress, ProgressEvent, Prompter};
use kong::journal::{Journal, RunHeader, RunJournal, new_run_id};
use kong::model::{Topology, parse_playbook, parse_topology};
use kong::plan::{Operation, Plan, PlanInput, plan};

include!("support/gen.rs");

const PLAYBOOK: &str = "name: bench
steps: [10, 25, 50, 100]
bake: 0s
propagation: 0s
on_abort: rollback
checks: []
guards: false
";

struct Options {
    services: usize,
    depth: usize,
    runs: usize,
    latency: Duration,
    read_latency: Duration,
    journal_dir: Option<PathBuf>,
}

fn options() -> Options {
    let mut o = Options {
        services: 1_000,
        depth: 10,
        runs: 5,
        latency: Duration::from_millis(20),
        read_latency: Duration::ZERO,
        journal_dir: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        let number =
            |v: String| -> u64 { v.parse().unwrap_or_else(|_| panic!("not a number: {v}")) };
        match arg.as_str() {
            "--services" => o.services = number(value()) as usize,
            "--depth" => o.depth = number(value()) as usize,
            "--runs" => o.runs = (number(value()) as usize).max(1),
            "--latency-ms" => o.latency = Duration::from_millis(number(value())),
            "--read-latency-ms" => o.read_latency = Duration::from_millis(number(value())),
            "--journal-dir" => o.journal_dir = Some(PathBuf::from(value())),
            // `cargo bench` passes `--bench`; a name filter may follow.
            _ => {}
        }
    }
    o
}

/// What the plan asks of the provider.
struct Shape {
    waves: usize,
    groups: usize,
    /// (batch key, step group) pairs: the apply calls a perfectly batched run makes.
    batches: usize,
    /// (step, dial) pairs: one call each when applied one dial change at a time.
    dial_changes: usize,
    /// Member weights changed.
    member_changes: usize,
}

fn shape(topology: &Topology, plan: &Plan) -> Shape {
    let mut groups: Vec<(usize, u32)> = Vec::new();
    let mut batches = BTreeSet::new();
    let mut dial_changes = 0;
    let mut member_changes = 0;
    for step in &plan.steps {
        let group = (step.wave, step.percent);
        if groups.last() != Some(&group) {
            groups.push(group);
        }
        let dials: BTreeSet<&str> = step.changes.iter().map(|c| c.dial.as_str()).collect();
        dial_changes += dials.len();
        member_changes += step.changes.len();
        for dial in dials {
            batches.insert((groups.len() - 1, batch_key(topology, dial).to_string()));
        }
    }
    Shape {
        waves: plan.waves.len(),
        groups: groups.len(),
        batches: batches.len(),
        dial_changes,
        member_changes,
    }
}

/// Records when each event arrived, to split the wall time into phases.
#[derive(Default)]
struct Clocked(std::sync::Mutex<Vec<(Instant, ProgressEvent)>>);

impl Progress for Clocked {
    fn event(&self, event: &ProgressEvent) {
        let now = Instant::now();
        if let Ok(mut events) = self.0.lock() {
            events.push((now, event.clone()));
        }
    }
}

/// Where a run's wall time went (sums over the step groups).
#[derive(Default, Clone, Copy)]
struct Phases {
    /// `run` called -> `Started` (pre-flight, `RunStarted` journaled).
    start: Duration,
    /// `StepStarted` -> `Applied`: drift read, intent journaled, batches applied and
    /// waited on, read-back, `StepApplied` journaled.
    apply: Duration,
    /// `Applied` -> `StepDone`: waits (0 here), checks, `StepChecked` journaled.
    settle: Duration,
    /// `StepDone` -> next `StepStarted`, and the last `StepDone` -> `Finished`.
    between: Duration,
}

fn phases(started: Instant, events: &[(Instant, ProgressEvent)]) -> Phases {
    let mut p = Phases::default();
    let mut last = started;
    for (at, event) in events {
        let spent = at.saturating_duration_since(last);
        match event {
            ProgressEvent::Started { .. } => p.start += spent,
            ProgressEvent::Applied { .. } => p.apply += spent,
            ProgressEvent::StepDone { .. } => p.settle += spent,
            ProgressEvent::StepStarted { .. } | ProgressEvent::Finished { .. } => {
                p.between += spent
            }
            _ => continue,
        }
        last = *at;
    }
    p
}

struct No;

#[async_trait::async_trait]
impl Prompter for No {
    async fn confirm(&self, _question: &str) -> bool {
        false
    }
}

struct Measured {
    wall: Duration,
    phases: Phases,
    applies: u64,
    reads: u64,
    waits: u64,
}

/// One evacuation on a fresh simulator; panics unless it completes.
async fn run_once(topology: &Topology, o: &Options, journal_dir: &std::path::Path) -> Measured {
    let playbook = parse_playbook("bench.yaml", PLAYBOOK, Some(topology)).expect("valid playbook");
    let faults = SimFaults {
        api_latency: o.latency,
        read_latency: o.read_latency,
        ..SimFaults::default()
    };
    let backend = Arc::new(SimBackend::in_memory(topology.clone(), faults));
    let observed = backend.weights().await;
    let input = PlanInput {
        topology,
        playbook: &playbook,
        operation: Operation::Evacuate,
        region: "us-east-1",
        observed: &observed,
        restore_to: None,
    };
    let plan = plan(&input).expect("the generated topology plans");
    let sources = Sources::with_sim(SimSource::new(backend.clone()));
    let (_ctrl_c, interrupts) = tokio::sync::watch::channel(0);
    let progress = Clocked::default();
    let executor = Executor {
        topology,
        playbook: &playbook,
        backend: backend.as_ref() as &dyn TrafficBackend,
        scaling: None,
        restore_capacity: &[],
        source: &sources,
        progress: &progress,
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
        topology_path: "generated.yaml".into(),
        playbook_path: "bench.yaml".into(),
        backend: "sim".into(),
        host: "bench".into(),
        pid: std::process::id(),
        started_at: kong::journal::now_rfc3339(),
        dry_run: false,
        operator: None,
        forced: None,
    };
    let mut journal = RunJournal::Local(Journal::create(journal_dir, &id).expect("journal"));
    let started = Instant::now();
    let outcome = executor.run(&plan, header, &mut journal).await;
    let wall = started.elapsed();
    assert_eq!(outcome, Outcome::Completed, "the evacuation completes");
    let stats = backend.stats().await;
    let events = progress.0.into_inner().unwrap_or_default();
    Measured {
        wall,
        phases: phases(started, &events),
        applies: stats.applies,
        reads: stats.reads,
        waits: stats.waits,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let o = options();
    let yaml = generate_layered_topology(o.services, o.depth, 1);
    let topology =
        parse_topology("generated.yaml", &yaml).expect("the generated topology is valid");
    let scratch = match &o.journal_dir {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .expect("a scratch dir for the journals");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The CLI's runtime is current-thread too (src/cli/backend.rs).
    let playbook = parse_playbook("bench.yaml", PLAYBOOK, Some(&topology)).expect("valid playbook");
    let observed =
        rt.block_on(SimBackend::in_memory(topology.clone(), SimFaults::default()).weights());
    let input = PlanInput {
        topology: &topology,
        playbook: &playbook,
        operation: Operation::Evacuate,
        region: "us-east-1",
        observed: &observed,
        restore_to: None,
    };
    let shape = shape(&topology, &plan(&input).expect("plans"));

    // What one injected call really costs on this runtime: tokio's timer has a 1 ms wheel and
    // rounds deadlines up, so a 20 ms sleep takes a little longer.
    let effective = rt.block_on(async {
        let samples = 20u32;
        let started = Instant::now();
        for _ in 0..samples {
            tokio::time::sleep(o.latency).await;
        }
        started.elapsed() / samples
    });

    let mut runs: Vec<Measured> = (0..o.runs)
        .map(|_| rt.block_on(run_once(&topology, &o, scratch.path())))
        .collect();
    runs.sort_by_key(|m| m.wall);
    let best = &runs[0];
    let median = &runs[runs.len() / 2];
    let bound = o.latency * shape.groups as u32;
    let ratio = |d: Duration| d.as_secs_f64() / bound.as_secs_f64();
    let naive = o.latency * shape.dial_changes as u32;

    println!(
        "kong executor bench: {} services, depth {}, 3 regions, evacuate us-east-1, {} per apply, {} per read, bake/propagation 0, no checks, {} runs",
        o.services,
        o.depth,
        ms(o.latency),
        ms(o.read_latency),
        o.runs
    );
    println!("{:<56} {:>12}", "figure", "value");
    let row = |name: &str, value: String| println!("{name:<56} {value:>12}");
    row("waves", shape.waves.to_string());
    row("step groups (waves x steps)", shape.groups.to_string());
    row("critical-path lower bound (groups x latency)", ms(bound));
    row("one injected call, measured (tokio sleep)", ms(effective));
    let effective_bound = effective * shape.groups as u32;
    row("bound at the measured call time", ms(effective_bound));
    row("wall time, best", ms(best.wall));
    row("wall time, median", ms(median.wall));
    row(
        "ratio to the bound, best (goal <= 1.2)",
        format!("{:.3}", ratio(best.wall)),
    );
    row(
        "ratio to the bound, median",
        format!("{:.3}", ratio(median.wall)),
    );
    row(
        "ratio to the bound at the measured call time, median",
        format!(
            "{:.3}",
            median.wall.as_secs_f64() / effective_bound.as_secs_f64()
        ),
    );
    let p = best.phases;
    row("  of which: pre-flight + RunStarted", ms(p.start));
    row(
        "  of which: apply phases (StepStarted..Applied)",
        ms(p.apply),
    );
    row(
        "  of which: settle phases (Applied..StepDone)",
        ms(p.settle),
    );
    row("  of which: between groups", ms(p.between));
    row("apply calls (simulator count)", best.applies.to_string());
    row(
        "(batch key, step group) batches in the plan",
        shape.batches.to_string(),
    );
    row("read calls (drift + read-back)", best.reads.to_string());
    row("wait_propagated calls", best.waits.to_string());
    row("dial changes (step, dial)", shape.dial_changes.to_string());
    row("member weight changes", shape.member_changes.to_string());
    row("naive sequential (dial changes x latency)", ms(naive));
    row(
        "speed-up over naive (best)",
        format!("{:.0}x", naive.as_secs_f64() / best.wall.as_secs_f64()),
    );
    let ok_calls = runs.iter().all(|m| m.applies == shape.batches as u64);
    let ok_ratio = ratio(median.wall) <= 1.2;
    println!(
        "apply calls == batches: {}; median ratio <= 1.2: {}",
        if ok_calls { "yes" } else { "NO" },
        if ok_ratio { "yes" } else { "NO" }
    );
}
