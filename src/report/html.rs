//! The HTML report: one self-contained page (inline CSS and SVG, no script, no network
//! asset) with the same content as the Markdown, and a print style sheet.

use std::fmt::Write;

use super::facts::{Facts, scope_of};
use super::markdown::{STEP_COLUMNS, finding, step_cells, summary_rows, verdict_text};
use super::svg::esc;
use super::{Chart, time_of};

const STYLE: &str = r#"
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px auto; max-width: 1100px; color: #222; line-height: 1.4; padding: 0 16px; }
h1 { font-size: 1.5em; margin-bottom: 0.3em; }
h2 { font-size: 1.15em; border-bottom: 1px solid #ddd; padding-bottom: 2px; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 8px 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
table.summary th { width: 9em; }
code { background: #f2f2f2; padding: 0 3px; border-radius: 3px; font-size: 0.95em; }
.verdict { font-size: 1.1em; padding: 8px 12px; border-left: 5px solid #888; background: #f7f7f7; }
.verdict.held { border-color: #228833; } .verdict.refuted { border-color: #cc3311; } .verdict.not-tested { border-color: #ccbb44; }
.charts figure { margin: 12px 0; break-inside: avoid; page-break-inside: avoid; }
.charts svg { max-width: 100%; height: auto; }
td.failed, strong.failed { color: #cc3311; }
details { margin: 8px 0; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  h2 { break-after: avoid; page-break-after: avoid; }
  tr, figure { break-inside: avoid; page-break-inside: avoid; }
  details > summary { list-style: none; }
  a { color: inherit; text-decoration: none; }
}
"#;

/// Markdown-ish inline text (`code`, **bold**) as HTML, escaped.
fn inline(s: &str) -> String {
    let mut out = String::new();
    let mut code = false;
    let mut bold = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '`' => {
                out.push_str(if code { "</code>" } else { "<code>" });
                code = !code;
            }
            '*' if !code && chars.peek() == Some(&'*') => {
                chars.next();
                out.push_str(if bold { "</strong>" } else { "<strong>" });
                bold = !bold;
            }
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    if code {
        out.push_str("</code>");
    }
    if bold {
        out.push_str("</strong>");
    }
    out
}

/// Renders the page.
pub fn render(facts: &Facts<'_>, charts: &[Chart]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&format!("{}: {}", facts.title, facts.outcome))
    );
    let _ = writeln!(
        out,
        "<h1>{}: {}</h1>",
        esc(&facts.title),
        esc(&facts.outcome)
    );
    let class = match facts.verdict {
        super::facts::Verdict::Held => "held",
        super::facts::Verdict::Refuted { .. } => "refuted",
        super::facts::Verdict::NotTested { .. } => "not-tested",
    };
    let hypothesis = facts
        .hypothesis
        .as_deref()
        .unwrap_or("none stated (the playbook's checks are the steady state)");
    let _ = writeln!(
        out,
        "<p class=\"verdict {class}\"><strong>Hypothesis:</strong> {}<br><strong>Verdict:</strong> {}</p>",
        esc(hypothesis),
        inline(&verdict_text(&facts.verdict))
    );
    let _ = writeln!(out, "<table class=\"summary\">");
    for (label, text) in summary_rows(facts) {
        let _ = writeln!(out, "<tr><th>{label}</th><td>{}</td></tr>", inline(&text));
    }
    let _ = writeln!(out, "</table>");
    if !facts.findings.is_empty() {
        let _ = writeln!(out, "<h2>Findings ({})</h2>\n<ul>", facts.findings.len());
        for f in &facts.findings {
            let _ = writeln!(out, "<li>{}</li>", inline(&finding(f)));
        }
        let _ = writeln!(out, "</ul>");
    }
    if !charts.is_empty() {
        let _ = writeln!(out, "<h2>Charts</h2>\n<div class=\"charts\">");
        for chart in charts {
            let _ = writeln!(
                out,
                "<figure id=\"chart-{}\">{}</figure>",
                esc(&chart.name),
                chart.svg.trim_end()
            );
        }
        let _ = writeln!(out, "</div>");
    }
    for (when, source, region, max, services) in &facts.residuals {
        let _ = writeln!(
            out,
            "<h2>Residual traffic in {} {}</h2>\n<p>{} services measured from {}; the limit is {}.</p>\n<table><tr><th>service</th><th>residual share</th><th>req/s</th></tr>",
            esc(region),
            esc(when),
            services.len(),
            esc(source),
            super::facts::pct(*max)
        );
        let listed = crate::journal::worst_residual_first(services);
        for s in listed.iter().take(20) {
            let over = s.share.is_none_or(|v| v > *max);
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td{}>{}</td><td>{}</td></tr>",
                esc(&s.service),
                if over { " class=\"failed\"" } else { "" },
                s.share
                    .map(super::facts::pct)
                    .unwrap_or_else(|| "no data".to_string()),
                esc(&s
                    .rps
                    .map(|v| super::num((v * 10.0).round() / 10.0))
                    .or_else(|| s.error.clone())
                    .unwrap_or_default())
            );
        }
        let _ = writeln!(out, "</table>");
    }
    if !facts.steps.is_empty() {
        let _ = writeln!(
            out,
            "<h2>Steps</h2>\n<table><tr>{}</tr>",
            STEP_COLUMNS.map(|c| format!("<th>{c}</th>")).concat()
        );
        for s in &facts.steps {
            let cells = step_cells(s).map(|c| format!("<td>{}</td>", inline(&c)));
            let _ = writeln!(out, "<tr>{}</tr>", cells.concat());
        }
        let _ = writeln!(out, "</table>");
    }
    if !facts.events.is_empty() {
        let _ = writeln!(
            out,
            "<h2>Events</h2>\n<table><tr><th>time</th><th>event</th><th>detail</th></tr>"
        );
        for e in &facts.events {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                time_of(&e.at),
                esc(&e.what),
                esc(&e.detail)
            );
        }
        let _ = writeln!(out, "</table>");
    }
    let evaluations: usize = facts.steps.iter().map(|s| s.results.len()).sum();
    if evaluations > 0 {
        let _ = writeln!(
            out,
            "<h2>Check values</h2>\n<details><summary>Every check evaluation of every step ({evaluations} evaluations)</summary>\n<table><tr><th>step</th><th>check</th><th>scope</th><th>value</th><th>threshold</th><th>ok</th></tr>"
        );
        for s in &facts.steps {
            for r in &s.results {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td{}>{}</td></tr>",
                    s.number,
                    esc(&r.name),
                    esc(&scope_of(r)),
                    r.value.map(super::num).unwrap_or_else(|| "no data".into()),
                    esc(&r.threshold),
                    if r.ok { "" } else { " class=\"failed\"" },
                    if r.ok {
                        "ok".to_string()
                    } else {
                        esc(&format!(
                            "failed{}",
                            r.detail
                                .as_deref()
                                .map(|d| format!(": {d}"))
                                .unwrap_or_default()
                        ))
                    }
                );
            }
        }
        let _ = writeln!(out, "</table>\n</details>");
    }
    out.push_str("</body>\n</html>\n");
    out
}
