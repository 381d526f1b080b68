//! The Markdown rendering within a size limit (`kong plan --format markdown --max-chars N`):
//! what a pull-request comment can hold (GitHub refuses comments over 65,536 characters) for
//! any topology, readable first.
//!
//! In order: the summary, the pre-flight rows (failing and tightest first), the waves, the
//! notes, the final shares and the per-step weight tables (inside `<details>`). Each part
//! gets what is left of the limit after the parts before it in priority (summary, waves,
//! pre-flight, then the rest in order); what does not fit is left out with a line saying so
//! (the plan JSON saved with `--out` has everything). Pure: a plan in, a `String` out.

use std::cmp::Ordering;
use std::fmt::Write as _;

use super::super::{percent, plural, share_regions, step_positions};
use super::{cell, head, push_preflight_row};
use crate::plan::{Plan, PreflightRow};

/// Room kept for the line saying what a part left out (every such line is shorter).
const OMISSION: usize = 200;

/// At most this share of what is left after the summary goes to the list of waves, so that
/// pre-flight rows always have room.
const WAVES_SHARE: usize = 3;

/// Renders `plan` as Markdown in at most `max_chars` bytes (hence at most `max_chars`
/// characters): see the module documentation for what goes first.
pub fn markdown_within(plan: &Plan, max_chars: usize) -> String {
    let mut out = head(plan);
    if out.len() > max_chars {
        // Not even the summary fits: cut it, on a character boundary.
        let mut end = max_chars;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        return out;
    }
    let left = max_chars - out.len();
    let waves = if plan.is_empty() {
        String::new()
    } else {
        waves(plan, max_chars, left / WAVES_SHARE)
    };
    let preflight = preflight(plan, max_chars, left - waves.len());
    out.push_str(&preflight);
    out.push_str(&waves);
    let notes = notes(plan, max_chars, max_chars - out.len());
    out.push_str(&notes);
    let shares = final_shares(plan, max_chars, max_chars - out.len());
    out.push_str(&shares);
    if !plan.is_empty() {
        let tables = weight_tables(plan, max_chars, max_chars - out.len());
        out.push_str(&tables);
    }
    debug_assert!(out.len() <= max_chars);
    out
}

/// A part of the output growing within its budget of bytes.
struct Part {
    out: String,
    budget: usize,
}

impl Part {
    fn new(budget: usize) -> Part {
        Part {
            out: String::new(),
            budget,
        }
    }

    /// Appends `s` if it fits with `reserve` bytes still free after it.
    fn push(&mut self, s: &str, reserve: usize) -> bool {
        if self.out.len() + s.len() + reserve <= self.budget {
            self.out.push_str(s);
            true
        } else {
            false
        }
    }

    /// Appends the line saying what was left out (it always fits once room was reserved).
    fn omitted(&mut self, line: &str) {
        self.push(line, 0);
    }
}

/// `_12 pre-flight rows left out to stay within 60000 characters: ..._`.
fn omission(what: &str, max_chars: usize) -> String {
    let line = format!(
        "\n_{what} left out to stay within {max_chars} characters: the plan JSON (`kong plan --out FILE`) has everything._\n"
    );
    debug_assert!(line.len() <= OMISSION, "{line}");
    line
}

/// Failing rows first, then by how close each is to its limit, tightest first.
fn tightest_first(a: &&PreflightRow, b: &&PreflightRow) -> Ordering {
    let pressure = |r: &PreflightRow| {
        if r.max_utilization > 0.0 {
            r.utilization / r.max_utilization
        } else {
            f64::MAX
        }
    };
    a.fits()
        .cmp(&b.fits())
        .then(pressure(b).total_cmp(&pressure(a)))
        .then_with(|| a.service.cmp(&b.service))
        .then_with(|| a.region.cmp(&b.region))
}

fn preflight(plan: &Plan, max_chars: usize, budget: usize) -> String {
    let mut part = Part::new(budget);
    if plan.preflight.is_empty() {
        return part.out;
    }
    let heading = "\n### Pre-flight\n\nProjected load of every destination after the last step, failing and tightest first.\n\n| service | region | projected load | capacity | utilization | limit | ok |\n| --- | --- | ---: | ---: | ---: | ---: | :---: |\n";
    let mut rows: Vec<&PreflightRow> = plan.preflight.iter().collect();
    rows.sort_by(tightest_first);
    if !part.push(heading, OMISSION) {
        part.omitted(&omission(
            &plural(rows.len(), "pre-flight row", "pre-flight rows"),
            max_chars,
        ));
        return part.out;
    }
    let mut line = String::new();
    for (i, row) in rows.iter().enumerate() {
        line.clear();
        push_preflight_row(&mut line, row);
        if !part.push(&line, OMISSION) {
            let rest = &rows[i..];
            let failing = rest.iter().filter(|r| !r.fits()).count();
            let what = if failing == 0 {
                format!(
                    "{} (all within their limit)",
                    plural(rest.len(), "more pre-flight row", "more pre-flight rows")
                )
            } else {
                format!(
                    "{} ({failing} failing)",
                    plural(rest.len(), "more pre-flight row", "more pre-flight rows")
                )
            };
            part.omitted(&omission(&what, max_chars));
            break;
        }
    }
    part.out
}

/// One line per wave: its services (as many as fit) and how many steps and changes it has.
fn waves(plan: &Plan, max_chars: usize, budget: usize) -> String {
    let mut part = Part::new(budget);
    let heading = format!(
        "\n### Waves\n\nServices of a wave move concurrently; wave by wave, {}.\n\n",
        plural(plan.waves.len(), "wave", "waves")
    );
    if !part.push(&heading, OMISSION) {
        return String::new();
    }
    let mut steps = vec![(0usize, 0usize); plan.waves.len()];
    for step in &plan.steps {
        if let Some(s) = steps.get_mut(step.wave) {
            s.0 += 1;
            s.1 += step.changes.len();
        }
    }
    for (i, services) in plan.waves.iter().enumerate() {
        // Each wave left gets an equal share of the room left, so the last one shows too.
        let room = part.budget.saturating_sub(part.out.len() + OMISSION);
        let line_end = part.out.len() + room / (plan.waves.len() - i);
        let (n_steps, n_changes) = steps[i];
        let prefix = format!(
            "- **Wave {} of {}** ({}, {}, {}): ",
            i + 1,
            plan.waves.len(),
            plural(services.len(), "service", "services"),
            plural(n_steps, "step", "steps"),
            plural(n_changes, "weight change", "weight changes"),
        );
        // Room for this wave's line at its shortest, and the omission line of later ones.
        if !part.push(&prefix, OMISSION + 40) {
            part.omitted(&omission(
                &plural(plan.waves.len() - i, "more wave", "more waves"),
                max_chars,
            ));
            return part.out;
        }
        for (k, service) in services.iter().enumerate() {
            let sep = if k == 0 { "" } else { ", " };
            let name = format!("{sep}`{}`", cell(service));
            if part.out.len() + name.len() + 40 > line_end || !part.push(&name, OMISSION + 40) {
                let _ = part.push(&format!(" and {} more", services.len() - k), OMISSION);
                break;
            }
        }
        part.push("\n", OMISSION);
    }
    part.out
}

fn notes(plan: &Plan, max_chars: usize, budget: usize) -> String {
    let mut part = Part::new(budget);
    if plan.notes.is_empty() || !part.push("\n### Notes\n\n", OMISSION) {
        return String::new();
    }
    for (i, note) in plan.notes.iter().enumerate() {
        if !part.push(&format!("- {}\n", note.replace('\n', " ")), OMISSION) {
            part.omitted(&omission(
                &plural(plan.notes.len() - i, "more note", "more notes"),
                max_chars,
            ));
            break;
        }
    }
    part.out
}

const CLOSE: &str = "\n</details>\n";

fn final_shares(plan: &Plan, max_chars: usize, budget: usize) -> String {
    let mut part = Part::new(budget);
    if plan.final_shares.is_empty() {
        return part.out;
    }
    let regions = share_regions(plan);
    let mut heading = format!(
        "\n<details><summary>Final shares of {}</summary>\n\nShare of each service's traffic served per region after the last step.\n\n| service | {} |\n| --- |{}\n",
        plural(plan.final_shares.len(), "service", "services"),
        regions
            .iter()
            .map(|r| cell(r))
            .collect::<Vec<_>>()
            .join(" | "),
        " ---: |".repeat(regions.len())
    );
    if !part.push(&heading, CLOSE.len() + OMISSION) {
        return String::new();
    }
    for (i, (service, shares)) in plan.final_shares.iter().enumerate() {
        heading.clear();
        let values: Vec<String> = regions
            .iter()
            .map(|r| shares.get(*r).map_or_else(|| "-".into(), |s| percent(*s)))
            .collect();
        let _ = writeln!(heading, "| {} | {} |", cell(service), values.join(" | "));
        if !part.push(&heading, CLOSE.len() + OMISSION) {
            part.push(CLOSE, OMISSION);
            part.omitted(&omission(
                &format!(
                    "Final shares of {}",
                    plural(plan.final_shares.len() - i, "more service", "more services")
                ),
                max_chars,
            ));
            return part.out;
        }
    }
    part.push(CLOSE, 0);
    part.out
}

/// Per wave, a `<details>` holding one weight table per step, until the budget ends.
fn weight_tables(plan: &Plan, max_chars: usize, budget: usize) -> String {
    let mut part = Part::new(budget);
    if !part.push("\n### Weight changes\n", OMISSION) {
        part.omitted(&omission(
            &format!(
                "The weight tables of {}",
                plural(plan.steps.len(), "step", "steps")
            ),
            max_chars,
        ));
        return part.out;
    }
    let positions = step_positions(plan);
    let mut open_wave = None;
    let mut table = String::new();
    for (i, (step, (index, total))) in plan.steps.iter().zip(positions).enumerate() {
        if open_wave != Some(step.wave) {
            let close = if open_wave.is_some() { CLOSE } else { "" };
            let changes: usize = plan
                .steps
                .iter()
                .filter(|s| s.wave == step.wave)
                .map(|s| s.changes.len())
                .sum();
            let summary = format!(
                "{close}\n<details><summary>Wave {} of {}: {}</summary>\n",
                step.wave + 1,
                plan.waves.len(),
                plural(changes, "weight change", "weight changes")
            );
            if !part.push(&summary, CLOSE.len() + OMISSION) {
                part.push(close, OMISSION);
                left_out(&mut part, plan.steps.len() - i, plan.steps.len(), max_chars);
                return part.out;
            }
            open_wave = Some(step.wave);
        }
        table.clear();
        let _ = writeln!(
            table,
            "\n#### `{}` step {index}/{total} ({}%)\n",
            cell(&step.service),
            step.percent
        );
        if step.changes.is_empty() {
            table.push_str("No weight changes.\n");
        } else {
            table.push_str(
                "| dial | member | region | from | to |\n| --- | --- | --- | ---: | ---: |\n",
            );
            for c in &step.changes {
                let _ = writeln!(
                    table,
                    "| {} | {} | {} | {} | {} |",
                    cell(&c.dial),
                    cell(&c.member),
                    cell(&c.region),
                    c.from,
                    c.to,
                );
            }
        }
        if !part.push(&table, CLOSE.len() + OMISSION) {
            part.push(CLOSE, OMISSION);
            left_out(&mut part, plan.steps.len() - i, plan.steps.len(), max_chars);
            return part.out;
        }
    }
    if open_wave.is_some() {
        part.push(CLOSE, 0);
    }
    part.out
}

fn left_out(part: &mut Part, missing: usize, steps: usize, max_chars: usize) {
    part.omitted(&omission(
        &format!("The weight tables of {missing} of {steps} steps"),
        max_chars,
    ));
}

#[cfg(test)]
mod tests {
    use super::super::super::fixture;
    use super::*;

    #[test]
    fn a_plan_that_fits_has_every_part_and_tables_in_details() {
        let out = markdown_within(&fixture::plan(), 65_536);
        for part in [
            "## kong plan: evacuate us-east-1",
            "### Pre-flight",
            "### Waves",
            "- **Wave 1 of 2** (1 service, 2 steps, 6 weight changes): `edge-api`",
            "### Notes",
            "<details><summary>Final shares of 2 services</summary>",
            "<details><summary>Wave 2 of 2: 2 weight changes</summary>",
            "| catalog/dns | use1 | us-east-1 | 100 | 0 |",
        ] {
            assert!(out.contains(part), "missing {part}:\n{out}");
        }
        assert!(!out.contains("left out"), "{out}");
        assert_eq!(out.matches("<details>").count(), 3);
        assert_eq!(out.matches("</details>").count(), 3);
    }

    #[test]
    fn failing_rows_come_first() {
        let out = markdown_within(&fixture::plan(), 65_536);
        let failing = out.find("| edge-api | us-west-2 |").unwrap();
        let passing = out.find("| catalog | us-west-2 |").unwrap();
        assert!(failing < passing, "{out}");
    }

    #[test]
    fn never_longer_than_the_limit_and_says_what_is_left_out() {
        let plan = fixture::plan();
        let full = markdown_within(&plan, usize::MAX).len();
        for max in (0..full + 10).step_by(7) {
            let out = markdown_within(&plan, max);
            assert!(out.len() <= max, "{max}: {} bytes\n{out}", out.len());
            if max < full && out.contains("### Pre-flight") {
                assert!(out.contains("left out"), "{max}:\n{out}");
            }
            let opened = out.matches("<details>").count();
            assert_eq!(opened, out.matches("</details>").count(), "{max}:\n{out}");
        }
    }
}
