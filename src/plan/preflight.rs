//! Pre-flight projection: the load each region of a planned service would serve after the
//! last step, against its capacity under `max_utilization`; and the notes saying which
//! region limits a move. Pure: no I/O.

use std::collections::BTreeMap;

use crate::model::{Region, Service, Topology};

use super::{Operation, Plan, PreflightRow, UNBOUNDED_UTILIZATION};

/// Slack for float noise when comparing projected load with the allowed load.
const EPSILON: f64 = 1e-9;

/// Rows for one service: evacuate covers every destination (each region other than the
/// evacuated one that has capacity or would receive traffic); restore covers every region.
pub(crate) fn rows(
    topology: &Topology,
    service: &Service,
    final_shares: &BTreeMap<Region, f64>,
    operation: Operation,
    region: &str,
) -> Vec<PreflightRow> {
    let total_load = service.total_load();
    let max_utilization = service.max_utilization(topology);
    final_shares
        .iter()
        .filter(|(r, share)| match operation {
            Operation::Evacuate => {
                r.as_str() != region && (service.capacity.contains_key(*r) || **share > 0.0)
            }
            Operation::Restore => true,
        })
        .map(|(r, share)| {
            let projected_load = share * total_load;
            let capacity = service.capacity.get(r).copied().unwrap_or(0.0);
            let utilization = if capacity > 0.0 {
                projected_load / capacity
            } else if projected_load > EPSILON {
                UNBOUNDED_UTILIZATION
            } else {
                0.0
            };
            let mut row = PreflightRow {
                service: service.name.clone(),
                region: r.clone(),
                projected_load,
                capacity,
                utilization,
                max_utilization,
                ok: false,
                load_source: Default::default(),
                capacity_source: Default::default(),
            };
            row.ok = row.fits();
            row
        })
        .collect()
}

/// "catalog: us-west-2 limits the move: 78% of 75% allowed": the destination with the least
/// relative headroom after the last step, among those receiving traffic.
pub(crate) fn limit_note(service: &str, rows: &[PreflightRow]) -> Option<String> {
    let tightest = rows
        .iter()
        .filter(|row| row.projected_load > EPSILON)
        .max_by(|a, b| {
            let ra = a.utilization / a.max_utilization;
            let rb = b.utilization / b.max_utilization;
            // On equal pressure the first region by name wins (max_by keeps the last).
            ra.total_cmp(&rb).then(b.region.cmp(&a.region))
        })?;
    if tightest.capacity <= 0.0 {
        return Some(format!(
            "{service}: {} has no capacity for the {:.0} req/s it would receive",
            tightest.region, tightest.projected_load
        ));
    }
    Some(format!(
        "{service}: {} limits the move: {:.0}% of {:.0}% allowed",
        tightest.region,
        tightest.utilization * 100.0,
        tightest.max_utilization * 100.0
    ))
}

/// The pre-flight rows of `plan` projected again on `topology`'s load and capacity (e.g. the
/// live figures of now applied): the same final shares, the same rows, today's numbers.
///
/// Rows come in the planner's order (services in topology order, then regions); services of
/// the plan the topology lacks have no row.
pub fn reproject(plan: &Plan, topology: &Topology) -> Vec<PreflightRow> {
    topology
        .services
        .values()
        .filter_map(|service| {
            let shares = plan.final_shares.get(&service.name)?;
            Some(rows(
                topology,
                service,
                shares,
                plan.operation,
                &plan.region,
            ))
        })
        .flatten()
        .collect()
}

/// One sentence per failing row: `catalog in us-west-2: projected 9100 req/s on capacity
/// 12000 is 75.8% > 75.0% allowed`.
pub fn failures(rows: &[PreflightRow]) -> Vec<String> {
    rows.iter()
        .filter(|r| !r.ok)
        .map(|r| {
            format!(
                "{} in {}: projected {:.0} req/s on capacity {:.0} is {:.1}% > {:.1}% allowed",
                r.service,
                r.region,
                r.projected_load,
                r.capacity,
                r.utilization * 100.0,
                r.max_utilization * 100.0
            )
        })
        .collect()
}
