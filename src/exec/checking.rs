//! Evaluating the playbook's checks: once before the run (the steady state, and the values
//! ratio thresholds compare to), and after each step group's bake.
//!
//! Scope: a `per: destination` check is evaluated for every destination region (evacuate:
//! every region other than the plan's in its pre-flight rows; restore: the plan's region);
//! a `per: global` check once, with no region. Sources only fetch; [`crate::checks::evaluate`]
//! decides.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use futures::future::join_all;
use tracing::Instrument;

use crate::checks::{Scope, evaluate, guards};
use crate::journal::CheckResult;
use crate::model::{Abort, Check, Per};
use crate::plan::{Operation, Plan};

use super::clock::Clock;
use super::{Executor, ProgressEvent};

/// Check values measured before the run: check name -> region (`""` when global) -> value.
pub(crate) type CheckValues = BTreeMap<String, BTreeMap<String, f64>>;

/// The regions `per: destination` checks are evaluated for.
pub(crate) fn destinations(plan: &Plan) -> Vec<String> {
    match plan.operation {
        Operation::Evacuate => plan
            .preflight
            .iter()
            .filter(|row| row.region != plan.region)
            .map(|row| row.region.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        Operation::Restore => vec![plan.region.clone()],
    }
}

/// One evaluation: a check bound to a region (`None`: global) and a service (`None`: not
/// about one service).
type Target<'c> = (&'c Check, Option<String>, Option<String>);

/// Every (check, region, service) to evaluate, in playbook order, then region, then service.
/// A check's service is its `service:`; a check whose text uses `{{service}}` without one is
/// evaluated for each of `services` (the services moved).
fn scopes<'c>(
    checks: impl IntoIterator<Item = &'c Check>,
    regions: &[String],
    services: &[String],
) -> Vec<Target<'c>> {
    let mut out = Vec::new();
    for check in checks {
        let bound: Vec<Option<String>> = match &check.service {
            Some(s) => vec![Some(s.clone())],
            None if check.uses_service_template() => services.iter().cloned().map(Some).collect(),
            None => vec![None],
        };
        let in_regions: Vec<Option<String>> = match check.per {
            Per::Global => vec![None],
            Per::Destination => regions.iter().cloned().map(Some).collect(),
        };
        for region in &in_regions {
            for service in &bound {
                out.push((check, region.clone(), service.clone()));
            }
        }
    }
    out
}

/// The key of a measured value in [`CheckValues`]' inner map: the region (`""` when global),
/// then `/service` when bound to one.
pub(crate) fn value_key(region: Option<&str>, service: Option<&str>) -> String {
    let region = region.unwrap_or("");
    match service {
        Some(s) => format!("{region}/{s}"),
        None => region.to_string(),
    }
}

/// The services a plan moves, in plan order.
fn plan_services(plan: &Plan) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<String> = Vec::new();
    for step in &plan.steps {
        if seen.insert(step.service.as_str()) {
            out.push(step.service.to_string());
        }
    }
    out
}

/// Fetches and evaluates one check; `baseline: None` before the run means "compare with
/// the value itself".
async fn evaluate_once(
    ex: &Executor<'_>,
    check: &Check,
    scope: &Scope<'_>,
    baseline: Option<f64>,
    own_baseline: bool,
) -> CheckResult {
    let span = tracing::info_span!(
        "check",
        name = %check.name,
        region = scope.region.unwrap_or(""),
        service = scope.service.unwrap_or("")
    );
    let value = ex.source.fetch(check, scope).instrument(span).await;
    let baseline = if own_baseline {
        value.as_ref().ok().copied()
    } else {
        baseline
    };
    let result = evaluate(check, scope, value, baseline);
    ex.progress.event(&ProgressEvent::Check(result.clone()));
    result
}

/// Evaluates every check once before the run. A ratio bound is evaluated against the value
/// itself (the steady state is its own baseline), so only absolute bounds and missing data
/// can fail here. Returns the results and the values measured.
pub(crate) async fn before_run(ex: &Executor<'_>, plan: &Plan) -> (Vec<CheckResult>, CheckValues) {
    let regions = destinations(plan);
    let services = plan_services(plan);
    let guard_checks = guards::checks(ex.topology, &ex.playbook.guards, &services);
    let scopes = scopes(
        ex.playbook.checks.iter().chain(&guard_checks),
        &regions,
        &services,
    );
    // One round: every fetch may share a read started after this instant.
    let asked = Instant::now();
    let results = join_all(scopes.iter().map(|(check, region, service)| {
        let scope = Scope::of(region.as_deref(), service.as_deref(), asked);
        async move { evaluate_once(ex, check, &scope, None, true).await }
    }))
    .await;
    let mut values = CheckValues::new();
    for result in &results {
        if let Some(v) = result.value {
            values.entry(result.name.clone()).or_default().insert(
                value_key(result.region.as_deref(), result.service.as_deref()),
                v,
            );
        }
    }
    (results, values)
}

/// Evaluates every check after a step group (`services`: the group's, bound to checks that
/// use `{{service}}` without `service:`): a check with `consecutive: N` needs N passing
/// evaluations `interval` apart (scaled); its first failure fails it. Returns the last
/// evaluation of each (check, region), or why the wait between evaluations was cut short.
pub(crate) async fn after_step(
    ex: &Executor<'_>,
    plan: &Plan,
    services: &[String],
    baseline: &CheckValues,
    clock: &Clock,
) -> Result<Vec<CheckResult>, Abort> {
    let regions = destinations(plan);
    let guard_checks = guards::checks(ex.topology, &ex.playbook.guards, services);
    let scopes = scopes(
        ex.playbook.checks.iter().chain(&guard_checks),
        &regions,
        services,
    );
    let asked = Instant::now();
    let results = join_all(scopes.iter().map(|(check, region, service)| async move {
        let scope = Scope::of(region.as_deref(), service.as_deref(), asked);
        let base = baseline
            .get(&check.name)
            .and_then(|by_key| by_key.get(&value_key(scope.region, scope.service)))
            .copied();
        let mut last = evaluate_once(ex, check, &scope, base, false).await;
        for _ in 1..check.consecutive.max(1) {
            if !last.ok {
                break;
            }
            let wait = clock.scaled(check.interval);
            ex.progress.event(&ProgressEvent::Waiting {
                what: "interval",
                duration: wait,
            });
            clock.sleep(wait).await?;
            let again = Scope {
                asked: Some(Instant::now()),
                ..scope
            };
            last = evaluate_once(ex, check, &again, base, false).await;
        }
        Ok::<_, Abort>(last)
    }))
    .await;
    results.into_iter().collect()
}

/// `check "p99" in us-west-2: value 300 (threshold <= 250)`, for abort reasons.
pub(crate) fn describe_failure(result: &CheckResult) -> String {
    let mut scope = result
        .region
        .as_deref()
        .map_or_else(String::new, |r| format!(" in {r}"));
    if let Some(service) = &result.service {
        scope.push_str(&format!(" for {service}"));
    }
    let value = result
        .value
        .map_or_else(|| "no value".to_string(), |v| format!("value {v}"));
    let detail = result
        .detail
        .as_deref()
        .map_or_else(String::new, |d| format!(": {d}"));
    format!(
        "check \"{}\"{scope} failed: {value} (threshold {}){detail}",
        result.name, result.threshold
    )
}
