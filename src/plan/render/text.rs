//! The terraform-like text rendering printed by `kong plan` (the default format).
//!
//! Big plans (10,000 services, 120,000 changes) are rendered on every `kong plan`, so the
//! hot loops append to one buffer with `push_*` helpers instead of `format!`.

use std::fmt::Write as _;
use std::ops::Range;

use super::{
    no_changes, push_percent, push_tenths, push_uint, share_regions, steps_by_wave, summary,
};
use crate::plan::{FigureSource, Plan};

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
    let failed = plan.preflight.iter().filter(|row| !row.fits()).count();
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
        table.cell(|c| c.push_str(&row.service));
        table.cell(|c| c.push_str(&row.region));
        table.cell(|c| {
            push_tenths(c, row.projected_load);
            c.push_str(figure_mark(row.load_source));
        });
        table.cell(|c| {
            push_tenths(c, row.capacity);
            c.push_str(figure_mark(row.capacity_source));
        });
        table.cell(|c| push_percent(c, row.utilization));
        table.cell(|c| push_percent(c, row.max_utilization));
        table.cell(|c| c.push_str(if row.fits() { "ok" } else { "FAIL" }));
    }
    table.write(out, "  ");
}

/// ` (live)` or ` (asg)` after a figure that is not the file's own.
pub(super) fn figure_mark(source: FigureSource) -> &'static str {
    match source {
        FigureSource::Declared => "",
        FigureSource::Live => " (live)",
        FigureSource::Autoscaling => " (asg)",
    }
}

fn waves(out: &mut String, plan: &Plan) {
    for (step, (index, total), opens) in steps_by_wave(plan) {
        if let Some(wave) = opens {
            let members = wave.join(", ");
            let _ = writeln!(
                out,
                "\nWave {} of {}: {members}",
                step.wave + 1,
                plan.waves.len()
            );
        }
        // `{service} step {index}/{total} ({percent}%)`
        out.push('\n');
        out.push_str(&step.service);
        out.push_str(" step ");
        push_uint(out, index as u64);
        out.push('/');
        push_uint(out, total as u64);
        out.push_str(" (");
        push_uint(out, u64::from(step.percent));
        out.push_str("%)\n");
        if step.changes.is_empty() {
            out.push_str("  (no weight changes)\n");
        }
        for c in &step.changes {
            // `  ~ {dial} {member} ({region}) {from} -> {to}`
            for part in ["  ~ ", &c.dial, " ", &c.member, " (", &c.region, ") "] {
                out.push_str(part);
            }
            push_uint(out, u64::from(c.from));
            out.push_str(" -> ");
            push_uint(out, u64::from(c.to));
            out.push('\n');
        }
        for (i, (region, share)) in step.shares.iter().enumerate() {
            out.push_str(if i == 0 { "    shares: " } else { ", " });
            out.push_str(region);
            out.push(' ');
            push_percent(out, *share);
        }
        if !step.shares.is_empty() {
            out.push('\n');
        }
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
        table.cell(|c| c.push_str(service));
        for region in &regions {
            table.cell(|c| match shares.get(*region) {
                Some(share) => push_percent(c, *share),
                None => c.push('-'),
            });
        }
    }
    table.write(out, "  ");
}

fn notes(out: &mut String, plan: &Plan) {
    if plan.notes.is_empty() {
        return;
    }
    out.push_str("\nNotes:\n");
    for note in &plan.notes {
        out.push_str("  - ");
        out.push_str(note);
        out.push('\n');
    }
}

#[derive(Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// A table aligned with spaces; widths count characters, not bytes. Cells are appended
/// row by row into one buffer (no allocation per cell: pre-flight has a row per service
/// and destination).
struct Table {
    align: Vec<Align>,
    text: String,
    cells: Vec<Range<usize>>,
}

impl Table {
    fn new(columns: &[(&str, Align)]) -> Self {
        let mut table = Table {
            align: columns.iter().map(|(_, a)| *a).collect(),
            text: String::new(),
            cells: Vec::new(),
        };
        for (header, _) in columns {
            table.cell(|c| c.push_str(header));
        }
        table
    }

    /// Appends the next cell (rows fill left to right), written by `write`.
    fn cell(&mut self, write: impl FnOnce(&mut String)) {
        let start = self.text.len();
        write(&mut self.text);
        self.cells.push(start..self.text.len());
    }

    fn width(s: &str) -> usize {
        if s.is_ascii() {
            s.len()
        } else {
            s.chars().count()
        }
    }

    fn write(&self, out: &mut String, indent: &str) {
        let columns = self.align.len();
        let mut widths = vec![0; columns];
        for (i, range) in self.cells.iter().enumerate() {
            let w = &mut widths[i % columns];
            *w = (*w).max(Self::width(&self.text[range.clone()]));
        }
        for row in self.cells.chunks(columns) {
            let line_start = out.len();
            out.push_str(indent);
            for (i, ((range, width), align)) in row.iter().zip(&widths).zip(&self.align).enumerate()
            {
                if i > 0 {
                    out.push_str("  ");
                }
                let cell = &self.text[range.clone()];
                let pad = width - Self::width(cell);
                match align {
                    Align::Left => {
                        out.push_str(cell);
                        out.extend(std::iter::repeat_n(' ', pad));
                    }
                    Align::Right => {
                        out.extend(std::iter::repeat_n(' ', pad));
                        out.push_str(cell);
                    }
                }
            }
            let trimmed = out[line_start..].trim_end().len();
            out.truncate(line_start + trimmed);
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
    fn tables_align_by_characters_and_trim_trailing_spaces() {
        let mut table = Table::new(&[("A", Align::Left), ("N", Align::Right), ("Z", Align::Left)]);
        for (a, n) in [("é-long", "1.0"), ("x", "100.0")] {
            table.cell(|c| c.push_str(a));
            table.cell(|c| c.push_str(n));
            table.cell(|_| {});
        }
        let mut out = String::new();
        table.write(&mut out, "  ");
        assert_eq!(
            out,
            "  A           N  Z\n  é-long    1.0\n  x       100.0\n"
        );
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
