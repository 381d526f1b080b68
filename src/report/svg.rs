//! The report's charts, as SVG documents written by hand: traffic share of each region
//! (stacked areas, the whole topology and each wave), each destination's utilization and
//! each checked metric (lines, thresholds dashed), and the step timeline (waves as lanes).
//!
//! Coordinates are printed with one decimal, so the same facts give the same bytes.

use std::fmt::Write;

use super::Chart;
use super::facts::{Facts, Series, pct};

const WIDTH: f64 = 760.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 34.0;
/// Region and line colors, in order (color-blind safe, print well).
const PALETTE: &[&str] = &[
    "#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb", "#332288",
];
const ABORT: &str = "#cc3311";
const ROLLBACK: &str = "#ee7733";

/// Every chart of the report, in order.
pub fn charts(facts: &Facts<'_>) -> Vec<Chart> {
    let mut out = Vec::new();
    let end = facts.end.max(1.0);
    let markers = markers(facts);
    for (i, (scope, series)) in facts.traffic.iter().enumerate() {
        let name = if i == 0 {
            "traffic".to_string()
        } else {
            format!("traffic-{}", scope.replace(' ', "-"))
        };
        let title = format!("Traffic share of each region: {scope}");
        // The whole topology large, each wave smaller.
        let height = if i == 0 { 240.0 } else { 170.0 };
        out.push(Chart {
            svg: stacked(&title, series, end, &markers, height),
            name,
            title,
        });
    }
    if !facts.utilization.is_empty() {
        let mut bounds = vec![(super::facts::KNEE, "knee 70%".to_string())];
        if let Some(limit) = facts.limit {
            bounds.push((limit, format!("limit {}", pct(limit))));
        }
        let title = "Utilization of each destination (declared load over capacity)".to_string();
        out.push(Chart {
            svg: lines(&title, &facts.utilization, &bounds, end, &markers, true),
            name: "utilization".to_string(),
            title,
        });
    }
    for (i, check) in facts.checks.iter().enumerate() {
        let bounds: Vec<(f64, String)> = check
            .bounds
            .iter()
            .map(|b| {
                let op = if b.max { "max" } else { "min" };
                (b.limit, format!("{op} {}", super::num(b.limit)))
            })
            .collect();
        let title = format!("Check `{}` after each step", check.name);
        out.push(Chart {
            svg: lines(&title, &check.series, &bounds, end, &markers, false),
            name: format!("check-{}", i + 1),
            title,
        });
    }
    if !facts.steps.is_empty() || !facts.events.is_empty() {
        let title = "Timeline: steps by wave, aborts and rollback".to_string();
        out.push(Chart {
            svg: timeline(&title, facts, end, &markers),
            name: "timeline".to_string(),
            title,
        });
    }
    out
}

/// Vertical marks: aborts and rollbacks.
fn markers(facts: &Facts<'_>) -> Vec<(f64, &'static str, &'static str)> {
    facts
        .events
        .iter()
        .filter_map(|e| match e.what.as_str() {
            "abort" => Some((e.t, "abort", ABORT)),
            "rollback" => Some((e.t, "rollback", ROLLBACK)),
            "rollback failed" => Some((e.t, "rollback failed", ABORT)),
            "paused" => Some((e.t, "paused", ABORT)),
            _ => None,
        })
        .collect()
}

/// XML text escaping.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

struct Frame {
    height: f64,
    end: f64,
    ymax: f64,
}

impl Frame {
    fn x(&self, t: f64) -> f64 {
        LEFT + (t / self.end).clamp(0.0, 1.0) * (WIDTH - LEFT - RIGHT)
    }
    fn y(&self, v: f64) -> f64 {
        let h = self.height - TOP - BOTTOM;
        TOP + h - (v / self.ymax).clamp(0.0, 1.05) * h
    }
    fn open(&self, out: &mut String, title: &str) {
        let _ = write!(
            out,
            r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {h}" width="{WIDTH}" height="{h}" font-family="sans-serif" font-size="11" role="img"><title>{t}</title><rect width="{WIDTH}" height="{h}" fill="#ffffff"/><text x="{LEFT}" y="18" font-size="13" font-weight="bold">{t}</text>"##,
            h = self.height,
            t = esc(title)
        );
    }
    /// Axes, x ticks in time, y ticks as given.
    fn axes(&self, out: &mut String, percent: bool) {
        let (x0, x1) = (LEFT, WIDTH - RIGHT);
        let (y0, y1) = (self.y(0.0), TOP);
        let _ = write!(
            out,
            r##"<g stroke="#999" fill="none"><line x1="{x0}" y1="{y0:.1}" x2="{x1}" y2="{y0:.1}"/><line x1="{x0}" y1="{y0:.1}" x2="{x0}" y2="{y1}"/></g>"##
        );
        let step = nice_step(self.end / 6.0);
        let mut t = 0.0;
        while t <= self.end + 1e-9 {
            let x = self.x(t);
            let _ = write!(
                out,
                r##"<line x1="{x:.1}" y1="{y0:.1}" x2="{x:.1}" y2="{:.1}" stroke="#999"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#444">{}</text>"##,
                y0 + 4.0,
                y0 + 16.0,
                short_time(t)
            );
            t += step;
        }
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#444">time since start</text>"##,
            WIDTH - RIGHT,
            y0 + 28.0
        );
        for i in 0..=4 {
            let v = self.ymax * f64::from(i) / 4.0;
            let y = self.y(v);
            let label = if percent {
                format!("{:.0}%", v * 100.0)
            } else {
                super::num(round_sig(v))
            };
            let _ = write!(
                out,
                r##"<line x1="{:.1}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#444">{label}</text>"##,
                LEFT + 1.0,
                WIDTH - RIGHT,
                LEFT - 4.0,
                y + 4.0
            );
        }
    }
    fn markers(&self, out: &mut String, markers: &[(f64, &str, &str)]) {
        for (t, label, color) in markers {
            let x = self.x(*t);
            let _ = write!(
                out,
                r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="{color}" stroke-width="1.5" stroke-dasharray="4 3"/><text x="{:.1}" y="{:.1}" fill="{color}">{label}</text>"##,
                self.y(0.0),
                x + 3.0,
                TOP + 10.0
            );
        }
    }
    fn legend(&self, out: &mut String, i: usize, label: &str, color: &str, dashed: bool) {
        let x = WIDTH - RIGHT + 12.0;
        let y = TOP + 6.0 + 16.0 * i as f64;
        let dash = if dashed {
            r#" stroke-dasharray="6 3""#
        } else {
            ""
        };
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{color}" stroke-width="3"{dash}/><text x="{:.1}" y="{:.1}">{}</text>"##,
            x + 18.0,
            x + 24.0,
            y + 4.0,
            esc(label)
        );
    }
}

fn nice_step(raw: f64) -> f64 {
    const STEPS: &[f64] = &[
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
    ];
    STEPS
        .iter()
        .copied()
        .find(|s| *s >= raw)
        .unwrap_or(raw.ceil())
}

fn short_time(t: f64) -> String {
    let s = t.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}", s / 3600, (s % 3600) / 60)
    } else if s >= 60 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else if s >= 60 {
        format!("{}m{:02}", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

fn round_sig(v: f64) -> f64 {
    if v == 0.0 {
        return 0.0;
    }
    let mag = 10f64.powf(v.abs().log10().floor() - 2.0);
    (v / mag).round() * mag
}

/// Points held until the next one (a share changes at a step, not in between).
fn stepwise(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len() * 2);
    for (i, (t, v)) in points.iter().enumerate() {
        if i > 0 {
            out.push((*t, points[i - 1].1));
        }
        out.push((*t, *v));
    }
    out
}

/// Stacked areas of shares in [0, 1].
fn stacked(
    title: &str,
    series: &[Series],
    end: f64,
    markers: &[(f64, &str, &str)],
    height: f64,
) -> String {
    let frame = Frame {
        height,
        end,
        ymax: 1.0,
    };
    let mut out = String::new();
    frame.open(&mut out, title);
    let steps: Vec<Vec<(f64, f64)>> = series.iter().map(|s| stepwise(&s.points)).collect();
    let n = steps.first().map_or(0, Vec::len);
    let mut lower = vec![0.0; n];
    for (i, (s, pts)) in series.iter().zip(&steps).enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let upper: Vec<f64> = pts.iter().zip(&lower).map(|((_, v), l)| l + v).collect();
        let mut d = String::new();
        for (j, (t, _)) in pts.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1} ",
                if j == 0 { "M" } else { "L" },
                frame.x(*t),
                frame.y(upper[j])
            );
        }
        for (j, (t, _)) in pts.iter().enumerate().rev() {
            let _ = write!(d, "L{:.1},{:.1} ", frame.x(*t), frame.y(lower[j]));
        }
        let _ = write!(
            out,
            r##"<path d="{}Z" fill="{color}" fill-opacity="0.85" stroke="#fff" stroke-width="0.5"><title>{}</title></path>"##,
            d.trim_end(),
            esc(&s.label)
        );
        frame.legend(&mut out, i, &s.label, color, false);
        lower = upper;
    }
    frame.axes(&mut out, true);
    frame.markers(&mut out, markers);
    out.push_str("</svg>\n");
    out
}

/// Lines over time, with horizontal thresholds dashed.
fn lines(
    title: &str,
    series: &[Series],
    bounds: &[(f64, String)],
    end: f64,
    markers: &[(f64, &str, &str)],
    percent: bool,
) -> String {
    let top = series
        .iter()
        .flat_map(|s| s.points.iter().map(|(_, v)| *v))
        .chain(bounds.iter().map(|(b, _)| *b))
        .fold(0.0f64, f64::max);
    let ymax = if top > 0.0 { top * 1.15 } else { 1.0 };
    let frame = Frame {
        height: 220.0,
        end,
        ymax,
    };
    let mut out = String::new();
    frame.open(&mut out, title);
    frame.axes(&mut out, percent);
    let mut legend = 0;
    for (b, label) in bounds {
        let y = frame.y(*b);
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="{ABORT}" stroke-width="1.5" stroke-dasharray="6 3"/>"##,
            WIDTH - RIGHT
        );
        frame.legend(&mut out, legend, label, ABORT, true);
        legend += 1;
    }
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let pts: Vec<String> = s
            .points
            .iter()
            .map(|(t, v)| format!("{:.1},{:.1}", frame.x(*t), frame.y(*v)))
            .collect();
        let _ = write!(
            out,
            r##"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"><title>{}</title></polyline>"##,
            pts.join(" "),
            esc(&s.label)
        );
        for p in &pts {
            let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = write!(
                out,
                r##"<circle cx="{x}" cy="{y}" r="2.5" fill="{color}"/>"##
            );
        }
        frame.legend(&mut out, legend, &s.label, color, false);
        legend += 1;
    }
    frame.markers(&mut out, markers);
    out.push_str("</svg>\n");
    out
}

/// A bar of a lane: start, end, color, tooltip.
type Bar = (f64, f64, &'static str, String);

/// One lane per (operation, wave), plus prescale, hold and rollback lanes.
fn timeline(title: &str, facts: &Facts<'_>, end: f64, markers: &[(f64, &str, &str)]) -> String {
    let mut lanes: Vec<(String, Vec<Bar>)> = Vec::new();
    let mut lane = |name: String, bar: (f64, f64, &'static str, String)| match lanes
        .iter_mut()
        .find(|(n, _)| *n == name)
    {
        Some((_, bars)) => bars.push(bar),
        None => lanes.push((name, vec![bar])),
    };
    for phase in &facts.phases {
        if matches!(phase.name, "pre-flight" | "prescale" | "hold" | "rollback") {
            let color = match phase.name {
                "rollback" => ROLLBACK,
                "hold" => "#bbbbbb",
                _ => "#66ccee",
            };
            lane(
                phase.name.to_string(),
                (phase.start, phase.end, color, phase.name.to_string()),
            );
        }
    }
    for step in &facts.steps {
        let failed = step.results.iter().any(|r| !r.ok) || step.aborted;
        let color = if failed { ABORT } else { "#228833" };
        lane(
            format!("{} wave {}", step.operation, step.wave),
            (
                step.start,
                step.end.max(step.start),
                color,
                format!("{}: {}", step.label(), super::few(&step.services, 4)),
            ),
        );
    }
    // Pre-flight first, then lanes in order of first appearance.
    lanes.sort_by(|a, b| {
        let start = |l: &Vec<Bar>| l.first().map_or(0.0, |b| b.0);
        start(&a.1).total_cmp(&start(&b.1))
    });
    let lane_h = 20.0;
    let frame = Frame {
        height: TOP + BOTTOM + lane_h * lanes.len().max(1) as f64 + 8.0,
        end,
        ymax: 1.0,
    };
    let mut out = String::new();
    frame.open(&mut out, title);
    let axis_y = frame.y(0.0);
    let _ = write!(
        out,
        r##"<line x1="{LEFT}" y1="{axis_y:.1}" x2="{}" y2="{axis_y:.1}" stroke="#999"/>"##,
        WIDTH - RIGHT
    );
    let step = nice_step(end / 6.0);
    let mut t = 0.0;
    while t <= end + 1e-9 {
        let x = frame.x(t);
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{axis_y:.1}" stroke="#eee"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#444">{}</text>"##,
            axis_y + 16.0,
            short_time(t)
        );
        t += step;
    }
    for (i, (name, bars)) in lanes.iter().enumerate() {
        let y = TOP + 4.0 + lane_h * i as f64;
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" fill="#222">{}</text>"##,
            WIDTH - RIGHT + 8.0,
            y + 13.0,
            esc(name)
        );
        for (s, e, color, tip) in bars {
            let x = frame.x(*s);
            let w = (frame.x(*e) - x).max(2.0);
            let _ = write!(
                out,
                r##"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{:.1}" fill="{color}" rx="2"><title>{}</title></rect>"##,
                lane_h - 6.0,
                esc(tip)
            );
        }
    }
    frame.markers(&mut out, markers);
    out.push_str("</svg>\n");
    out
}
