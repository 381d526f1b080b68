//! The Markdown rendering, meant to be posted as a pull-request comment and approved as is.

use std::fmt::Write as _;

use super::text::figure_mark;
use super::{load, no_changes, percent, share_regions, steps_by_wave, summary};
use crate::plan::{Plan, PreflightRow};

mod within;

pub use within::markdown_within;

/// Renders a plan for a pull-request comment: summary, pre-flight table, one section per
/// wave with a table per step, final shares, notes.
pub fn markdown(plan: &Plan) -> String {
    // About 80 bytes a change row, 60 a table row: one allocation for big plans.
    let rows = plan.preflight.len() + plan.final_shares.len() + plan.steps.len() * 3;
    let mut out = String::with_capacity(super::change_count(plan) * 80 + rows * 60 + 1024);
    push_head(&mut out, plan);
    preflight(&mut out, plan);
    if !plan.is_empty() {
        waves(&mut out, plan);
    }
    final_shares(&mut out, plan);
    if !plan.notes.is_empty() {
        let _ = writeln!(out, "\n### Notes\n");
        for note in &plan.notes {
            let _ = writeln!(out, "- {}", note.replace('\n', " "));
        }
    }
    out
}

/// The title, the summary line, the files' hashes and, for an empty plan, why it is empty.
fn head(plan: &Plan) -> String {
    let mut out = String::new();
    push_head(&mut out, plan);
    out
}

fn push_head(out: &mut String, plan: &Plan) {
    let _ = writeln!(out, "## kong plan: {} {}\n", plan.operation, plan.region);
    let _ = writeln!(
        out,
        "Topology `{}`, playbook `{}`: {}. Pre-flight: {}",
        cell(&plan.topology),
        cell(&plan.playbook),
        summary(plan),
        verdict(plan),
    );
    if !plan.topology_hash.is_empty() || !plan.playbook_hash.is_empty() {
        let _ = writeln!(
            out,
            "\nsha256: topology `{}`, playbook `{}`",
            or_dash(&plan.topology_hash),
            or_dash(&plan.playbook_hash)
        );
    }
    if plan.is_empty() {
        let _ = writeln!(out, "\n**{}**", no_changes(plan));
    }
}

fn verdict(plan: &Plan) -> String {
    let failed = plan.preflight.iter().filter(|row| !row.fits()).count();
    if failed == 0 {
        "✅ every destination stays within its limit.".into()
    } else {
        format!("❌ {failed} destination(s) over the limit.")
    }
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

/// Escapes what would break a table cell or inline code.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('`', "'").replace('\n', " ")
}

/// One pre-flight row of the table, its verdict computed from its numbers.
fn push_preflight_row(out: &mut String, row: &PreflightRow) {
    let _ = writeln!(
        out,
        "| {} | {} | {}{} | {}{} | {} | {} | {} |",
        cell(&row.service),
        cell(&row.region),
        load(row.projected_load),
        figure_mark(row.load_source),
        load(row.capacity),
        figure_mark(row.capacity_source),
        percent(row.utilization),
        percent(row.max_utilization),
        if row.fits() { "✅" } else { "❌" },
    );
}

fn preflight(out: &mut String, plan: &Plan) {
    if plan.preflight.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n### Pre-flight\n");
    let _ = writeln!(
        out,
        "Projected load of every destination after the last step.\n"
    );
    let _ = writeln!(
        out,
        "| service | region | projected load | capacity | utilization | limit | ok |"
    );
    let _ = writeln!(out, "| --- | --- | ---: | ---: | ---: | ---: | :---: |");
    for row in &plan.preflight {
        push_preflight_row(out, row);
    }
}

fn waves(out: &mut String, plan: &Plan) {
    for (step, (index, total), opens) in steps_by_wave(plan) {
        if let Some(wave) = opens {
            let members = wave
                .iter()
                .map(|s| format!("`{}`", cell(s)))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(
                out,
                "\n### Wave {} of {}: {members}",
                step.wave + 1,
                plan.waves.len()
            );
        }
        let _ = writeln!(
            out,
            "\n#### `{}` step {index}/{total} ({}%)\n",
            cell(&step.service),
            step.percent
        );
        if step.changes.is_empty() {
            let _ = writeln!(out, "No weight changes.");
            continue;
        }
        let _ = writeln!(out, "| service | dial | member | region | from | to |");
        let _ = writeln!(out, "| --- | --- | --- | --- | ---: | ---: |");
        for c in &step.changes {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                cell(&step.service),
                cell(&c.dial),
                cell(&c.member),
                cell(&c.region),
                c.from,
                c.to,
            );
        }
    }
}

fn final_shares(out: &mut String, plan: &Plan) {
    if plan.final_shares.is_empty() {
        return;
    }
    let regions = share_regions(plan);
    let _ = writeln!(out, "\n### Final shares\n");
    let _ = writeln!(
        out,
        "Share of each service's traffic served per region after the last step.\n"
    );
    let _ = writeln!(
        out,
        "| service | {} |",
        regions
            .iter()
            .map(|r| cell(r))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(out, "| --- |{}", " ---: |".repeat(regions.len()));
    for (service, shares) in &plan.final_shares {
        let values: Vec<String> = regions
            .iter()
            .map(|r| shares.get(*r).map_or_else(|| "-".into(), |s| percent(*s)))
            .collect();
        let _ = writeln!(out, "| {} | {} |", cell(service), values.join(" | "));
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;

    #[test]
    fn markdown_renders_the_whole_plan_stably() {
        let expected = "\
## kong plan: evacuate us-east-1

Topology `streaming`, playbook `evacuate`: 2 waves, 4 steps, 8 weight changes. Pre-flight: ❌ 1 destination(s) over the limit.

### Pre-flight

Projected load of every destination after the last step.

| service | region | projected load | capacity | utilization | limit | ok |
| --- | --- | ---: | ---: | ---: | ---: | :---: |
| catalog | us-west-2 | 3500.0 | 6000.0 | 58.3% | 75.0% | ✅ |
| edge-api | us-west-2 | 8000.0 | 10000.0 | 80.0% | 75.0% | ❌ |

### Wave 1 of 2: `edge-api`

#### `edge-api` step 1/2 (50%)

| service | dial | member | region | from | to |
| --- | --- | --- | --- | ---: | ---: |
| edge-api | edge-api/dns | use1 | us-east-1 | 100 | 38 |
| edge-api | edge-api/alb-use1 | arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/edge-local/73e2d6bc24d8a067 | us-east-1 | 999 | 500 |
| edge-api | edge-api/alb-use1 | arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/edge-to-usw2/9683b2d02a6cabee | us-west-2 | 0 | 499 |

#### `edge-api` step 2/2 (100%)

| service | dial | member | region | from | to |
| --- | --- | --- | --- | ---: | ---: |
| edge-api | edge-api/dns | use1 | us-east-1 | 38 | 0 |
| edge-api | edge-api/alb-use1 | arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/edge-local/73e2d6bc24d8a067 | us-east-1 | 500 | 0 |
| edge-api | edge-api/alb-use1 | arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/edge-to-usw2/9683b2d02a6cabee | us-west-2 | 499 | 999 |

### Wave 2 of 2: `catalog`

#### `catalog` step 1/2 (50%)

| service | dial | member | region | from | to |
| --- | --- | --- | --- | ---: | ---: |
| catalog | catalog/dns | use1 | us-east-1 | 200 | 100 |

#### `catalog` step 2/2 (100%)

| service | dial | member | region | from | to |
| --- | --- | --- | --- | ---: | ---: |
| catalog | catalog/dns | use1 | us-east-1 | 100 | 0 |

### Final shares

Share of each service's traffic served per region after the last step.

| service | us-east-1 | us-west-2 |
| --- | ---: | ---: |
| catalog | 0.0% | 100.0% |
| edge-api | 0.0% | 100.0% |

### Notes

- edge-api: us-west-2 limits the move (80.0% > 75.0%)
";
        assert_eq!(markdown(&fixture::plan()), expected);
    }

    #[test]
    fn empty_plan_says_no_changes_and_has_no_wave_sections() {
        let out = markdown(&fixture::empty());
        assert!(
            out.contains("\n**No changes: evacuate us-east-1 has nothing to do;"),
            "{out}"
        );
        assert!(!out.contains("### Wave"), "{out}");
        assert!(out.contains("Pre-flight: ✅"), "{out}");
    }

    #[test]
    fn pipes_in_cells_are_escaped() {
        assert_eq!(cell("a|b"), "a\\|b");
    }
}
