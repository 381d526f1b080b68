//! Renderings of a [`Plan`] for people (`text`, `markdown`) and machines (`json`).
//!
//! Every function here is pure: a plan in, a `String` out, no I/O. Output is byte-for-byte
//! deterministic: maps are `BTreeMap`s, numbers are printed with fixed precision, so a diff
//! of two renderings shows only what changed between the two plans.

mod json;
mod markdown;
mod text;

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};

pub use json::{json, same_json, write_json};
pub use markdown::{markdown, markdown_within};
pub use text::text;

use super::{Operation, Plan, PlanStep};

/// Every region named in the plan's final shares, sorted: the columns of the shares table.
fn share_regions(plan: &Plan) -> Vec<&str> {
    let regions: BTreeSet<&str> = plan
        .final_shares
        .values()
        .flat_map(|shares| shares.keys().map(String::as_str))
        .collect();
    regions.into_iter().collect()
}

/// Number of weight changes over every step.
fn change_count(plan: &Plan) -> usize {
    plan.steps.iter().map(|s| s.changes.len()).sum()
}

/// `1 wave`, `3 waves`.
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `3 waves, 44 steps, 132 weight changes`.
fn summary(plan: &Plan) -> String {
    format!(
        "{}, {}, {}",
        plural(plan.waves.len(), "wave", "waves"),
        plural(plan.steps.len(), "step", "steps"),
        plural(change_count(plan), "weight change", "weight changes"),
    )
}

/// The sentence printed instead of waves when the plan changes nothing.
fn no_changes(plan: &Plan) -> String {
    let why = match plan.operation {
        Operation::Evacuate => format!("no dial member still sends traffic to {}", plan.region),
        Operation::Restore => format!(
            "every dial serving {} is already at its baseline",
            plan.region
        ),
    };
    format!(
        "No changes: {} {} has nothing to do; {why}.",
        plan.operation, plan.region
    )
}

/// Requests/s with one decimal (`9100.0`).
fn load(x: f64) -> String {
    let mut out = String::new();
    push_tenths(&mut out, x);
    out
}

/// A fraction as a percentage with one decimal (`0.65` -> `65.0%`).
fn percent(x: f64) -> String {
    let mut out = String::new();
    push_percent(&mut out, x);
    out
}

/// Appends a fraction as a percentage with one decimal (`0.65` -> `65.0%`).
fn push_percent(out: &mut String, x: f64) {
    push_tenths(out, x * 100.0);
    out.push('%');
}

/// Appends `x` with exactly one decimal, rounded half away from zero, never `-0.0`.
///
/// Integer arithmetic rather than `{:.1}`: the exact-decimal float formatting and the
/// `fmt` machinery were most of the time spent rendering a 120,000-change plan.
fn push_tenths(out: &mut String, x: f64) {
    let tenths = (x * 10.0).round();
    // NaN, infinities and numbers beyond i64 keep the standard formatting.
    if !tenths.is_finite() || tenths.abs() >= 1e17 {
        let _ = write!(out, "{x:.1}");
        return;
    }
    let tenths = tenths as i64;
    if tenths < 0 {
        out.push('-');
    }
    let abs = tenths.unsigned_abs();
    push_uint(out, abs / 10);
    out.push('.');
    push_uint(out, abs % 10);
}

/// Appends `n` in decimal.
fn push_uint(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
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

/// Per-service step counter: `(index within the service, steps of the service)`, 1-based,
/// in the order of `plan.steps`.
/// Each step in order, with its position among its service's steps (index, total) and, when
/// it opens a wave, that wave's services.
fn steps_by_wave(
    plan: &Plan,
) -> impl Iterator<Item = (&PlanStep, (usize, usize), Option<&[String]>)> {
    let mut current_wave = None;
    plan.steps
        .iter()
        .zip(step_positions(plan))
        .map(move |(step, position)| {
            let opens = (current_wave != Some(step.wave)).then(|| {
                current_wave = Some(step.wave);
                plan.waves.get(step.wave).map_or(&[][..], Vec::as_slice)
            });
            (step, position, opens)
        })
}

fn step_positions(plan: &Plan) -> Vec<(usize, usize)> {
    // Counting only: the map's order never reaches the output.
    type Counts<'a> = HashMap<&'a str, usize, BuildHasherDefault<Fnv1a>>;
    let mut totals = Counts::default();
    for step in &plan.steps {
        *totals.entry(step.service.as_str()).or_default() += 1;
    }
    let mut seen = Counts::default();
    plan.steps
        .iter()
        .map(|step| {
            let n = seen.entry(step.service.as_str()).or_default();
            *n += 1;
            (*n, totals[step.service.as_str()])
        })
        .collect()
}

/// FNV-1a: service names are short and not attacker-chosen, and SipHash showed up as a
/// tenth of rendering a 40,000-step plan.
#[derive(Default)]
struct Fnv1a(u64);

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

#[cfg(test)]
pub(crate) mod fixture {
    //! A small hand-built plan shared by the renderers' unit tests.

    use std::collections::BTreeMap;

    use crate::plan::{Change, Operation, Plan, PlanStep, PreflightRow};

    fn shares<K: for<'a> From<&'a str> + Ord>(pairs: &[(&str, f64)]) -> BTreeMap<K, f64> {
        pairs.iter().map(|(r, s)| (K::from(r), *s)).collect()
    }

    fn change(dial: &str, member: &str, region: &str, from: u32, to: u32) -> Change {
        Change {
            dial: dial.into(),
            member: member.into(),
            region: region.into(),
            from,
            to,
        }
    }

    /// One step of `service`'s wave at `percent`, with the served shares after it.
    fn step(
        service: &str,
        wave: usize,
        percent: u32,
        changes: Vec<Change>,
        after: &[(&str, f64)],
    ) -> PlanStep {
        PlanStep {
            service: service.into(),
            wave,
            percent,
            changes,
            shares: shares(after),
        }
    }

    /// Evacuate us-east-1 of `edge-api` (route53 + alb) then `catalog`, in two steps each.
    pub fn plan() -> Plan {
        let arn_local = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/edge-local/73e2d6bc24d8a067";
        let arn_proxy = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/edge-to-usw2/9683b2d02a6cabee";
        let mut baseline = BTreeMap::new();
        baseline.insert(
            "edge-api/dns".to_string(),
            BTreeMap::from([("use1".to_string(), 100), ("usw2".to_string(), 60)]),
        );
        baseline.insert(
            "edge-api/alb-use1".to_string(),
            BTreeMap::from([(arn_local.to_string(), 999), (arn_proxy.to_string(), 0)]),
        );
        baseline.insert(
            "catalog/dns".to_string(),
            BTreeMap::from([("use1".to_string(), 200), ("usw2".to_string(), 150)]),
        );
        let mut target = baseline.clone();
        for (dial, member, weight) in [
            ("edge-api/dns", "use1", 0),
            ("edge-api/alb-use1", arn_local, 0),
            ("edge-api/alb-use1", arn_proxy, 999),
            ("catalog/dns", "use1", 0),
        ] {
            if let Some(members) = target.get_mut(dial) {
                members.insert(member.to_string(), weight);
            }
        }
        // Weights of use1 in edge-api/dns and of the local and proxy target groups; served
        // shares of (us-east-1, us-west-2) after the step.
        let edge_api = |percent, from: [u32; 3], to: [u32; 3], (east, west)| {
            let changes = vec![
                change("edge-api/dns", "use1", "us-east-1", from[0], to[0]),
                change("edge-api/alb-use1", arn_local, "us-east-1", from[1], to[1]),
                change("edge-api/alb-use1", arn_proxy, "us-west-2", from[2], to[2]),
            ];
            step(
                "edge-api",
                0,
                percent,
                changes,
                &[("us-east-1", east), ("us-west-2", west)],
            )
        };
        let catalog = |percent, from, to, (east, west)| {
            let changes = vec![change("catalog/dns", "use1", "us-east-1", from, to)];
            step(
                "catalog",
                1,
                percent,
                changes,
                &[("us-east-1", east), ("us-west-2", west)],
            )
        };
        Plan {
            operation: Operation::Evacuate,
            region: "us-east-1".into(),
            topology: "streaming".into(),
            playbook: "evacuate".into(),
            topology_hash: String::new(),
            playbook_hash: String::new(),
            waves: vec![vec!["edge-api".into()], vec!["catalog".into()]],
            steps: vec![
                edge_api(50, [100, 999, 0], [38, 500, 499], (0.3125, 0.6875)),
                edge_api(100, [38, 500, 499], [0, 0, 999], (0.0, 1.0)),
                catalog(50, 200, 100, (0.4, 0.6)),
                catalog(100, 100, 0, (0.0, 1.0)),
            ],
            final_shares: BTreeMap::from([
                (
                    "catalog".to_string(),
                    shares(&[("us-east-1", 0.0), ("us-west-2", 1.0)]),
                ),
                (
                    "edge-api".to_string(),
                    shares(&[("us-east-1", -0.0), ("us-west-2", 1.0)]),
                ),
            ]),
            preflight: vec![
                PreflightRow {
                    service: "catalog".into(),
                    region: "us-west-2".into(),
                    projected_load: 3500.0,
                    capacity: 6000.0,
                    utilization: 3500.0 / 6000.0,
                    max_utilization: 0.75,
                    ok: true,
                    load_source: Default::default(),
                    capacity_source: Default::default(),
                },
                PreflightRow {
                    service: "edge-api".into(),
                    region: "us-west-2".into(),
                    projected_load: 8000.0,
                    capacity: 10000.0,
                    utilization: 0.8,
                    max_utilization: 0.75,
                    ok: false,
                    load_source: Default::default(),
                    capacity_source: Default::default(),
                },
            ],
            baseline,
            target,
            notes: vec!["edge-api: us-west-2 limits the move (80.0% > 75.0%)".into()],
            figures: Default::default(),
        }
    }

    /// The same plan with nothing left to do.
    pub fn empty() -> Plan {
        let mut plan = plan();
        plan.waves.clear();
        plan.steps.clear();
        plan.target.clear();
        plan.preflight.retain(PreflightRow::fits);
        plan.notes.clear();
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_fixed_precision_and_no_negative_zero() {
        assert_eq!(load(9100.0), "9100.0");
        assert_eq!(load(-0.0), "0.0");
        assert_eq!(load(1234.56), "1234.6");
        assert_eq!(percent(0.65), "65.0%");
        assert_eq!(percent(-0.0), "0.0%");
        assert_eq!(percent(-0.0000001), "0.0%");
        assert_eq!(percent(1.0), "100.0%");
        assert_eq!(percent(0.3125), "31.3%");
        assert_eq!(load(-12.34), "-12.3");
        assert_eq!(load(-0.04), "0.0");
        assert_eq!(load(f64::NAN), "NaN");
        assert_eq!(load(1e300), format!("{:.1}", 1e300));
    }

    #[test]
    fn push_uint_writes_decimal() {
        for n in [0, 7, 10, 255, 999, 1_000_000, u64::from(u32::MAX), u64::MAX] {
            let mut out = String::new();
            push_uint(&mut out, n);
            assert_eq!(out, n.to_string());
        }
    }

    #[test]
    fn step_positions_count_per_service() {
        let plan = fixture::plan();
        assert_eq!(step_positions(&plan), vec![(1, 2), (2, 2), (1, 2), (2, 2)]);
    }

    #[test]
    fn summary_counts_waves_steps_and_changes() {
        assert_eq!(
            summary(&fixture::plan()),
            "2 waves, 4 steps, 8 weight changes"
        );
        assert_eq!(
            summary(&fixture::empty()),
            "0 waves, 0 steps, 0 weight changes"
        );
    }
}
