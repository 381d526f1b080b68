//! The renderings of a [`PlanDiff`]: text for a terminal, Markdown for a pull request.

use std::fmt::Write as _;

use super::{Difference, PlanDiff, Section};

impl PlanDiff {
    /// The differences of one section, in order, with the sections that have any.
    fn sections(&self) -> Vec<(Section, Vec<&Difference>)> {
        let mut out: Vec<(Section, Vec<&Difference>)> = Vec::new();
        for d in &self.differences {
            match out.last_mut() {
                Some((section, list)) if *section == d.section => list.push(d),
                _ => out.push((d.section, vec![d])),
            }
        }
        out
    }

    /// For a terminal, like `diff -u`'s header then one line per difference, by section:
    /// `~` changed (`old -> new`), `-` only in `old_name`, `+` only in `new_name`.
    pub fn text(&self, old_name: &str, new_name: &str) -> String {
        let mut out = format!("--- {old_name}\n+++ {new_name}\n");
        if self.is_empty() {
            out.push_str("no differences: the plans are identical\n");
            return out;
        }
        let _ = writeln!(out, "{}", count(self.differences.len()));
        for (section, list) in self.sections() {
            let _ = writeln!(out, "\n{}:", section.title());
            for d in list {
                let what = match &d.field {
                    Some(field) => format!("{}, {field}", d.subject),
                    None => d.subject.clone(),
                };
                let value = match (&d.old, &d.new) {
                    (Some(old), Some(new)) => format!("{old} -> {new}"),
                    (Some(v), None) | (None, Some(v)) => v.clone(),
                    (None, None) => String::new(),
                };
                let _ = writeln!(out, "  {} {what}: {value}", d.mark());
            }
        }
        out
    }

    /// For a pull-request comment: a summary line, then one table per section.
    pub fn markdown(&self, old_name: &str, new_name: &str) -> String {
        let mut out = String::from("## kong plan diff\n\n");
        if self.is_empty() {
            let _ = writeln!(
                out,
                "`{}` and `{}` are identical.",
                code(old_name),
                code(new_name)
            );
            return out;
        }
        let _ = writeln!(
            out,
            "`{}` → `{}`: {}.",
            code(old_name),
            code(new_name),
            count(self.differences.len())
        );
        for (section, list) in self.sections() {
            let title = section.title();
            let mut chars = title.chars();
            let title: String = chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_default();
            let _ = writeln!(out, "\n### {title}\n");
            let _ = writeln!(out, "| | what | old | new |");
            let _ = writeln!(out, "| :---: | --- | --- | --- |");
            for d in list {
                let what = match &d.field {
                    Some(field) => format!("{} · {}", cell(&d.subject), cell(field)),
                    None => cell(&d.subject),
                };
                let value = |v: &Option<String>| v.as_deref().map_or("".into(), cell);
                let _ = writeln!(
                    out,
                    "| {} | {what} | {} | {} |",
                    match d.mark() {
                        "-" => "−",
                        other => other,
                    },
                    value(&d.old),
                    value(&d.new),
                );
            }
        }
        out
    }
}

fn count(n: usize) -> String {
    format!("{n} difference{}", if n == 1 { "" } else { "s" })
}

/// Escapes what would break a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Keeps inline code intact.
fn code(s: &str) -> String {
    s.replace('`', "'")
}
