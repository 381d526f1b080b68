//! What the report says, computed once from the journals: phases, steps, the traffic over
//! time, the closest check, the verdict on the hypothesis and the findings. The renderers
//! only lay these out.

use std::collections::{BTreeMap, BTreeSet};

use crate::journal::{CheckResult, Record, ResidualTraffic, RunLog, RunState};
use crate::plan::Operation;

use super::traffic::{Charted, Charts, Traffic};
use super::{Input, seconds_between};

/// Utilization past which latency and errors start to grow (the simulator's knee, and most
/// real services').
pub const KNEE: f64 = 0.7;
/// A check within this fraction of its threshold is a finding.
pub const NEAR: f64 = 0.1;

/// A check's threshold as one number: a ceiling (`max`) or a floor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    /// `true` for a ceiling (`<=`), `false` for a floor (`>=`).
    pub max: bool,
    /// The limit.
    pub limit: f64,
}

impl Bound {
    /// How far `value` is from the limit, as a fraction of it: 0 at the limit, negative past
    /// it, 1 at zero for a ceiling.
    pub fn margin(&self, value: f64) -> f64 {
        let room = if self.max {
            self.limit - value
        } else {
            value - self.limit
        };
        if self.limit == 0.0 {
            room
        } else {
            room / self.limit.abs()
        }
    }
}

/// The first bound of a rendered threshold (`<= 250`, `>= 0.95 x baseline 1234.5`,
/// `<= baseline 0.001 + 0.01`), as the number the value is compared with.
pub fn bound(threshold: &str) -> Option<Bound> {
    let first = threshold.split(" and ").next()?.trim();
    let (max, rest) = if let Some(rest) = first.strip_prefix("<=") {
        (true, rest.trim())
    } else if let Some(rest) = first.strip_prefix(">=") {
        (false, rest.trim())
    } else {
        return None;
    };
    let words: Vec<&str> = rest.split_whitespace().collect();
    let limit = match words.as_slice() {
        [v] => v.parse().ok()?,
        [r, "x", "baseline", b] => r.parse::<f64>().ok()? * b.parse::<f64>().ok()?,
        ["baseline", b, "+", r] => b.parse::<f64>().ok()? + r.parse::<f64>().ok()?,
        _ => return None,
    };
    Some(Bound { max, limit })
}

/// One step group as run: when, what, what it cost, what the checks said.
#[derive(Debug, Clone)]
pub struct StepRow {
    /// 1-based, across the report (the restore's steps follow the evacuation's).
    pub number: usize,
    /// `evacuate` or `restore`.
    pub operation: Operation,
    /// Wave index.
    pub wave: usize,
    /// Cumulative percent.
    pub percent: u32,
    /// Services moved.
    pub services: Vec<String>,
    /// RFC 3339 time of the intent.
    pub at: String,
    /// Seconds since the report's start, at the intent and at the last record of the step.
    pub start: f64,
    /// See `start`.
    pub end: f64,
    /// Provider calls (none when the step was not applied).
    pub api_calls: Option<u32>,
    /// Retried attempts.
    pub retries: u32,
    /// Check evaluations after the bake (empty: not checked).
    pub results: Vec<CheckResult>,
    /// Whether the step was cut short by an abort.
    pub aborted: bool,
}

impl StepRow {
    /// The step's API calls for people: `12`, `12 (2 retried)` or `not applied`.
    pub fn calls_text(&self) -> String {
        match (self.api_calls, self.retries) {
            (Some(c), 0) => c.to_string(),
            (Some(c), r) => format!("{c} ({r} retried)"),
            (None, _) => "not applied".to_string(),
        }
    }
}

impl StepRow {
    /// `step 5 (evacuate wave 1, 25%)`.
    pub fn label(&self) -> String {
        format!(
            "step {} ({} wave {}, {}%)",
            self.number, self.operation, self.wave, self.percent
        )
    }
}

/// Something that happened outside a step: pre-scale, abort, pause, rollback, hold.
#[derive(Debug, Clone)]
pub struct Event {
    /// Seconds since the report's start.
    pub t: f64,
    /// RFC 3339.
    pub at: String,
    /// What, in a few words (`abort`, `rollback`, `paused`, ...).
    pub what: String,
    /// Detail.
    pub detail: String,
}

/// A span of time of one phase.
#[derive(Debug, Clone)]
pub struct Phase {
    /// `pre-flight`, `prescale`, `evacuate`, `hold`, `restore`, `rollback`.
    pub name: &'static str,
    /// Seconds since the report's start.
    pub start: f64,
    /// See `start`.
    pub end: f64,
}

/// A value over time: one line of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Its legend.
    pub label: String,
    /// (seconds since the start, value).
    pub points: Vec<(f64, f64)>,
}

/// One checked metric over time, with its threshold.
#[derive(Debug, Clone)]
pub struct CheckSeries {
    /// The check's name.
    pub name: String,
    /// One line per region (or region and service).
    pub series: Vec<Series>,
    /// The thresholds drawn (distinct limits, a few at most).
    pub bounds: Vec<Bound>,
}

/// The peak of one destination's utilization.
#[derive(Debug, Clone)]
pub struct Peak {
    /// The destination region.
    pub region: String,
    /// Peak utilization (load over capacity, summed over services).
    pub peak: f64,
    /// The topology's `max_utilization`.
    pub limit: f64,
    /// The step after which it was reached (`None`: before any step).
    pub step: Option<usize>,
}

/// The check evaluation that came closest to (or went past) its threshold.
#[derive(Debug, Clone)]
pub struct Closest {
    /// The evaluation.
    pub result: CheckResult,
    /// Its margin (see [`Bound::margin`]).
    pub margin: f64,
    /// The step number.
    pub step: usize,
}

/// The verdict on the hypothesis.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Every step's checks passed.
    Held,
    /// A check failed at a step.
    Refuted {
        /// `step 5 (evacuate wave 1, 25%)`.
        step: String,
        /// The failing evaluation, described.
        check: String,
    },
    /// The run was refused before the first change, or stopped before its checks could say.
    NotTested {
        /// Why.
        why: String,
    },
}

/// A finding: something the drill revealed.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// `hidden dependency`, `near threshold`, `past the knee`, `retries`.
    pub kind: &'static str,
    /// The step number it appeared at (`None`: outside steps).
    pub step: Option<usize>,
    /// What, with its figures.
    pub text: String,
}

/// Everything the renderers lay out.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    /// The journals.
    pub logs: &'a [RunLog],
    /// `kong drill us-east-1`, `kong evacuate us-east-1`.
    pub title: String,
    /// The overall outcome in words.
    pub outcome: String,
    /// The playbook's hypothesis.
    pub hypothesis: Option<String>,
    /// The verdict.
    pub verdict: Verdict,
    /// Phases in order.
    pub phases: Vec<Phase>,
    /// Seconds from the first change to the step that drained the region.
    pub drained_after: Option<f64>,
    /// Provider calls of every step.
    pub api_calls: u64,
    /// Retried attempts of every step.
    pub retries: u64,
    /// Aborts: (reason, step number it cut short).
    pub aborts: Vec<(String, Option<usize>, &'static str)>,
    /// Rollback failures: (reason, what is left).
    pub rollback_failures: Vec<(String, Vec<String>)>,
    /// Steps in order.
    pub steps: Vec<StepRow>,
    /// Other events in order.
    pub events: Vec<Event>,
    /// Traffic share of each region over time: the whole topology, then each wave.
    pub traffic: Vec<(String, Vec<Series>)>,
    /// Each destination's utilization over time.
    pub utilization: Vec<Series>,
    /// The topology's `max_utilization`.
    pub limit: Option<f64>,
    /// Checked metrics over time.
    pub checks: Vec<CheckSeries>,
    /// Peak utilization of every destination.
    pub peaks: Vec<Peak>,
    /// The closest check.
    pub closest: Option<Closest>,
    /// Residual traffic measurements: (when, source, region, max, services).
    pub residuals: Vec<(String, String, String, f64, Vec<ResidualTraffic>)>,
    /// Findings in order of appearance.
    pub findings: Vec<Finding>,
    /// Seconds from the start to the last record.
    pub end: f64,
}

/// The outcome of one run in words.
pub fn state_words(state: RunState) -> &'static str {
    match state {
        RunState::Running => "interrupted while running",
        RunState::Paused => "paused after an abort",
        RunState::RollingBack => "interrupted while rolling back",
        RunState::Completed => "completed",
        RunState::RolledBack => "aborted and rolled back",
        RunState::RollbackFailed => "aborted, and the rollback failed",
        RunState::Refused => "refused: nothing was changed",
    }
}

impl<'a> Facts<'a> {
    /// Computes the facts of `input`.
    pub fn new(input: &Input<'a>) -> Facts<'a> {
        let logs = input.logs;
        let start = logs
            .first()
            .map(|l| l.header.started_at.clone())
            .unwrap_or_default();
        let t = |at: &str| seconds_between(&start, at).unwrap_or(0.0).max(0.0);
        let first = logs.first();
        let title = match first {
            Some(l) if l.header.command == "drill" => format!("kong drill {}", l.header.region),
            Some(l) => format!("kong {} {}", l.header.operation, l.header.region),
            None => "kong report".to_string(),
        };
        let waves = first.map(|l| l.plan().waves.clone()).unwrap_or_default();
        let evacuated = first.map(|l| l.header.region.clone()).unwrap_or_default();

        let mut steps: Vec<StepRow> = Vec::new();
        let mut events: Vec<Event> = Vec::new();
        let mut phases: Vec<Phase> = Vec::new();
        let mut aborts = Vec::new();
        let mut rollback_failures = Vec::new();
        let mut residuals = Vec::new();
        let mut drained_after = None;
        let mut end = 0.0f64;

        // Shares over time, starting from the first run's baseline, sampled into the charts
        // at each point (no topology: no charts).
        let topology = input.topology;
        let mut traffic: Option<Traffic> = None;
        let mut charts: Option<Charts> = None;
        let sample = |charts: &mut Option<Charts>, traffic: &Option<Traffic>, t, step| {
            if let (Some(topology), Some(charts), Some(traffic)) =
                (topology, charts.as_mut(), traffic.as_ref())
            {
                charts.sample(topology, t, step, traffic);
            }
        };

        for (run, log) in logs.iter().enumerate() {
            let plan = log.plan();
            let operation = log.header.operation;
            let log_base = topology.map(|t| Traffic::at_baseline(t, plan));
            if run == 0 {
                traffic = log_base.clone();
                charts = topology
                    .zip(traffic.as_ref())
                    .map(|(t, traffic)| Charts::new(t, traffic, &waves, &evacuated));
            }
            // Index of each step group: (wave, percent).
            let mut open: BTreeMap<usize, usize> = BTreeMap::new(); // group index -> row
            let mut first_intent: Option<f64> = None;
            let mut last_step_end: Option<f64> = None;
            let mut rollback_start: Option<f64> = None;
            let mut prescale_start: Option<f64> = None;
            let groups: BTreeSet<(usize, u32)> =
                plan.steps.iter().map(|s| (s.wave, s.percent)).collect();
            let last_group = groups.len().checked_sub(1);
            for record in &log.records {
                let now = t(record.at());
                end = end.max(now);
                match record {
                    Record::RunStarted { at, .. } => {
                        phases.push(Phase {
                            name: "pre-flight",
                            start: t(&log.header.started_at),
                            end: t(at),
                        });
                        if run == 0 {
                            sample(&mut charts, &traffic, now, None);
                        }
                    }
                    Record::StepIntent {
                        at,
                        index,
                        wave,
                        percent,
                        services,
                        ..
                    } => {
                        first_intent.get_or_insert(now);
                        let number = steps.len() + 1;
                        open.insert(*index, steps.len());
                        steps.push(StepRow {
                            number,
                            operation,
                            wave: *wave,
                            percent: *percent,
                            services: services.clone(),
                            at: at.clone(),
                            start: now,
                            end: now,
                            api_calls: None,
                            retries: 0,
                            results: Vec::new(),
                            aborted: false,
                        });
                    }
                    Record::StepApplied {
                        index,
                        api_calls,
                        retries,
                        ..
                    } => {
                        if let Some(&row) = open.get(index) {
                            let step = &mut steps[row];
                            step.api_calls = Some(step.api_calls.unwrap_or(0) + api_calls);
                            step.retries += retries;
                            step.end = now;
                            if let (Some(t), Some(traffic)) = (topology, traffic.as_mut()) {
                                traffic.apply(t, plan, step.wave, step.percent, &step.services);
                            }
                            sample(&mut charts, &traffic, now, Some(step.number));
                            if operation == Operation::Evacuate
                                && Some(*index) == last_group
                                && let Some(first) = first_intent
                            {
                                drained_after = Some(now - first);
                            }
                        }
                        last_step_end = Some(now);
                    }
                    Record::StepChecked { index, results, .. } => {
                        if let Some(&row) = open.get(index) {
                            steps[row].results = results.clone();
                            steps[row].end = now;
                        }
                        last_step_end = Some(now);
                    }
                    Record::Aborted { at, reason, kind } => {
                        let cut = open.values().max().map(|&row| {
                            let step = &mut steps[row];
                            if step.results.iter().all(|r| r.ok) {
                                step.aborted = true;
                            }
                            step.number
                        });
                        // Journals written before kinds were recorded: told from the reason.
                        let kind = kind.map_or_else(
                            || super::markdown::abort_kind(reason),
                            crate::model::AbortKind::label,
                        );
                        aborts.push((reason.clone(), cut, kind));
                        events.push(Event {
                            t: now,
                            at: at.clone(),
                            what: "abort".to_string(),
                            detail: reason.clone(),
                        });
                        last_step_end = Some(now);
                    }
                    Record::Note { at, text } => events.push(Event {
                        t: now,
                        at: at.clone(),
                        what: "note".to_string(),
                        detail: text.clone(),
                    }),
                    Record::Paused { at } => events.push(Event {
                        t: now,
                        at: at.clone(),
                        what: "paused".to_string(),
                        detail: "traffic held where it was".to_string(),
                    }),
                    Record::Resumed { at, host, pid } => events.push(Event {
                        t: now,
                        at: at.clone(),
                        what: "resumed".to_string(),
                        detail: format!("by {host} (pid {pid})"),
                    }),
                    Record::Approved { at, percent, by } => events.push(Event {
                        t: now,
                        at: at.clone(),
                        what: "approved".to_string(),
                        detail: format!("moving past {percent}%, by {by}"),
                    }),
                    Record::RollbackIntent { at, weights } => {
                        // One event per rollback, not per batch group.
                        if rollback_start.is_some() {
                            continue;
                        }
                        rollback_start = Some(now);
                        events.push(Event {
                            t: now,
                            at: at.clone(),
                            what: "rollback".to_string(),
                            detail: format!("restoring {} dials to the baseline", weights.len()),
                        });
                    }
                    Record::RollbackDone { at } => {
                        traffic = log_base.clone();
                        sample(&mut charts, &traffic, now, None);
                        phases.push(Phase {
                            name: "rollback",
                            start: rollback_start.take().unwrap_or(now),
                            end: now,
                        });
                        events.push(Event {
                            t: now,
                            at: at.clone(),
                            what: "rollback done".to_string(),
                            detail: "every touched dial read back at its baseline".to_string(),
                        });
                    }
                    Record::RollbackFailed { at, reason, left } => {
                        phases.push(Phase {
                            name: "rollback",
                            start: rollback_start.take().unwrap_or(now),
                            end: now,
                        });
                        rollback_failures.push((reason.clone(), left.clone()));
                        events.push(Event {
                            t: now,
                            at: at.clone(),
                            what: "rollback failed".to_string(),
                            detail: format!("{reason}; left: {}", left.join(", ")),
                        });
                    }
                    Record::PrescaleIntent { at, groups } => {
                        prescale_start = Some(now);
                        events.push(Event {
                            t: now,
                            at: at.clone(),
                            what: "prescale".to_string(),
                            detail: if groups.is_empty() {
                                "no group needed more instances".to_string()
                            } else {
                                groups
                                    .iter()
                                    .map(ToString::to_string)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            },
                        });
                    }
                    Record::PrescaleDone { .. } => {
                        phases.push(Phase {
                            name: "prescale",
                            start: prescale_start.take().unwrap_or(now),
                            end: now,
                        });
                    }
                    Record::CapacityRestoreIntent { at, groups } => events.push(Event {
                        t: now,
                        at: at.clone(),
                        what: "capacity restore".to_string(),
                        detail: groups
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", "),
                    }),
                    Record::Residual {
                        when,
                        region,
                        source,
                        max_residual,
                        services,
                        ..
                    } => residuals.push((
                        when.clone(),
                        source.clone(),
                        region.clone(),
                        *max_residual,
                        services.clone(),
                    )),
                    Record::ChecksBaseline { .. }
                    | Record::CapacityRestored { .. }
                    | Record::RunFinished { .. } => {}
                }
            }
            if let (Some(s), Some(e)) = (first_intent, last_step_end) {
                phases.push(Phase {
                    name: operation.as_str(),
                    start: s,
                    end: e,
                });
            }
            // The hold: from the end of the evacuation to the start of the restore.
            if operation == Operation::Evacuate
                && let Some(next) = logs.get(run + 1)
                && let Some(finished) = log.finished_at()
            {
                phases.push(Phase {
                    name: "hold",
                    start: t(finished),
                    end: t(&next.header.started_at),
                });
            }
        }
        sample(&mut charts, &traffic, end, None);

        // Traffic and utilization over time.
        let limit = topology.map(|t| t.max_utilization);
        let Charted {
            traffic,
            utilization,
            peaks,
            steps: point_steps,
        } = charts.map(Charts::finish).unwrap_or_default();

        // Checked metrics over time, the closest evaluation, near misses.
        let mut by_check: BTreeMap<String, BTreeMap<String, Vec<(f64, f64)>>> = BTreeMap::new();
        let mut bounds: BTreeMap<String, Vec<Bound>> = BTreeMap::new();
        let mut closest: Option<Closest> = None;
        let mut near: BTreeMap<(String, String), (usize, CheckResult, f64)> = BTreeMap::new();
        for step in &steps {
            for r in &step.results {
                let key = scope_of(r);
                let b = bound(&r.threshold);
                if let Some(b) = b {
                    let list = bounds.entry(r.name.clone()).or_default();
                    if list.len() < 3 && !list.iter().any(|x| (x.limit - b.limit).abs() < 1e-9) {
                        list.push(b);
                    }
                }
                let Some(v) = r.value else { continue };
                by_check
                    .entry(r.name.clone())
                    .or_default()
                    .entry(key.clone())
                    .or_default()
                    .push((step.end, v));
                let Some(b) = b else { continue };
                let margin = b.margin(v);
                if closest.as_ref().is_none_or(|c| margin < c.margin) {
                    closest = Some(Closest {
                        result: r.clone(),
                        margin,
                        step: step.number,
                    });
                }
                if r.ok && margin < NEAR {
                    near.entry((r.name.clone(), key))
                        .and_modify(|e| {
                            if margin < e.2 {
                                e.1 = r.clone();
                                e.2 = margin;
                            }
                        })
                        .or_insert((step.number, r.clone(), margin));
                }
            }
        }
        let checks = by_check
            .into_iter()
            .map(|(name, keys)| CheckSeries {
                bounds: bounds.remove(&name).unwrap_or_default(),
                series: merge_series(keys),
                name,
            })
            .collect();

        // Findings, in order of appearance.
        let mut findings = Vec::new();
        for (when, source, region, max, services) in &residuals {
            let when = match when.as_str() {
                "end of hold" => "at the end of the hold",
                other => other,
            };
            for s in services {
                match (s.share, s.rps) {
                    (Some(share), Some(rps)) if share > *max => findings.push(Finding {
                        kind: "hidden dependency",
                        step: None,
                        text: format!(
                            "`{}` still serves {} of its {region} traffic ({} req/s) {when} (max {}; measured from {source})",
                            s.service,
                            pct(share),
                            super::num((rps * 10.0).round() / 10.0),
                            pct(*max)
                        ),
                    }),
                    (None, _) | (_, None) => findings.push(Finding {
                        kind: "hidden dependency",
                        step: None,
                        text: format!(
                            "`{}`: residual traffic in {region} could not be measured {when}: {}",
                            s.service,
                            s.error.as_deref().unwrap_or("no data")
                        ),
                    }),
                    _ => {}
                }
            }
        }
        let mut near: Vec<_> = near.into_values().collect();
        near.sort_by_key(|(step, r, _)| (*step, r.name.clone()));
        for (step, r, margin) in near {
            findings.push(Finding {
                kind: "near threshold",
                step: Some(step),
                text: format!(
                    "{} vs {} ({} from the limit)",
                    describe(&r),
                    r.threshold,
                    pct(margin)
                ),
            });
        }
        for series in &utilization {
            let crossed = series
                .points
                .iter()
                .zip(point_steps.iter())
                .find_map(|((_, u), step)| (*u > KNEE).then_some((*u, *step)));
            if let Some((u, step)) = crossed {
                let peak = peaks.iter().find(|p| p.region == series.label);
                findings.push(Finding {
                    kind: "past the knee",
                    step,
                    text: format!(
                        "{} past {} utilization ({}; peak {})",
                        series.label,
                        pct(KNEE),
                        pct(u),
                        peak.map(|p| pct(p.peak)).unwrap_or_default()
                    ),
                });
            }
        }
        for step in steps.iter().filter(|s| s.retries > 0) {
            findings.push(Finding {
                kind: "retries",
                step: Some(step.number),
                text: format!(
                    "{} provider call(s) retried (throttling or transient errors) at {}",
                    step.retries,
                    step.label()
                ),
            });
        }

        let verdict = verdict(logs, &steps, &aborts);
        let outcome = outcome(logs);
        Facts {
            logs,
            title,
            outcome,
            hypothesis: input.playbook.and_then(|p| p.hypothesis.clone()),
            verdict,
            phases,
            drained_after,
            api_calls: steps
                .iter()
                .filter_map(|s| s.api_calls)
                .map(u64::from)
                .sum(),
            retries: steps.iter().map(|s| u64::from(s.retries)).sum(),
            aborts,
            rollback_failures,
            steps,
            events,
            traffic,
            utilization,
            limit,
            checks,
            peaks,
            closest,
            residuals,
            findings,
            end,
        }
    }
}

/// `@eu-west-1 for web`, `(global)`.
pub fn scope_of(r: &CheckResult) -> String {
    let mut s = r.region.clone().unwrap_or_else(|| "global".to_string());
    if let Some(service) = &r.service {
        s.push_str(&format!(" {service}"));
    }
    s
}

/// `p99 @eu-west-1: 312 vs <= 250 (why)`.
pub fn describe(r: &CheckResult) -> String {
    let region = r
        .region
        .as_deref()
        .map(|x| format!(" @{x}"))
        .unwrap_or_default();
    let service = r
        .service
        .as_deref()
        .map(|x| format!(" for {x}"))
        .unwrap_or_default();
    let value = r
        .value
        .map(super::num)
        .unwrap_or_else(|| "no data".to_string());
    format!("`{}`{region}{service}: {value}", r.name)
}

/// `3.0%`.
pub fn pct(f: f64) -> String {
    format!("{:.1}%", f * 100.0)
}

/// `11.2% from the limit`, `5.4% past the limit`.
pub fn room(margin: f64) -> String {
    if margin < 0.0 {
        format!("{} past the limit", pct(-margin))
    } else {
        format!("{} from the limit", pct(margin))
    }
}

/// At most 8 lines: more are folded into their worst (max) and best (min) at each time.
fn merge_series(keys: BTreeMap<String, Vec<(f64, f64)>>) -> Vec<Series> {
    const MAX_LINES: usize = 8;
    if keys.len() <= MAX_LINES {
        return keys
            .into_iter()
            .map(|(label, points)| Series { label, points })
            .collect();
    }
    let n = keys.len();
    let mut hi: BTreeMap<u64, f64> = BTreeMap::new();
    let mut lo: BTreeMap<u64, f64> = BTreeMap::new();
    for points in keys.values() {
        for (t, v) in points {
            let k = (t * 1000.0).round() as u64;
            let h = hi.entry(k).or_insert(*v);
            *h = h.max(*v);
            let l = lo.entry(k).or_insert(*v);
            *l = l.min(*v);
        }
    }
    let back = |m: BTreeMap<u64, f64>| m.into_iter().map(|(k, v)| (k as f64 / 1000.0, v)).collect();
    vec![
        Series {
            label: format!("highest of {n}"),
            points: back(hi),
        },
        Series {
            label: format!("lowest of {n}"),
            points: back(lo),
        },
    ]
}

fn verdict(
    logs: &[RunLog],
    steps: &[StepRow],
    aborts: &[(String, Option<usize>, &'static str)],
) -> Verdict {
    for step in steps {
        if let Some(failed) = step.results.iter().find(|r| !r.ok) {
            let detail = failed
                .detail
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            return Verdict::Refuted {
                step: step.label(),
                check: format!("{} vs {}{detail}", describe(failed), failed.threshold),
            };
        }
    }
    if let Some((reason, step, _)) = aborts.first() {
        if reason.starts_with("residual traffic") {
            return Verdict::Refuted {
                step: step
                    .and_then(|n| steps.get(n - 1))
                    .map(StepRow::label)
                    .unwrap_or_else(|| "the end of the evacuation".to_string()),
                check: reason.clone(),
            };
        }
        return Verdict::NotTested {
            why: match step {
                Some(n) => {
                    format!("the run aborted at step {n} before its checks could say: {reason}")
                }
                None => format!("the run was refused: {reason}"),
            },
        };
    }
    match logs.first() {
        None => Verdict::NotTested {
            why: "no run".to_string(),
        },
        Some(l) if l.state == RunState::Refused => Verdict::NotTested {
            why: "the run was refused (a dry run, or pre-flight failed)".to_string(),
        },
        Some(_) if steps.is_empty() => Verdict::NotTested {
            why: "no step was run".to_string(),
        },
        Some(_) if logs.iter().any(|l| !l.state.is_final()) => Verdict::NotTested {
            why: "the run has not finished".to_string(),
        },
        Some(_) => Verdict::Held,
    }
}

fn outcome(logs: &[RunLog]) -> String {
    let worst = logs
        .iter()
        .map(|l| l.state)
        .find(|s| *s != RunState::Completed)
        .or_else(|| logs.first().map(|l| l.state));
    match (worst, logs.len()) {
        (Some(RunState::Completed), n) if n > 1 => {
            "completed (evacuated, held, restored)".to_string()
        }
        (Some(state), _) => state_words(state).to_string(),
        (None, _) => "no run".to_string(),
    }
}
