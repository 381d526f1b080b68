//! The Markdown write-up of one run (or of a drill's two runs), built only from the journal,
//! so it can be produced after a crash too: `kong report RUN`, and the `report.md` every run
//! leaves next to its journal.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::journal::{CheckResult, Record, RunLog};
use crate::model::Topology;

/// The time between two RFC 3339 times, as a person writes it, when both parse.
fn time_between(from: &str, to: &str) -> Option<String> {
    let a: jiff::Timestamp = from.parse().ok()?;
    let b: jiff::Timestamp = to.parse().ok()?;
    let ms = (b.as_millisecond() - a.as_millisecond()).max(0);
    Some(crate::model::format_duration(
        std::time::Duration::from_millis(ms as u64),
    ))
}

fn time_of(at: &str) -> String {
    // 2026-11-23T09:03:12.345Z -> 09:03:12
    at.split('T')
        .nth(1)
        .map(|t| t.chars().take(8).collect())
        .unwrap_or_else(|| at.to_string())
}

fn fmt_shares(shares: &BTreeMap<String, f64>) -> String {
    shares
        .iter()
        .map(|(r, s)| format!("{r} {:.1}%", s * 100.0))
        .collect::<Vec<_>>()
        .join(", ")
}

fn fmt_check(c: &CheckResult) -> String {
    let mark = if c.ok { "✅" } else { "❌" };
    format!("{mark} {}", super::output::check_line(c))
}

/// The Markdown report of one or more runs (a drill passes its evacuation and restore).
pub fn markdown(logs: &[RunLog], topology: Option<&Topology>) -> String {
    let mut out = String::new();
    for log in logs {
        section(&mut out, log, topology);
    }
    out
}

fn section(out: &mut String, log: &RunLog, topology: Option<&Topology>) {
    let h = &log.header;
    let plan = log.plan();
    let _ = writeln!(
        out,
        "# kong {} {} — run `{}`\n",
        h.operation, h.region, h.id
    );
    let _ = writeln!(out, "| | |\n| --- | --- |");
    let _ = writeln!(
        out,
        "| command | `{}`{} |",
        h.command,
        if h.dry_run { " (dry run)" } else { "" }
    );
    let _ = writeln!(out, "| backend | `{}` |", h.backend);
    let _ = writeln!(out, "| topology | `{}` ({}) |", h.topology, h.topology_path);
    let _ = writeln!(
        out,
        "| playbook | `{}` ({}) |",
        plan.playbook, h.playbook_path
    );
    let _ = writeln!(out, "| host | {} (pid {}) |", h.host, h.pid);
    let _ = writeln!(out, "| started | {} |", h.started_at);
    if let Some(end) = log.finished_at() {
        let dur = time_between(&h.started_at, end).unwrap_or_default();
        let _ = writeln!(out, "| finished | {end} ({dur}) |");
    }
    let _ = writeln!(out, "| outcome | **{}** |", log.state.describe());
    if let Some(reason) = log.aborted_reason() {
        let _ = writeln!(out, "| abort reason | {reason} |");
    }
    let _ = writeln!(out, "| waves | {} |", plan.waves.len());
    let _ = writeln!(out, "| API calls | {} |", log.api_calls_total());
    let _ = writeln!(out);

    // Shares of each service before and after each step group, from the plan.
    let mut before: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    if let Some(topology) = topology {
        for service in plan.final_shares.keys() {
            if let Some(svc) = topology.services.get(service) {
                before.insert(
                    service.clone(),
                    crate::plan::served_shares(topology, svc, &plan.baseline),
                );
            }
        }
    }
    // Each step's shares by (service, wave, percent), indexed once rather than searched
    // for on every row (a big plan has tens of thousands of steps).
    let mut step_shares: StepShares = BTreeMap::new();
    for step in &plan.steps {
        step_shares
            .entry((step.service.as_str(), step.wave, step.percent))
            .or_insert(&step.shares);
    }
    let _ = writeln!(out, "## Timeline\n");
    let _ = writeln!(
        out,
        "| time | step | wave | % | services | shares before → after | checks | API calls | took |"
    );
    let _ = writeln!(
        out,
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    let mut intent_at: BTreeMap<usize, String> = BTreeMap::new();
    let mut calls: BTreeMap<usize, u32> = BTreeMap::new();
    let mut pending: BTreeMap<usize, (usize, u32, Vec<String>)> = BTreeMap::new();
    let mut rows: Vec<String> = Vec::new();
    for record in &log.records {
        match record {
            Record::StepIntent {
                at,
                index,
                wave,
                percent,
                services,
                ..
            } => {
                intent_at.insert(*index, at.clone());
                pending.insert(*index, (*wave, *percent, services.clone()));
            }
            Record::StepApplied {
                index, api_calls, ..
            } => {
                calls.insert(*index, *api_calls);
            }
            Record::StepChecked { at, index, results } => {
                if let Some((wave, percent, services)) = pending.remove(index) {
                    rows.push(row(
                        &step_shares,
                        &mut before,
                        intent_at.get(index).map(String::as_str),
                        Some(at),
                        *index,
                        wave,
                        percent,
                        &services,
                        results,
                        calls.get(index).copied(),
                    ));
                }
            }
            Record::Aborted { at, reason } => {
                for (index, (wave, percent, services)) in std::mem::take(&mut pending) {
                    rows.push(row(
                        &step_shares,
                        &mut before,
                        intent_at.get(&index).map(String::as_str),
                        Some(at),
                        index,
                        wave,
                        percent,
                        &services,
                        &[],
                        calls.get(&index).copied(),
                    ));
                }
                rows.push(format!(
                    "| {} | **abort** | | | | {reason} | | | |",
                    time_of(at)
                ));
            }
            Record::Approved { at, percent, by } => {
                rows.push(format!(
                    "| {} | approval | | >{percent} | | approved by {by} | | | |",
                    time_of(at)
                ));
            }
            Record::Paused { at } => {
                rows.push(format!("| {} | **paused** | | | | | | | |", time_of(at)))
            }
            Record::Resumed { at, host, pid } => rows.push(format!(
                "| {} | resumed | | | | by {host} (pid {pid}) | | | |",
                time_of(at)
            )),
            Record::RollbackIntent { at, weights } => rows.push(format!(
                "| {} | **rollback** | | | | restoring {} dials to baseline | | | |",
                time_of(at),
                weights.len()
            )),
            Record::RollbackDone { at } => rows.push(format!(
                "| {} | rollback done | | | | every touched dial read back at baseline | | | |",
                time_of(at)
            )),
            Record::PrescaleIntent { at, groups } => rows.push(format!(
                "| {} | prescale | | | | {} | | | |",
                time_of(at),
                capacity_changes(groups)
            )),
            Record::PrescaleDone { at } => rows.push(format!(
                "| {} | prescale done | | | | enough instances in service | | | |",
                time_of(at)
            )),
            Record::CapacityRestoreIntent { at, groups } => rows.push(format!(
                "| {} | capacity restore | | | | {} | | | |",
                time_of(at),
                capacity_changes(groups)
            )),
            Record::CapacityRestored { at } => rows.push(format!(
                "| {} | capacity restored | | | | groups back at their original desired capacity | | | |",
                time_of(at)
            )),
            Record::RollbackFailed { at, reason, left } => rows.push(format!(
                "| {} | **rollback failed** | | | | {reason}; left: {} | | | |",
                time_of(at),
                left.join(", ")
            )),
            _ => {}
        }
    }
    for (index, (wave, percent, services)) in pending {
        rows.push(row(
            &step_shares,
            &mut before,
            intent_at.get(&index).map(String::as_str),
            None,
            index,
            wave,
            percent,
            &services,
            &[],
            calls.get(&index).copied(),
        ));
    }
    for r in rows {
        let _ = writeln!(out, "{r}");
    }
    let _ = writeln!(out);
    if let Some(values) = log.checks_baseline()
        && !values.is_empty()
    {
        let _ = writeln!(out, "## Checks measured before the first change\n");
        let _ = writeln!(out, "| check | region | value |\n| --- | --- | --- |");
        for (check, by_region) in values {
            for (region, v) in by_region {
                let region = if region.is_empty() {
                    "(global)"
                } else {
                    region
                };
                let _ = writeln!(out, "| {check} | {region} | {v:.4} |");
            }
        }
        let _ = writeln!(out);
    }
}

/// A plan's step shares by (service, wave, percent).
type StepShares<'p> = BTreeMap<(&'p str, usize, u32), &'p BTreeMap<crate::plan::Name, f64>>;

#[allow(clippy::too_many_arguments)]
fn row(
    step_shares: &StepShares<'_>,
    before: &mut BTreeMap<String, BTreeMap<String, f64>>,
    started: Option<&str>,
    ended: Option<&String>,
    index: usize,
    wave: usize,
    percent: u32,
    services: &[String],
    results: &[CheckResult],
    api_calls: Option<u32>,
) -> String {
    let mut shares = Vec::new();
    for service in services {
        let after: Option<BTreeMap<String, f64>> = step_shares
            .get(&(service.as_str(), wave, percent))
            .map(|shares| shares.iter().map(|(r, v)| (r.to_string(), *v)).collect());
        if let Some(after) = after {
            let prev = before
                .get(service.as_str())
                .map(fmt_shares)
                .unwrap_or_else(|| "baseline".to_string());
            shares.push(format!("{service}: {prev} → {}", fmt_shares(&after)));
            // The next step of this service starts from here.
            before.insert(service.clone(), after);
        }
    }
    let checks = if results.is_empty() {
        "—".to_string()
    } else {
        results
            .iter()
            .map(fmt_check)
            .collect::<Vec<_>>()
            .join("<br>")
    };
    let took = match (started, ended) {
        (Some(s), Some(e)) => time_between(s, e).unwrap_or_default(),
        _ => String::new(),
    };
    format!(
        "| {} | {} | {wave} | {percent} | {} | {} | {checks} | {} | {took} |",
        started.map(time_of).unwrap_or_default(),
        index + 1,
        services.join(", "),
        shares.join("<br>"),
        api_calls.map(|c| c.to_string()).unwrap_or_default(),
    )
}

/// `group web in us-west-2: desired 4 -> 9, ...`.
fn capacity_changes(groups: &[crate::journal::CapacityChange]) -> String {
    if groups.is_empty() {
        return "no group needed more instances".to_string();
    }
    groups
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
