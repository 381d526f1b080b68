//! The Markdown report: summary first (one screen), charts linked, then the detail.

use std::fmt::Write;

use super::facts::{Facts, StepRow, Verdict, describe, pct, room};
use super::{Chart, few, fmt_secs, time_of};

/// Findings listed in the summary; the rest follow below it.
pub const SUMMARY_FINDINGS: usize = 5;

/// Renders the report; `charts` is (link prefix, charts) when the SVG files are written.
pub fn render(facts: &Facts<'_>, charts: Option<(&str, &[Chart])>) -> String {
    let mut out = String::new();
    summary(&mut out, facts);
    if let Some((prefix, charts)) = charts
        && !charts.is_empty()
    {
        let _ = writeln!(out, "## Charts\n");
        for chart in charts {
            let _ = writeln!(out, "![{}]({prefix}{}.svg)\n", chart.title, chart.name);
        }
    }
    if !facts.findings.is_empty() {
        let _ = writeln!(out, "## Findings\n");
        for f in &facts.findings {
            let _ = writeln!(out, "- {}", finding(f));
        }
        let _ = writeln!(out);
    }
    residuals(&mut out, facts);
    steps(&mut out, facts);
    events(&mut out, facts);
    details(&mut out, facts);
    out
}

/// `**held**: every step's checks passed`.
pub fn verdict_text(v: &Verdict) -> String {
    match v {
        Verdict::Held => "**held**: every step's checks passed".to_string(),
        Verdict::Refuted { step, check } => format!("**refuted** at {step} by {check}"),
        Verdict::NotTested { why } => format!("**not tested**: {why}"),
    }
}

/// `step 3 · near threshold: ...`.
pub fn finding(f: &super::facts::Finding) -> String {
    match f.step {
        Some(n) => format!("**{}** (step {n}): {}", f.kind, f.text),
        None => format!("**{}**: {}", f.kind, f.text),
    }
}

/// The phases in fixed order, `—` for those that did not happen.
pub fn phases_text(facts: &Facts<'_>) -> String {
    [
        "pre-flight",
        "prescale",
        "evacuate",
        "hold",
        "restore",
        "rollback",
    ]
    .iter()
    .filter_map(|name| {
        let total: Vec<f64> = facts
            .phases
            .iter()
            .filter(|p| p.name == *name)
            .map(|p| (p.end - p.start).max(0.0))
            .collect();
        match (total.is_empty(), *name) {
            (true, "rollback") => None,
            (true, _) => Some(format!("{name} —")),
            (false, _) => Some(format!("{name} {}", fmt_secs(total.iter().sum()))),
        }
    })
    .collect::<Vec<_>>()
    .join(" · ")
}

/// The summary rows, shared with the HTML report: (label, Markdown-ish text).
pub fn summary_rows(facts: &Facts<'_>) -> Vec<(&'static str, String)> {
    let mut rows = Vec::new();
    let Some(first) = facts.logs.first() else {
        return rows;
    };
    let h = &first.header;
    rows.push(("outcome", format!("**{}**", facts.outcome)));
    rows.push((
        "runs",
        facts
            .logs
            .iter()
            .map(|l| {
                format!(
                    "`{}` ({}: {})",
                    l.header.id,
                    l.header.operation,
                    super::facts::state_words(l.state)
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
    ));
    rows.push((
        "who",
        format!(
            "`kong {}` on {} (pid {}), backend `{}`{}",
            h.command,
            h.host,
            h.pid,
            h.backend,
            if h.dry_run { ", dry run" } else { "" }
        ),
    ));
    if let Some(operator) = &h.operator {
        rows.push(("operator", operator.clone()));
    }
    if let Some(forced) = &h.forced {
        rows.push((
            "forced",
            format!(
                "run {} (`--force`), reason: {}",
                forced.overrode,
                forced.reason.replace('|', "\\|")
            ),
        ));
    }
    rows.push((
        "where",
        format!(
            "region `{}`; topology `{}` ({}), playbook `{}` ({})",
            h.region,
            h.topology,
            h.topology_path,
            first.plan().playbook,
            h.playbook_path
        ),
    ));
    let last_end = facts.logs.iter().rev().find_map(|l| l.finished_at());
    rows.push((
        "when",
        match last_end {
            Some(end) => format!(
                "{} → {} ({})",
                h.started_at,
                time_of(end),
                fmt_secs(facts.end)
            ),
            None => format!("{} (not finished)", h.started_at),
        },
    ));
    rows.push(("phases", phases_text(facts)));
    rows.push((
        "drained",
        match facts.drained_after {
            Some(s) => format!(
                "{} drained {} after the first change",
                h.region,
                fmt_secs(s)
            ),
            None => format!("{} was not drained", h.region),
        },
    ));
    rows.push((
        "API calls",
        format!("{}, {} retried", facts.api_calls, facts.retries),
    ));
    for (reason, step, kind) in &facts.aborts {
        let at = step.map(|n| format!(" (step {n})")).unwrap_or_default();
        rows.push(("abort", format!("{kind}{at}: {reason}")));
    }
    if !facts.aborts.is_empty() {
        let mut by_kind: std::collections::BTreeMap<&str, usize> = Default::default();
        for (_, _, kind) in &facts.aborts {
            *by_kind.entry(kind).or_default() += 1;
        }
        rows.push((
            "aborts by kind",
            by_kind
                .iter()
                .map(|(kind, n)| format!("{kind}: {n}"))
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    for (reason, left) in &facts.rollback_failures {
        rows.push((
            "rollback",
            format!("**failed**: {reason}; not at baseline: {}", left.join(", ")),
        ));
    }
    if let Some(c) = &facts.closest {
        rows.push((
            "closest check",
            format!(
                "{} vs {} ({}) at step {}",
                describe(&c.result),
                c.result.threshold,
                room(c.margin),
                c.step
            ),
        ));
    }
    if !facts.peaks.is_empty() {
        rows.push((
            "peak utilization",
            facts
                .peaks
                .iter()
                .map(|p| {
                    let at = p.step.map(|n| format!(" at step {n}")).unwrap_or_default();
                    let mark = if p.peak > p.limit { " **over**" } else { "" };
                    format!("{} {} of {}{at}{mark}", p.region, pct(p.peak), pct(p.limit))
                })
                .collect::<Vec<_>>()
                .join(" · "),
        ));
    }
    rows
}

/// The kind of an abort, from its reason: for journals written before aborts recorded
/// their kind.
pub fn abort_kind(reason: &str) -> &'static str {
    let r = reason.to_ascii_lowercase();
    if r.starts_with("residual traffic") {
        "residual traffic"
    } else if r.contains("interrupted") || r.contains("ctrl-c") {
        "interrupted"
    } else if r.contains("deadline") {
        "deadline"
    } else if r.contains("drift") || r.contains("read-back mismatch") {
        "drift"
    } else if r.contains("approval") {
        "approval"
    } else if r.contains("check") || r.contains("above the maximum") || r.contains("below the") {
        "check failed"
    } else if r.contains("attempt") || r.contains("apply") || r.contains("cannot read") {
        "API error"
    } else {
        "abort"
    }
}

fn summary(out: &mut String, facts: &Facts<'_>) {
    let _ = writeln!(out, "# {}: {}\n", facts.title, facts.outcome);
    match &facts.hypothesis {
        Some(h) => {
            let _ = writeln!(out, "**Hypothesis:** {h}  ");
        }
        None => {
            let _ = writeln!(
                out,
                "**Hypothesis:** none stated (the playbook's checks are the steady state)  "
            );
        }
    }
    let _ = writeln!(out, "**Verdict:** {}\n", verdict_text(&facts.verdict));
    let _ = writeln!(out, "| summary | |\n| --- | --- |");
    for (label, text) in summary_rows(facts) {
        let _ = writeln!(out, "| {label} | {} |", cell(&text));
    }
    let _ = writeln!(out);
    if !facts.findings.is_empty() {
        let _ = writeln!(out, "**Findings** ({}):\n", facts.findings.len());
        for f in facts.findings.iter().take(SUMMARY_FINDINGS) {
            let _ = writeln!(out, "- {}", finding(f));
        }
        if facts.findings.len() > SUMMARY_FINDINGS {
            let _ = writeln!(
                out,
                "- … {} more below",
                facts.findings.len() - SUMMARY_FINDINGS
            );
        }
        let _ = writeln!(out);
    }
}

/// A table cell: no line breaks, no bare pipes.
fn cell(s: &str) -> String {
    s.replace('\n', " ").replace('|', "\\|")
}

/// The columns of the step table (Markdown and HTML).
pub const STEP_COLUMNS: [&str; 9] = [
    "#",
    "time",
    "run",
    "wave",
    "%",
    "services",
    "checks",
    "API calls",
    "took",
];

/// One step's cells of the step table, as inline Markdown text (`code`, **bold**).
pub fn step_cells(s: &StepRow) -> [String; 9] {
    [
        s.number.to_string(),
        time_of(&s.at),
        s.operation.to_string(),
        s.wave.to_string(),
        s.percent.to_string(),
        few(&s.services, 4),
        checks_text(s),
        s.calls_text(),
        fmt_secs((s.end - s.start).max(0.0)),
    ]
}

/// `14 ok` or `13 ok, 1 failed: ...`.
pub fn checks_text(step: &StepRow) -> String {
    if step.results.is_empty() {
        return if step.aborted {
            "not checked (aborted)".to_string()
        } else {
            "—".to_string()
        };
    }
    let ok = step.results.iter().filter(|r| r.ok).count();
    let failed: Vec<String> = step
        .results
        .iter()
        .filter(|r| !r.ok)
        .map(|r| {
            let detail = r
                .detail
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            format!("{} vs {}{detail}", describe(r), r.threshold)
        })
        .collect();
    if failed.is_empty() {
        format!("{ok} ok")
    } else {
        format!(
            "{ok} ok, **{} failed**: {}",
            failed.len(),
            failed.join("; ")
        )
    }
}

fn steps(out: &mut String, facts: &Facts<'_>) {
    if facts.steps.is_empty() {
        return;
    }
    let _ = writeln!(out, "## Steps\n");
    let _ = writeln!(
        out,
        "| {} |\n|{}",
        STEP_COLUMNS.join(" | "),
        " --- |".repeat(STEP_COLUMNS.len())
    );
    for s in &facts.steps {
        let cells = step_cells(s).map(|c| cell(&c));
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    let _ = writeln!(out);
}

fn events(out: &mut String, facts: &Facts<'_>) {
    if facts.events.is_empty() {
        return;
    }
    let _ = writeln!(out, "## Events\n");
    let _ = writeln!(out, "| time | event | detail |\n| --- | --- | --- |");
    for e in &facts.events {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            time_of(&e.at),
            e.what,
            cell(&e.detail)
        );
    }
    let _ = writeln!(out);
}

fn residuals(out: &mut String, facts: &Facts<'_>) {
    if facts.residuals.is_empty() {
        return;
    }
    let _ = writeln!(out, "## Residual traffic\n");
    for (when, source, region, max, services) in &facts.residuals {
        let over = services
            .iter()
            .filter(|s| s.share.is_none_or(|v| v > *max))
            .count();
        let _ = writeln!(
            out,
            "{} services measured in {region} {when} (from {source}); {over} above {}.\n",
            services.len(),
            pct(*max)
        );
        let listed = crate::journal::worst_residual_first(services);
        let _ = writeln!(
            out,
            "| service | residual share | req/s |\n| --- | --- | --- |"
        );
        for s in listed.iter().take(10) {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                s.service,
                s.share.map(pct).unwrap_or_else(|| "no data".to_string()),
                s.rps
                    .map(|v| super::num((v * 10.0).round() / 10.0))
                    .or_else(|| s.error.clone())
                    .unwrap_or_default()
            );
        }
        if listed.len() > 10 {
            let _ = writeln!(out, "| … {} more | | |", listed.len() - 10);
        }
        let _ = writeln!(out);
    }
}

fn details(out: &mut String, facts: &Facts<'_>) {
    let checked: Vec<&StepRow> = facts
        .steps
        .iter()
        .filter(|s| !s.results.is_empty())
        .collect();
    if checked.is_empty() {
        return;
    }
    let _ = writeln!(out, "## Check values\n");
    let _ = writeln!(
        out,
        "<details><summary>Every check evaluation of every step ({} evaluations)</summary>\n",
        checked.iter().map(|s| s.results.len()).sum::<usize>()
    );
    let _ = writeln!(
        out,
        "| step | check | scope | value | threshold | ok |\n| --- | --- | --- | --- | --- | --- |"
    );
    for s in checked {
        for r in &s.results {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {}{} |",
                s.number,
                cell(&r.name),
                cell(&super::facts::scope_of(r)),
                r.value.map(super::num).unwrap_or_else(|| "no data".into()),
                cell(&r.threshold),
                if r.ok { "ok" } else { "**failed**" },
                r.detail
                    .as_deref()
                    .map(|d| format!(": {}", cell(d)))
                    .unwrap_or_default()
            );
        }
    }
    let _ = writeln!(out, "\n</details>\n");
    if let Some(values) = facts.logs.first().and_then(|l| l.checks_baseline())
        && !values.is_empty()
    {
        let _ = writeln!(
            out,
            "<details><summary>Checks measured before the first change</summary>\n"
        );
        let _ = writeln!(out, "| check | region | value |\n| --- | --- | --- |");
        for (check, by_region) in values {
            for (region, v) in by_region {
                let region = if region.is_empty() { "global" } else { region };
                let _ = writeln!(out, "| {} | {region} | {} |", cell(check), super::num(*v));
            }
        }
        let _ = writeln!(out, "\n</details>");
    }
}
