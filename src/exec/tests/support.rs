//! Test doubles for the engine: an in-memory backend, a fault-injecting decorator, a
//! scripted metric source, collectors for progress and journal records, and a small
//! topology with every dial kind (route53 sharing a hosted zone, alb listener, sim) built
//! with the crate's fixture builders (`crate::testing`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::backend::scaling::{GroupRef, GroupState, ScalingBackend};
use crate::backend::sim::SimBackend;
use crate::backend::{BackendError, Batch, Receipt, TrafficBackend};
use crate::checks::{MetricSource, Scope, SourceError};
use crate::exec::{ExecOptions, Executor, Outcome, Progress, ProgressEvent, Prompter, Sink};
use crate::journal::{CapacityChange, Record, RunHeader, RunLog};
use crate::model::{
    Abort, AbortKind, Check, CheckSource, Dial, Per, Playbook, SimMetric, Threshold, Topology,
};
use crate::plan::{self, Operation, Plan, PlanInput, Weights};
use crate::testing::{self, E, EU, THREE, W, route53_in};

/// A shared timeline of what happened, in order (`step N`, `apply KEY`), to count calls per
/// step group.
pub type Timeline = Arc<Mutex<Vec<String>>>;

/// Dials in memory; every call logged on the timeline.
pub struct MemBackend {
    pub weights: Mutex<Weights>,
    pub timeline: Timeline,
}

impl MemBackend {
    pub fn new(weights: Weights, timeline: Timeline) -> MemBackend {
        MemBackend {
            weights: Mutex::new(weights),
            timeline,
        }
    }

    pub fn snapshot(&self) -> Weights {
        self.weights.lock().unwrap().clone()
    }

    pub fn set(&self, dial: &str, member: &str, weight: u32) {
        let mut weights = self.weights.lock().unwrap();
        weights
            .get_mut(dial)
            .unwrap()
            .insert(member.to_string(), weight);
    }
}

#[async_trait]
impl TrafficBackend for MemBackend {
    fn name(&self) -> &'static str {
        "mem"
    }

    async fn read(&self, dials: &[String]) -> Result<Weights, BackendError> {
        let weights = self.weights.lock().unwrap();
        dials
            .iter()
            .map(|d| {
                weights
                    .get(d)
                    .map(|w| (d.clone(), w.clone()))
                    .ok_or_else(|| BackendError::Permanent {
                        operation: "read".into(),
                        target: d.clone(),
                        message: "no such dial".into(),
                    })
            })
            .collect()
    }

    async fn apply(&self, batch: &Batch) -> Result<Receipt, BackendError> {
        self.timeline
            .lock()
            .unwrap()
            .push(format!("apply {}", batch.key));
        let mut weights = self.weights.lock().unwrap();
        for (dial, w) in &batch.weights {
            weights.insert(dial.clone(), w.clone());
        }
        Ok(Receipt {
            key: batch.key.clone(),
            change_id: None,
        })
    }

    async fn wait_propagated(&self, _receipt: &Receipt) -> Result<(), BackendError> {
        Ok(())
    }
}

/// What the fault plan does to one apply call (numbered from 1, failed calls included).
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Pass the call through.
    None,
    /// Fail transiently without applying.
    Transient,
    /// Fail permanently without applying.
    Permanent,
    /// Apply, then another actor sets `dial` `member` to `weight`.
    TamperAfter(String, String, u32),
}

type FaultPlan = Box<dyn Fn(usize, &Batch) -> Fault + Send + Sync>;

/// Decorates a backend with faults chosen per apply call.
pub struct FaultyBackend<B> {
    pub inner: B,
    pub applies: AtomicUsize,
    /// Time every apply takes (tokio's clock).
    pub latency: Mutex<Duration>,
    plan: Mutex<FaultPlan>,
}

impl<B: TrafficBackend> FaultyBackend<B> {
    pub fn new(inner: B) -> FaultyBackend<B> {
        FaultyBackend {
            inner,
            applies: AtomicUsize::new(0),
            latency: Mutex::new(Duration::ZERO),
            plan: Mutex::new(Box::new(|_, _| Fault::None)),
        }
    }

    /// Replaces the fault plan (e.g. between a run and its rollback).
    pub fn faults(&self, plan: impl Fn(usize, &Batch) -> Fault + Send + Sync + 'static) {
        *self.plan.lock().unwrap() = Box::new(plan);
    }

    /// Injects `fault` into the apply calls for which `when(call, batch)` holds.
    pub fn fault_when(
        &self,
        fault: Fault,
        when: impl Fn(usize, &Batch) -> bool + Send + Sync + 'static,
    ) {
        self.faults(move |n, batch| {
            if when(n, batch) {
                fault.clone()
            } else {
                Fault::None
            }
        });
    }
}

fn error(transient: bool, batch: &Batch) -> BackendError {
    let (operation, target, message) = (
        "apply".to_string(),
        batch.key.to_string(),
        "injected".to_string(),
    );
    if transient {
        BackendError::Transient {
            operation,
            target,
            message,
        }
    } else {
        BackendError::Permanent {
            operation,
            target,
            message,
        }
    }
}

#[async_trait]
impl TrafficBackend for FaultyBackend<MemBackend> {
    fn name(&self) -> &'static str {
        "faulty"
    }

    async fn read(&self, dials: &[String]) -> Result<Weights, BackendError> {
        self.inner.read(dials).await
    }

    async fn apply(&self, batch: &Batch) -> Result<Receipt, BackendError> {
        let n = self.applies.fetch_add(1, Ordering::SeqCst) + 1;
        let fault = (self.plan.lock().unwrap())(n, batch);
        let latency = *self.latency.lock().unwrap();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        match fault {
            Fault::None => self.inner.apply(batch).await,
            Fault::Transient => Err(error(true, batch)),
            Fault::Permanent => Err(error(false, batch)),
            Fault::TamperAfter(dial, member, weight) => {
                let receipt = self.inner.apply(batch).await?;
                self.inner.set(&dial, &member, weight);
                Ok(receipt)
            }
        }
    }

    async fn wait_propagated(&self, receipt: &Receipt) -> Result<(), BackendError> {
        self.inner.wait_propagated(receipt).await
    }
}

type Script = Box<dyn Fn(usize, &Check, Option<&str>) -> Option<f64> + Send + Sync>;
type Hook = Box<dyn FnMut(&ProgressEvent) + Send>;

/// A metric source whose value depends on how many fetches were made: fetch `n` (from 0)
/// returns `value(n)`, `None` meaning "source down".
pub struct ScriptedSource {
    pub fetches: AtomicUsize,
    script: Script,
    pub log: Mutex<Vec<(String, Option<String>)>>,
}

impl ScriptedSource {
    pub fn new(
        script: impl Fn(usize, &Check, Option<&str>) -> Option<f64> + Send + Sync + 'static,
    ) -> ScriptedSource {
        ScriptedSource {
            fetches: AtomicUsize::new(0),
            script: Box::new(script),
            log: Mutex::new(Vec::new()),
        }
    }

    /// Always healthy.
    pub fn healthy() -> ScriptedSource {
        ScriptedSource::new(|_, _, _| Some(1.0))
    }

    /// With the one global check of [`playbook`]: fetch 0 is before the run, fetch k+1 the
    /// check of step group k; group `k` fails (value 100 > max 5).
    pub fn failing_at_group(k: usize) -> ScriptedSource {
        ScriptedSource::new(move |n, _, _| Some(if n == k + 1 { 100.0 } else { 1.0 }))
    }
}

#[async_trait]
impl MetricSource for ScriptedSource {
    async fn fetch(&self, check: &Check, scope: &Scope<'_>) -> Result<f64, SourceError> {
        let region = scope.region;
        let n = self.fetches.fetch_add(1, Ordering::SeqCst);
        self.log
            .lock()
            .unwrap()
            .push((check.name.clone(), region.map(str::to_string)));
        (self.script)(n, check, region).ok_or_else(|| SourceError::new("source down"))
    }
}

/// Collects events; `StepStarted` also goes on the timeline.
#[derive(Default)]
pub struct Collector {
    pub events: Mutex<Vec<ProgressEvent>>,
    /// When each event came (tokio's clock).
    pub times: Mutex<Vec<tokio::time::Instant>>,
    pub timeline: Timeline,
    /// Called on every event (e.g. to press Ctrl-C at a chosen moment).
    pub on_event: Mutex<Option<Hook>>,
}

impl Collector {
    pub fn new(timeline: Timeline) -> Collector {
        Collector {
            timeline,
            ..Collector::default()
        }
    }

    pub fn events(&self) -> Vec<ProgressEvent> {
        self.events.lock().unwrap().clone()
    }
}

impl Progress for Collector {
    fn event(&self, event: &ProgressEvent) {
        if let ProgressEvent::StepStarted { index, .. } = event {
            self.timeline.lock().unwrap().push(format!("step {index}"));
        }
        self.events.lock().unwrap().push(event.clone());
        self.times.lock().unwrap().push(tokio::time::Instant::now());
        if let Some(hook) = self.on_event.lock().unwrap().as_mut() {
            hook(event);
        }
    }
}

/// Answers approval questions from a script (then no).
#[derive(Default)]
pub struct Scripted {
    pub answers: Mutex<Vec<bool>>,
    pub asked: Mutex<Vec<String>>,
}

impl Scripted {
    pub fn answering(answers: &[bool]) -> Scripted {
        Scripted {
            answers: Mutex::new(answers.iter().rev().copied().collect()),
            asked: Mutex::new(Vec::new()),
        }
    }
}

#[async_trait]
impl Prompter for Scripted {
    async fn confirm(&self, question: &str) -> bool {
        self.asked.lock().unwrap().push(question.to_string());
        self.answers.lock().unwrap().pop().unwrap_or(false)
    }
}

/// Journal records in memory; fails every append after `fail_after` records, if set.
#[derive(Default)]
pub struct MemSink {
    pub records: Vec<Record>,
    pub fail_after: Option<usize>,
}

#[async_trait::async_trait]
impl Sink for MemSink {
    async fn append(&mut self, record: &Record) -> Result<(), String> {
        if self.fail_after.is_some_and(|n| self.records.len() >= n) {
            return Err("disk full (injected)".into());
        }
        self.records.push(record.clone());
        Ok(())
    }
}

impl MemSink {
    /// A sink whose appends fail once it holds `n` records (a full disk).
    pub fn failing_after(n: usize) -> MemSink {
        MemSink {
            fail_after: Some(n),
            ..MemSink::default()
        }
    }

    /// The records as a run log (state derived as the journal does).
    pub fn log(&self) -> RunLog {
        RunLog::from_records(self.records.clone()).expect("starts with run_started")
    }

    /// Short names of the records, for order assertions.
    pub fn kinds(&self) -> Vec<String> {
        self.records.iter().map(kind).collect()
    }
}

pub fn kind(record: &Record) -> String {
    match record {
        Record::RunStarted { .. } => "run_started".into(),
        Record::ChecksBaseline { .. } => "checks_baseline".into(),
        Record::StepIntent { index, .. } => format!("intent {index}"),
        Record::StepApplied { index, .. } => format!("applied {index}"),
        Record::StepChecked { index, .. } => format!("checked {index}"),
        Record::Approved { percent, .. } => format!("approved {percent}"),
        Record::Aborted { .. } => "aborted".into(),
        Record::Paused { .. } => "paused".into(),
        Record::Resumed { .. } => "resumed".into(),
        Record::RollbackIntent { .. } => "rollback_intent".into(),
        Record::RollbackDone { .. } => "rollback_done".into(),
        Record::RollbackFailed { .. } => "rollback_failed".into(),
        Record::RunFinished { state, .. } => format!("finished {state:?}"),
        Record::PrescaleIntent { .. } => "prescale_intent".into(),
        Record::PrescaleDone { .. } => "prescale_done".into(),
        Record::CapacityRestoreIntent { .. } => "capacity_restore_intent".into(),
        Record::CapacityRestored { .. } => "capacity_restored".into(),
        Record::Residual { when, .. } => format!("residual {when}"),
        Record::Note { .. } => "note".into(),
    }
}

/// The abort `outcome` stopped with, checked to be of `kind` with a reason that contains
/// every one of `parts` (the caller checks which outcome it is).
pub fn abort_of<'o>(outcome: &'o Outcome, kind: AbortKind, parts: &[&str]) -> &'o Abort {
    let Some(abort) = outcome.abort() else {
        panic!("no abort: {outcome:?}")
    };
    assert_eq!(abort.kind, kind, "{abort:?}");
    for part in parts {
        assert!(
            abort.message.contains(part),
            "{part:?} not in: {}",
            abort.message
        );
    }
    abort
}

/// The refusal of a run that would move past the approval gate at `percent` unapproved.
pub fn gate_refusal(percent: u32) -> Outcome {
    Outcome::Refused {
        abort: Abort::new(
            AbortKind::GateDenied,
            format!(
                "approval required before moving past {percent}%: pass --approve or run on a terminal"
            ),
        ),
    }
}

/// Three regions; `edge` (route53 in zone Z1 + alb listener in us-east-1) and `auth`
/// (route53 in Z1) call `api` (route53 in zone Z2), which calls `db` (a sim dial). So
/// waves are [edge, auth], [api], [db]. Every service has capacity 10,000 and load 1,000
/// in each region.
pub fn topology() -> Topology {
    let service = |name: &str, depends_on: &[&str], dials: Vec<Dial>| {
        let per_region = |v: f64| [(E, v), (W, v), (EU, v)];
        testing::service(
            name,
            depends_on,
            &per_region(10_000.0),
            &per_region(1_000.0),
            dials,
        )
    };
    let alb = testing::alb("alb", E, &[("tg-local", E), ("tg-proxy-west", W)]);
    let services = vec![
        service("edge", &["api"], vec![route53_in("Z1", "dns", &THREE), alb]),
        service("auth", &["api"], vec![route53_in("Z1", "dns", &THREE)]),
        service("api", &["db"], vec![route53_in("Z2", "dns", &THREE)]),
        service("db", &[], vec![testing::sim("sim", &THREE)]),
    ];
    testing::topology(&[E, W, EU], 0.8, services)
}

/// One global check "errors" (max 5) from the sim source; steps 25/50/100; bake 2m,
/// propagation 30s, hold 10m; rollback on abort; no guards.
pub fn playbook() -> Playbook {
    Playbook {
        name: "test".to_string(),
        hold: Duration::from_secs(600),
        checks: vec![Check {
            name: "errors".to_string(),
            source: CheckSource::Sim {
                metric: SimMetric::ErrorRate,
            },
            service: None,
            per: Per::Global,
            threshold: Threshold {
                max: Some(5.0),
                ..Threshold::default()
            },
            consecutive: 1,
            interval: Duration::from_secs(30),
            timeout: std::time::Duration::from_secs(10),
        }],
        guards: crate::model::Guards::off(),
        ..testing::playbook(&[25, 50, 100])
    }
}

/// Plans evacuating us-east-1 from the simulator's start weights.
pub fn plan_for(topology: &Topology, playbook: &Playbook) -> Plan {
    let observed = plan::initial_weights(topology);
    plan::plan(&PlanInput {
        topology,
        playbook,
        operation: Operation::Evacuate,
        region: "us-east-1",
        observed: &observed,
        restore_to: None,
    })
    .expect("plans")
}

pub fn header(plan: &Plan) -> RunHeader {
    RunHeader {
        id: "run-1".to_string(),
        operation: plan.operation,
        region: plan.region.clone(),
        command: "evacuate".to_string(),
        topology: plan.topology.clone(),
        topology_path: "topology.yaml".to_string(),
        playbook_path: "playbook.yaml".to_string(),
        backend: "mem".to_string(),
        host: "test".to_string(),
        pid: 1,
        started_at: "2026-11-23T09:00:00Z".to_string(),
        dry_run: false,
        operator: None,
        forced: None,
    }
}

/// Fast retries for tests (paused time makes them free anyway).
pub fn options() -> ExecOptions {
    ExecOptions {
        retry_attempts: 4,
        retry_min_delay: Duration::from_millis(100),
        retry_max_delay: Duration::from_secs(1),
        ..ExecOptions::default()
    }
}

/// Everything one test needs, owned, so an [`Executor`] can borrow it.
pub struct World {
    pub topology: Topology,
    pub playbook: Playbook,
    pub plan: Plan,
    pub timeline: Timeline,
    pub backend: FaultyBackend<MemBackend>,
    pub source: ScriptedSource,
    pub progress: Collector,
    pub prompter: Scripted,
    pub options: ExecOptions,
    pub ctrl_c: Arc<tokio::sync::watch::Sender<u32>>,
    /// Auto Scaling groups (the simulator's), every `set_desired` logged on the timeline.
    pub scaling: Option<LoggedScaling>,
    /// What a restore returns to its original capacity.
    pub restore_capacity: Vec<CapacityChange>,
}

/// The simulator's groups, with every `set_desired` logged on the timeline
/// (`set_desired GROUP REGION N`).
pub struct LoggedScaling {
    pub inner: SimBackend,
    pub timeline: Timeline,
}

#[async_trait]
impl ScalingBackend for LoggedScaling {
    async fn describe(
        &self,
        groups: &[GroupRef],
    ) -> Result<BTreeMap<GroupRef, GroupState>, BackendError> {
        self.inner.describe(groups).await
    }

    async fn set_desired(&self, group: &GroupRef, desired: u32) -> Result<(), BackendError> {
        self.timeline.lock().unwrap().push(format!(
            "set_desired {} {} {desired}",
            group.group, group.region
        ));
        self.inner.set_desired(group, desired).await
    }
}

impl World {
    pub fn new() -> World {
        World::with(topology(), playbook())
    }

    pub fn with(topology: Topology, playbook: Playbook) -> World {
        let plan = plan_for(&topology, &playbook);
        let timeline = Timeline::default();
        let backend = FaultyBackend::new(MemBackend::new(plan.baseline.clone(), timeline.clone()));
        World {
            topology,
            playbook,
            plan,
            progress: Collector::new(timeline.clone()),
            timeline,
            backend,
            source: ScriptedSource::healthy(),
            prompter: Scripted::default(),
            options: options(),
            ctrl_c: Arc::new(tokio::sync::watch::channel(0).0),
            scaling: None,
            restore_capacity: Vec::new(),
        }
    }

    /// A world whose playbook pauses on abort and whose checks fail at step group `group`.
    pub fn pausing_at(group: usize) -> World {
        let mut world = World::new();
        world.playbook.on_abort = crate::model::OnAbort::Pause;
        world.source = ScriptedSource::failing_at_group(group);
        world
    }

    pub fn executor(&self) -> Executor<'_> {
        Executor {
            topology: &self.topology,
            playbook: &self.playbook,
            backend: &self.backend,
            scaling: self.scaling.as_ref().map(|s| s as &dyn ScalingBackend),
            restore_capacity: &self.restore_capacity,
            source: &self.source,
            progress: &self.progress,
            prompter: &self.prompter,
            options: self.options.clone(),
            interrupts: self.ctrl_c.subscribe(),
        }
    }

    /// Live weights of the dials of the plan's baseline.
    pub fn live(&self) -> Weights {
        self.backend.inner.snapshot()
    }

    /// Calls `hook` on every progress event.
    pub fn on_event(&self, hook: impl FnMut(&ProgressEvent) + Send + 'static) {
        *self.progress.on_event.lock().unwrap() = Some(Box::new(hook));
    }

    /// A flag raised at the run's `Aborted` event, for faults that hit only what comes after.
    pub fn aborted_flag(&self) -> Arc<AtomicBool> {
        let aborted = Arc::new(AtomicBool::new(false));
        let flag = aborted.clone();
        self.on_event(move |e| {
            if matches!(e, ProgressEvent::Aborted { .. }) {
                flag.store(true, Ordering::SeqCst);
            }
        });
        aborted
    }

    /// Presses Ctrl-C once more.
    pub fn press(sender: &tokio::sync::watch::Sender<u32>) {
        sender.send_modify(|n| *n += 1);
    }

    pub async fn resume(&self, sink: &mut MemSink) -> crate::exec::Outcome {
        let log = sink.log();
        self.executor().resume_with(&log, sink).await
    }

    pub async fn rollback(&self, sink: &mut MemSink) -> crate::exec::Outcome {
        let log = sink.log();
        self.executor().rollback_with(&log, sink).await
    }

    /// The number of apply calls logged after each `step N` marker, by N.
    pub fn applies_per_group(&self) -> BTreeMap<usize, usize> {
        let mut out = BTreeMap::new();
        let mut current = None;
        for line in self.timeline.lock().unwrap().iter() {
            if let Some(n) = line.strip_prefix("step ") {
                current = n.parse().ok();
                out.entry(current.unwrap()).or_insert(0);
            } else if let Some(n) = current {
                *out.entry(n).or_insert(0) += 1;
            }
        }
        out
    }

    pub async fn run(&self, sink: &mut MemSink) -> crate::exec::Outcome {
        self.executor()
            .run_with(&self.plan, header(&self.plan), sink)
            .await
    }
}
