//! The terraform-like text rendering printed by `kong plan` (the default format).

use std::fmt::Write as _;

use super::{Tenths, load, no_changes, percent, share_regions, step_positions, summary};
use crate::plan::Plan;

/// Renders a plan for a terminal: header, pre-flight table, changes per wave and step
/// (`  ~ edge-api/dns use1 (us-east-1) 100 -> 90`), final shares, notes.
pub fn text(plan: &Plan) -> String {
    // About 60 bytes a change line, 80 a table row: one allocation for big plans.
    let rows = plan.preflight.len() + plan.final_shares.len() + plan.steps.len() * 2;
    let mut out = String::with_capacity(super::change_count(plan) * 60 + rows * 80 + 1024);
    header(&mut out, plan);
    preflight(&mut out, plan);
    if plan.is_empty() {
        let _ = writeln!(out, "\n{}", no_changes(plan));
    } else {
        waves(&mut out, plan);
    }
    final_shares(&mut out, plan);
    notes(&mut out, plan);
    out
}

fn header(out: &mut String, plan: &Plan) {
    let _ = writeln!(out, "kong plan: {} {}", plan.operation, plan.region);
    let _ = writeln!(
        out,
        "  topology  {}{}",
        plan.topology,
        hash(&plan.topology_hash)
    );
    let _ = writeln!(
        out,
        "  playbook  {}{}",
        plan.playbook,
        hash(&plan.playbook_hash)
    );
    let _ = writeln!(out, "  plan      {}", summary(plan));
}

fn hash(h: &str) -> String {
    if h.is_empty() {
        String::new()
    } else {
        format!(" (sha256 {h})")
    }
}

fn preflight(out: &mut String, plan: &Plan) {
    if plan.preflight.is_empty() {
        return;
    }
    let failed = plan.preflight.iter().filter(|row| !row.ok).count();
    let verdict = if failed == 0 {
        "ok, every destination stays within its limit".to_string()
    } else {
        format!("FAILED, {failed} over the limit")
    };
    let _ = writeln!(
        out,
        "\nPre-flight (projected load after the last step): {verdict}"
    );
    let mut table = Table::new(&[
        ("SERVICE", Align::Left),
        ("REGION", Align::Left),
        ("PROJECTED LOAD", Align::Right),
        ("CAPACITY", Align::Right),
        ("UTILIZATION", Align::Right),
        ("LIMIT", Align::Right),
        ("OK", Align::Left),
    ]);
    for row in &plan.preflight {
        table.row(vec![
            row.service.clone(),
            row.region.clone(),
            load(row.projected_load),
            load(row.capacity),
            percent(row.utilization),
            percent(row.max_utilization),
            if row.ok { "ok".into() } else { "FAIL".into() },
        ]);
    }
    table.write(out, "  ");
}

fn waves(out: &mut String, plan: &Plan) {
    let positions = step_positions(plan);
    let mut current_wave = None;
    for (step, (index, total)) in plan.steps.iter().zip(positions) {
        if current_wave != Some(step.wave) {
            current_wave = Some(step.wave);
            let members = plan
                .waves
                .get(step.wave)
                .map(|w| w.join(", "))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "\nWave {} of {}: {members}",
                step.wave + 1,
                plan.waves.len()
            );
        }
        let _ = writeln!(
            out,
            "\n{} step {index}/{total} ({}%)",
            step.service, step.percent
        );
        if step.changes.is_empty() {
            let _ = writeln!(out, "  (no weight changes)");
        }
        for c in &step.changes {
            // `  ~ {dial} {member} ({region}) {from} -> {to}`, without the formatting
            // machinery: this loop runs once per change and dominates big plans.
            for part in ["  ~ ", &c.dial, " ", &c.member, " (", &c.region, ") "] {
                out.push_str(part);
            }
            push_u32(out, c.from);
            out.push_str(" -> ");
            push_u32(out, c.to);
            out.push('\n');
        }
        for (i, (region, share)) in step.shares.iter().enumerate() {
            out.push_str(if i == 0 { "    shares: " } else { ", " });
            let _ = write!(out, "{region} {}%", Tenths(share * 100.0));
        }
        if !step.shares.is_empty() {
            out.push('\n');
        }
    }
}

/// Appends `n` in decimal.
fn push_u32(out: &mut String, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

fn final_shares(out: &mut String, plan: &Plan) {
    if plan.final_shares.is_empty() {
        return;
    }
    let regions = share_regions(plan);
    let _ = writeln!(
        out,
        "\nFinal shares (share of each service's traffic served per region):"
    );
    let mut columns = vec![("SERVICE", Align::Left)];
    columns.extend(regions.iter().map(|r| (*r, Align::Right)));
    let mut table = Table::new(&columns);
    for (service, shares) in &plan.final_shares {
        let mut cells = vec![service.clone()];
        cells.extend(
            regions
                .iter()
                .map(|r| shares.get(*r).map_or_else(|| "-".into(), |s| percent(*s))),
        );
        table.row(cells);
    }
    table.write(out, "  ");
}

fn notes(out: &mut String, plan: &Plan) {
    if plan.notes.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nNotes:");
    for note in &plan.notes {
        let _ = writeln!(out, "  - {note}");
    }
}

#[derive(Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// A table aligned with spaces; widths count characters, not bytes.
struct Table {
    headers: Vec<String>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(columns: &[(&str, Align)]) -> Self {
        Table {
            headers: columns.iter().map(|(h, _)| h.to_string()).collect(),
            align: columns.iter().map(|(_, a)| *a).collect(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn write(&self, out: &mut String, indent: &str) {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::from(indent);
            for (i, ((cell, width), align)) in row.iter().zip(&widths).zip(&self.align).enumerate()
            {
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = width - cell.chars().count();
                match align {
                    Align::Left => {
                        line.push_str(cell);
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                    Align::Right => {
                        line.extend(std::iter::repeat_n(' ', pad));
                        line.push_str(cell);
                    }
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;

    #[test]
    fn text_renders_one_line_per_change_in_the_documented_form() {
        let out = text(&fixture::plan());
        assert!(
            out.contains("\n  ~ edge-api/dns use1 (us-east-1) 100 -> 38\n"),
            "{out}"
        );
        assert!(
            out.contains("\n  ~ catalog/dns use1 (us-east-1) 100 -> 0\n"),
            "{out}"
        );
        let changes = out.lines().filter(|l| l.starts_with("  ~ ")).count();
        assert_eq!(changes, 8);
    }

    #[test]
    fn text_renders_the_whole_plan_stably() {
        let expected = "\
kong plan: evacuate us-east-1
  topology  streaming
  playbook  evacuate
  plan      2 waves, 4 steps, 8 weight changes

Pre-flight (projected load after the last step): FAILED, 1 over the limit
  SERVICE   REGION     PROJECTED LOAD  CAPACITY  UTILIZATION  LIMIT  OK
  catalog   us-west-2          3500.0    6000.0        58.3%  75.0%  ok
  edge-api  us-west-2          8000.0   10000.0        80.0%  75.0%  FAIL

Wave 1 of 2: edge-api

edge-api step 1/2 (50%)
  ~ edge-api/dns use1 (us-east-1) 100 -> 38
  ~ edge-api/alb-use1 arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/edge-local/73e2d6bc24d8a067 (us-east-1) 999 -> 500
  ~ edge-api/alb-use1 arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/edge-to-usw2/9683b2d02a6cabee (us-west-2) 0 -> 499
    shares: us-east-1 31.3%, us-west-2 68.8%

edge-api step 2/2 (100%)
  ~ edge-api/dns use1 (us-east-1) 38 -> 0
  ~ edge-api/alb-use1 arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/edge-local/73e2d6bc24d8a067 (us-east-1) 500 -> 0
  ~ edge-api/alb-use1 arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/edge-to-usw2/9683b2d02a6cabee (us-west-2) 499 -> 999
    shares: us-east-1 0.0%, us-west-2 100.0%

Wave 2 of 2: catalog

catalog step 1/2 (50%)
  ~ catalog/dns use1 (us-east-1) 200 -> 100
    shares: us-east-1 40.0%, us-west-2 60.0%

catalog step 2/2 (100%)
  ~ catalog/dns use1 (us-east-1) 100 -> 0
    shares: us-east-1 0.0%, us-west-2 100.0%

Final shares (share of each service's traffic served per region):
  SERVICE   us-east-1  us-west-2
  catalog        0.0%     100.0%
  edge-api       0.0%     100.0%

Notes:
  - edge-api: us-west-2 limits the move (80.0% > 75.0%)
";
        assert_eq!(text(&fixture::plan()), expected);
    }

    #[test]
    fn push_u32_writes_decimal() {
        for n in [0, 7, 10, 255, 999, 1_000_000, u32::MAX] {
            let mut out = String::new();
            push_u32(&mut out, n);
            assert_eq!(out, n.to_string());
        }
    }

    #[test]
    fn empty_plan_says_no_changes() {
        let out = text(&fixture::empty());
        assert!(out.contains("\nNo changes: evacuate us-east-1 has nothing to do; no dial member still sends traffic to us-east-1.\n"), "{out}");
        assert!(!out.contains(" ~ "), "{out}");
        assert!(out.contains("0 waves, 0 steps, 0 weight changes"), "{out}");
    }

    #[test]
    fn hashes_are_shown_when_the_caller_filled_them() {
        let mut plan = fixture::plan();
        plan.topology_hash = "ab12".into();
        assert!(text(&plan).contains("  topology  streaming (sha256 ab12)\n"));
    }
}
