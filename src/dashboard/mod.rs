//! The live view of `kong dashboard`: what the page shows, built from the run history and
//! the live weights, and the read-only HTTP router serving it.
//!
//! The run followed is the topology's active run (not final), else its last one. Every
//! request reads the history and the live weights again through a [`Feed`], so a run moved
//! by another process shows up at the next poll. Nothing here changes a weight: the router
//! answers `GET` only.
//!
//! Routes: `GET /` (the page, with the current view embedded so it renders without a
//! round trip), `GET /api/state` (the view as JSON; the page polls it every 500 ms).
//! Every asset is in the binary: the page's CSS and JavaScript are inline, the picture is
//! SVG drawn by the page.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use crate::checks::CheckResult;
use crate::journal::{Record, RunLog, RunState};
use crate::model::{Topology, Weights};
use crate::plan::{self, Shares};
use crate::report::few;

/// The page (HTML, CSS and JavaScript in one file), embedded in the binary.
const PAGE: &str = include_str!("page.html");
/// Where the page's initial view goes.
const INITIAL_MARK: &str = "/*KONG_INITIAL_STATE*/null";

/// What one refresh of the page reads.
pub struct Inputs {
    /// Every run of the state, oldest first.
    pub runs: Vec<RunLog>,
    /// The live weights of every dial, or why they could not be read.
    pub weights: Result<Weights, String>,
    /// The run id of the topology's lock holder, if any.
    pub lock_holder: Option<String>,
}

/// Reads the history and the live weights again (the CLI's state and backend).
#[async_trait]
pub trait Feed: Send + Sync {
    /// One reading; an error is shown on the page.
    async fn read(&self) -> Result<Inputs, String>;
}

/// What the page shows.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct View {
    /// The topology's name.
    pub topology: String,
    /// `sim` or `aws`.
    pub backend: String,
    /// The topology's regions, in order.
    pub regions: Vec<String>,
    /// Live served shares: service -> region -> share (0..1).
    pub shares: Shares,
    /// The share of all declared load each region serves now.
    pub region_shares: BTreeMap<String, f64>,
    /// Traffic from where it is served at baseline (declared `load`) to where it is
    /// served now.
    pub flows: Vec<Flow>,
    /// The run followed, if the state has one for the topology.
    pub run: Option<RunView>,
    /// Why the live weights or the state could not be read, if so.
    pub error: Option<String>,
}

/// One flow between regions, as a share of all declared load.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Flow {
    /// Where the traffic is served at baseline (the services' declared `load`).
    pub from: String,
    /// Where it is served now.
    pub to: String,
    /// Share of all declared load (0..1).
    pub share: f64,
}

/// The run followed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunView {
    /// Run id.
    pub id: String,
    /// `evacuate` or `restore`.
    pub operation: String,
    /// The region.
    pub region: String,
    /// `drill` or the command name.
    pub command: String,
    /// The run state's JSON key (`running`, `rolled_back`...).
    pub state: String,
    /// Whether the run is not final (the page follows it live).
    pub active: bool,
    /// Whether a live process holds the lock for it.
    pub live: bool,
    /// RFC 3339 start.
    pub started_at: String,
    /// The step group under way or last done, if any.
    pub step: Option<StepView>,
    /// The number of step groups in the plan.
    pub steps_total: usize,
    /// The number of waves in the plan.
    pub waves_total: usize,
    /// The checks of the last step checked.
    pub checks: Vec<CheckResult>,
    /// The step group those checks belong to.
    pub checks_step: Option<usize>,
    /// Every journal record so far, for people.
    pub timeline: Vec<Event>,
}

/// The step group under way or last done.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StepView {
    /// Step group index (0-based, in execution order).
    pub index: usize,
    /// Wave index (0-based).
    pub wave: usize,
    /// Cumulative percent.
    pub percent: u32,
    /// Services moved.
    pub services: Vec<String>,
    /// Whether it was applied and read back.
    pub applied: bool,
}

/// One timeline entry.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Event {
    /// RFC 3339 time.
    pub at: String,
    /// The record's `event` key.
    pub event: String,
    /// What happened, for people.
    pub text: String,
}

impl View {
    /// The view of `topology` from one reading.
    pub fn build(topology: &Topology, backend: &str, inputs: Inputs) -> View {
        let (shares, error) = match &inputs.weights {
            Ok(weights) => (plan::all_served_shares(topology, weights), None),
            Err(e) => (Shares::new(), Some(e.clone())),
        };
        let ours: Vec<&RunLog> = inputs
            .runs
            .iter()
            .filter(|log| log.header.topology == topology.name)
            .collect();
        let followed = ours
            .iter()
            .rev()
            .find(|log| !log.state.is_final())
            .or(ours.last())
            .copied();
        View {
            topology: topology.name.clone(),
            backend: backend.to_string(),
            regions: topology.regions.clone(),
            region_shares: region_shares(topology, &shares),
            flows: if error.is_some() {
                Vec::new()
            } else {
                flows(topology, &shares)
            },
            shares,
            run: followed.map(|log| run_view(log, inputs.lock_holder.as_deref())),
            error,
        }
    }

    /// The view shown when nothing could be read.
    pub fn unreadable(topology: &Topology, backend: &str, error: String) -> View {
        View::build(
            topology,
            backend,
            Inputs {
                runs: Vec::new(),
                weights: Err(error),
                lock_holder: None,
            },
        )
    }
}

/// Each service's total declared load (its weight in the totals), and their sum.
fn service_loads(topology: &Topology) -> (BTreeMap<&str, f64>, f64) {
    let loads: BTreeMap<&str, f64> = topology
        .services
        .iter()
        .map(|(name, s)| (name.as_str(), s.load.values().sum::<f64>()))
        .collect();
    let total = loads.values().sum();
    (loads, total)
}

/// The share of all declared load each region serves under `shares` (services weighted by
/// their declared load; equally when no service declares any).
pub fn region_shares(topology: &Topology, shares: &Shares) -> BTreeMap<String, f64> {
    let (loads, total) = service_loads(topology);
    let n = shares.len().max(1) as f64;
    topology
        .regions
        .iter()
        .map(|region| {
            let served: f64 = shares
                .iter()
                .map(|(service, by_region)| {
                    let weight = if total > 0.0 {
                        loads.get(service.as_str()).copied().unwrap_or(0.0) / total
                    } else {
                        1.0 / n
                    };
                    weight * by_region.get(region).copied().unwrap_or(0.0)
                })
                .sum();
            (region.clone(), served)
        })
        .collect()
}

/// Flows between regions. Each service's traffic is where its declared `load` puts it at
/// baseline; what a region serves now up to that stays there (a flow from the region to
/// itself), and what regions lost goes to the regions that gained, in proportion to their
/// gains. Weighted by the service's share of all declared load; flows under 0.05% are left
/// out. At baseline every flow is local; evacuating us-east-1 shows its traffic flowing to
/// the regions that took it.
pub fn flows(topology: &Topology, shares: &Shares) -> Vec<Flow> {
    let (loads, total) = service_loads(topology);
    if total <= 0.0 {
        return Vec::new();
    }
    let mut sums: BTreeMap<(&str, &str), f64> = BTreeMap::new();
    for (name, service) in &topology.services {
        let (Some(live), Some(&load)) = (shares.get(name), loads.get(name.as_str())) else {
            continue;
        };
        if load <= 0.0 {
            continue;
        }
        let weight = load / total;
        let mut lost = Vec::new();
        let mut gained = Vec::new();
        for region in &topology.regions {
            let base = service.load.get(region).copied().unwrap_or(0.0) / load;
            let now = live.get(region).copied().unwrap_or(0.0);
            let kept = base.min(now);
            *sums.entry((region, region)).or_default() += kept * weight;
            lost.push((region.as_str(), base - kept));
            gained.push((region.as_str(), now - kept));
        }
        let all_gained: f64 = gained.iter().map(|(_, g)| g).sum();
        if all_gained <= 0.0 {
            continue;
        }
        for (from, l) in lost.iter().filter(|(_, l)| *l > 0.0) {
            for (to, g) in gained.iter().filter(|(_, g)| *g > 0.0) {
                *sums.entry((from, to)).or_default() += l * g / all_gained * weight;
            }
        }
    }
    sums.into_iter()
        .filter(|(_, share)| *share >= 0.0005)
        .map(|((from, to), share)| Flow {
            from: from.to_string(),
            to: to.to_string(),
            share,
        })
        .collect()
}

/// A run state's JSON key.
fn state_key(state: RunState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn run_view(log: &RunLog, lock_holder: Option<&str>) -> RunView {
    let plan = log.plan();
    let groups: BTreeSet<(usize, u32)> = plan.steps.iter().map(|s| (s.wave, s.percent)).collect();
    let mut step: Option<StepView> = None;
    let mut checks = Vec::new();
    let mut checks_step = None;
    for record in &log.records {
        match record {
            Record::StepIntent {
                index,
                wave,
                percent,
                services,
                ..
            } => {
                step = Some(StepView {
                    index: *index,
                    wave: *wave,
                    percent: *percent,
                    services: services.clone(),
                    applied: false,
                });
            }
            Record::StepApplied { index, .. } => {
                if let Some(s) = step.as_mut().filter(|s| s.index == *index) {
                    s.applied = true;
                }
            }
            Record::StepChecked { index, results, .. } => {
                checks = results.clone();
                checks_step = Some(*index);
            }
            _ => {}
        }
    }
    RunView {
        id: log.header.id.clone(),
        operation: log.header.operation.to_string(),
        region: log.header.region.clone(),
        command: log.header.command.clone(),
        state: state_key(log.state),
        active: !log.state.is_final(),
        live: lock_holder == Some(log.header.id.as_str()),
        started_at: log.header.started_at.clone(),
        step,
        steps_total: groups.len(),
        waves_total: plan.waves.len(),
        checks,
        checks_step,
        timeline: log.records.iter().map(event).collect(),
    }
}

/// One journal record for people.
fn event(record: &Record) -> Event {
    let (event, text) = match record {
        Record::RunStarted { run, plan, .. } => (
            "run_started",
            format!(
                "{} {} started ({} steps, {} waves)",
                run.operation,
                run.region,
                plan.steps.len(),
                plan.waves.len()
            ),
        ),
        Record::ChecksBaseline { values, .. } => (
            "checks_baseline",
            format!("baseline of {} checks measured", values.len()),
        ),
        Record::StepIntent {
            index,
            wave,
            percent,
            services,
            ..
        } => (
            "step_intent",
            format!(
                "step {}: wave {} to {percent}%: {}",
                index + 1,
                wave + 1,
                few(services, 3)
            ),
        ),
        Record::StepApplied {
            index, api_calls, ..
        } => (
            "step_applied",
            format!("step {} applied ({api_calls} API calls)", index + 1),
        ),
        Record::StepChecked { index, results, .. } => {
            let failed: Vec<String> = results
                .iter()
                .filter(|r| !r.ok)
                .map(|r| match &r.region {
                    Some(region) => format!("{} @{region}", r.name),
                    None => r.name.clone(),
                })
                .collect();
            let text = if failed.is_empty() {
                format!("step {}: {} checks ok", index + 1, results.len())
            } else {
                format!(
                    "step {}: {} of {} checks failed: {}",
                    index + 1,
                    failed.len(),
                    results.len(),
                    few(&failed, 3)
                )
            };
            ("step_checked", text)
        }
        Record::PrescaleIntent { groups, .. } => (
            "prescale_intent",
            format!("pre-scaling {} groups", groups.len()),
        ),
        Record::PrescaleDone { .. } => ("prescale_done", "pre-scaled groups in service".into()),
        Record::CapacityRestoreIntent { groups, .. } => (
            "capacity_restore_intent",
            format!("returning {} groups to their capacity", groups.len()),
        ),
        Record::CapacityRestored { .. } => ("capacity_restored", "groups returned".into()),
        Record::Residual {
            when,
            region,
            max_residual,
            services,
            ..
        } => {
            let over = crate::journal::residual_over(*max_residual, services);
            let text = if over.is_empty() {
                format!("residual traffic {when}: none above the limit in {region}")
            } else {
                format!(
                    "residual traffic {when} in {region} (hidden dependencies): {}",
                    few(&over, 3)
                )
            };
            ("residual", text)
        }
        Record::Note { text, .. } => ("note", text.clone()),
        Record::Approved { percent, by, .. } => {
            ("approved", format!("gate at {percent}% approved ({by})"))
        }
        Record::Aborted { reason, .. } => ("aborted", format!("aborted: {reason}")),
        Record::Paused { .. } => ("paused", "paused".into()),
        Record::Resumed { host, pid, .. } => ("resumed", format!("resumed on {host} (pid {pid})")),
        Record::RollbackIntent { .. } => ("rollback_intent", "rolling back to the baseline".into()),
        Record::RollbackDone { .. } => ("rollback_done", "rolled back to the baseline".into()),
        Record::RollbackFailed { reason, left, .. } => (
            "rollback_failed",
            format!("rollback failed: {reason} ({} dials left)", left.len()),
        ),
        Record::RunFinished { state, .. } => (
            "run_finished",
            format!("finished: {}", state_key(*state).replace('_', " ")),
        ),
    };
    Event {
        at: record.at().to_string(),
        event: event.to_string(),
        text,
    }
}

/// The dashboard's state: the topology, the backend name and the feed.
struct Dashboard {
    topology: Topology,
    backend: String,
    feed: Arc<dyn Feed>,
}

impl Dashboard {
    async fn view(&self) -> View {
        match self.feed.read().await {
            Ok(inputs) => View::build(&self.topology, &self.backend, inputs),
            Err(e) => View::unreadable(&self.topology, &self.backend, e),
        }
    }
}

/// The read-only router: `GET /` and `GET /api/state`.
pub fn router(topology: Topology, backend: &str, feed: Arc<dyn Feed>) -> Router {
    let state = Arc::new(Dashboard {
        topology,
        backend: backend.to_string(),
        feed,
    });
    Router::new()
        .route("/", get(page))
        .route("/api/state", get(api_state))
        .with_state(state)
}

async fn api_state(State(dashboard): State<Arc<Dashboard>>) -> Response {
    let view = dashboard.view().await;
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(view)).into_response()
}

async fn page(State(dashboard): State<Arc<Dashboard>>) -> Response {
    let view = dashboard.view().await;
    match serde_json::to_string(&view) {
        Ok(json) => {
            // Inside a <script>: no "</script>" can close it early.
            let json = json.replace('<', "\\u003c");
            (
                [(header::CACHE_CONTROL, "no-store")],
                Html(PAGE.replacen(INITIAL_MARK, &json, 1)),
            )
                .into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests;
