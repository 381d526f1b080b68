//! The difference between two plans, as a value: what a reviewer looks at when a plan
//! changes (`kong plan diff OLD NEW`), and what `--plan FILE` names when the saved plan is not
//! the one kong computes now.
//!
//! Like vector's `ConfigDiff::new(old, new)`: [`PlanDiff::new`] compares every field of two
//! plans (waves, steps and their weight changes, pre-flight rows, final shares, baseline,
//! target, notes, the figures planned with, the header) and lists what differs, in the order
//! of the plan (waves, then steps in execution order, ...), so the first difference is the
//! first thing a reader of the plan would see change. Pure: no I/O; renderings are `String`s.

use std::collections::{BTreeMap, BTreeSet};

mod render;

use super::{Figure, Plan, PlanStep, PreflightRow, Weights};

/// What differs between two plans; empty when they are identical.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanDiff {
    /// Every difference, in the plan's order (section, then position in the section).
    pub differences: Vec<Difference>,
}

/// The part of a plan a difference is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    /// Operation, region, file names and hashes.
    Plan,
    /// The waves and their services.
    Waves,
    /// The steps, their weight changes and shares.
    Steps,
    /// The pre-flight rows.
    Preflight,
    /// The final shares.
    FinalShares,
    /// The weights observed when planning.
    Baseline,
    /// The weights after the last step.
    Target,
    /// The notes.
    Notes,
    /// The live figures planned with.
    Figures,
}

impl Section {
    /// How the section is titled in renderings.
    pub fn title(self) -> &'static str {
        match self {
            Section::Plan => "plan",
            Section::Waves => "waves",
            Section::Steps => "steps",
            Section::Preflight => "pre-flight",
            Section::FinalShares => "final shares",
            Section::Baseline => "baseline",
            Section::Target => "target",
            Section::Notes => "notes",
            Section::Figures => "figures",
        }
    }
}

/// One difference: `subject` (and its `field`) is `old` in one plan and `new` in the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Where it is.
    pub section: Section,
    /// What differs: `wave 2`, `edge-api at 25%`, `edge-api in us-west-2`, `edge-api/dns`.
    pub subject: String,
    /// The part of the subject that differs (`edge-api/dns use1`, `ok`), if not all of it.
    pub field: Option<String>,
    /// The value in the old plan; `None`: only in the new one.
    pub old: Option<String>,
    /// The value in the new plan; `None`: only in the old one.
    pub new: Option<String>,
}

impl Difference {
    fn new(
        section: Section,
        subject: impl Into<String>,
        field: Option<String>,
        old: Option<String>,
        new: Option<String>,
    ) -> Difference {
        Difference {
            section,
            subject: subject.into(),
            field,
            old,
            new,
        }
    }

    /// `steps: edge-api at 25%, edge-api/dns use1`: where the difference is.
    pub fn location(&self) -> String {
        match &self.field {
            Some(field) => format!("{}: {}, {field}", self.section.title(), self.subject),
            None => format!("{}: {}", self.section.title(), self.subject),
        }
    }

    /// One sentence naming the difference, the old plan called `old_name` and the new one
    /// `new_name`: `steps: edge-api at 25%, edge-api/dns use1: from 100 to 75 (us-east-1) in
    /// the plan file, from 100 to 80 (us-east-1) in the plan computed now`.
    pub fn describe(&self, old_name: &str, new_name: &str) -> String {
        let location = self.location();
        match (&self.old, &self.new) {
            (Some(old), Some(new)) => {
                format!("{location}: {old} in {old_name}, {new} in {new_name}")
            }
            (Some(old), None) => format!("{location}: only in {old_name} ({old})"),
            (None, Some(new)) => format!("{location}: only in {new_name} ({new})"),
            (None, None) => location,
        }
    }

    fn mark(&self) -> &'static str {
        match (&self.old, &self.new) {
            (Some(_), Some(_)) | (None, None) => "~",
            (Some(_), None) => "-",
            (None, Some(_)) => "+",
        }
    }
}

impl PlanDiff {
    /// Compares every field of `old` and `new`.
    pub fn new(old: &Plan, new: &Plan) -> PlanDiff {
        // The common case when verifying a saved plan: identical, and cheap to confirm.
        if old == new {
            return PlanDiff::default();
        }
        let mut out = Vec::new();
        header(&mut out, old, new);
        waves(&mut out, &old.waves, &new.waves);
        steps(&mut out, &old.steps, &new.steps);
        preflight(&mut out, &old.preflight, &new.preflight);
        final_shares(&mut out, old, new);
        weights(&mut out, Section::Baseline, &old.baseline, &new.baseline);
        weights(&mut out, Section::Target, &old.target, &new.target);
        notes(&mut out, &old.notes, &new.notes);
        figures(&mut out, old, new);
        PlanDiff { differences: out }
    }

    /// Whether the plans are identical.
    pub fn is_empty(&self) -> bool {
        self.differences.is_empty()
    }

    /// The first difference in the plan's order.
    pub fn first(&self) -> Option<&Difference> {
        self.differences.first()
    }
}

fn changed<T: PartialEq + ToString>(
    out: &mut Vec<Difference>,
    section: Section,
    subject: &str,
    field: Option<&str>,
    old: &T,
    new: &T,
) {
    if old != new {
        out.push(Difference::new(
            section,
            subject,
            field.map(str::to_string),
            Some(old.to_string()),
            Some(new.to_string()),
        ));
    }
}

fn header(out: &mut Vec<Difference>, old: &Plan, new: &Plan) {
    let s = Section::Plan;
    changed(out, s, "operation", None, &old.operation, &new.operation);
    changed(out, s, "region", None, &old.region, &new.region);
    changed(out, s, "topology", None, &old.topology, &new.topology);
    changed(out, s, "playbook", None, &old.playbook, &new.playbook);
    let hash = |h: &str| {
        if h.is_empty() {
            "-".to_string()
        } else {
            h.to_string()
        }
    };
    changed(
        out,
        s,
        "topology sha256",
        None,
        &hash(&old.topology_hash),
        &hash(&new.topology_hash),
    );
    changed(
        out,
        s,
        "playbook sha256",
        None,
        &hash(&old.playbook_hash),
        &hash(&new.playbook_hash),
    );
}

fn waves(out: &mut Vec<Difference>, old: &[Vec<String>], new: &[Vec<String>]) {
    for i in 0..old.len().max(new.len()) {
        let (o, n) = (old.get(i), new.get(i));
        if o != n {
            out.push(Difference::new(
                Section::Waves,
                format!("wave {}", i + 1),
                None,
                o.map(|w| w.join(", ")),
                n.map(|w| w.join(", ")),
            ));
        }
    }
}

/// Where a keyed entry sits: matched in both plans, or in one only.
enum Pair<'a, T> {
    Both(&'a T, &'a T),
    Old(&'a T),
    New(&'a T),
}

/// Pairs the entries of two lists by key, in the new list's order with entries only in the
/// old list placed where they were; and the first position at which the entries both
/// lists hold come in a different order (old key, new key).
fn pair<'a, T, K: Ord + Clone>(
    old: &'a [T],
    new: &'a [T],
    key: impl Fn(&T) -> K,
) -> (Vec<Pair<'a, T>>, Option<(usize, K, K)>) {
    let old_index: BTreeMap<K, usize> = old.iter().enumerate().map(|(i, t)| (key(t), i)).collect();
    let new_index: BTreeMap<K, usize> = new.iter().enumerate().map(|(i, t)| (key(t), i)).collect();
    // (position, before-new-entries-at-that-position, pair)
    let mut placed: Vec<(usize, u8, Pair<'a, T>)> = Vec::with_capacity(new.len());
    for (i, n) in new.iter().enumerate() {
        match old_index.get(&key(n)) {
            Some(&j) => placed.push((i, 1, Pair::Both(&old[j], n))),
            None => placed.push((i, 1, Pair::New(n))),
        }
    }
    for (j, o) in old.iter().enumerate() {
        if !new_index.contains_key(&key(o)) {
            placed.push((j, 0, Pair::Old(o)));
        }
    }
    placed.sort_by_key(|(i, before, _)| (*i, *before));
    let common_old = old.iter().map(&key).filter(|k| new_index.contains_key(k));
    let common_new = new.iter().map(&key).filter(|k| old_index.contains_key(k));
    let reordered = common_old
        .zip(common_new)
        .enumerate()
        .find(|(_, (o, n))| o != n)
        .map(|(i, (o, n))| (i, o, n));
    (placed.into_iter().map(|(_, _, p)| p).collect(), reordered)
}

fn step_subject(service: &str, percent: u32) -> String {
    format!("{service} at {percent}%")
}

fn step_summary(step: &PlanStep) -> String {
    let n = step.changes.len();
    format!(
        "wave {}, {n} weight change{}",
        step.wave + 1,
        if n == 1 { "" } else { "s" }
    )
}

fn steps(out: &mut Vec<Difference>, old: &[PlanStep], new: &[PlanStep]) {
    let key = |s: &PlanStep| (s.service.to_string(), s.percent);
    let (pairs, reordered) = pair(old, new, key);
    for p in pairs {
        match p {
            Pair::Old(o) => out.push(Difference::new(
                Section::Steps,
                step_subject(&o.service, o.percent),
                None,
                Some(step_summary(o)),
                None,
            )),
            Pair::New(n) => out.push(Difference::new(
                Section::Steps,
                step_subject(&n.service, n.percent),
                None,
                None,
                Some(step_summary(n)),
            )),
            Pair::Both(o, n) if o != n => step(out, o, n),
            Pair::Both(..) => {}
        }
    }
    if let Some((i, (os, op), (ns, np))) = reordered {
        out.push(Difference::new(
            Section::Steps,
            "execution order",
            Some(format!("step {}", i + 1)),
            Some(step_subject(&os, op)),
            Some(step_subject(&ns, np)),
        ));
    }
}

fn step(out: &mut Vec<Difference>, old: &PlanStep, new: &PlanStep) {
    let subject = step_subject(&old.service, old.percent);
    let s = Section::Steps;
    changed(
        out,
        s,
        &subject,
        Some("wave"),
        &(old.wave + 1),
        &(new.wave + 1),
    );
    let key = |c: &super::Change| (c.dial.to_string(), c.member.to_string());
    let show = |c: &super::Change| format!("from {} to {} ({})", c.from, c.to, c.region);
    let (pairs, reordered) = pair(&old.changes, &new.changes, key);
    for p in pairs {
        let (field, o, n) = match p {
            Pair::Both(o, n) if o == n => continue,
            Pair::Both(o, n) => (key(o), Some(show(o)), Some(show(n))),
            Pair::Old(o) => (key(o), Some(show(o)), None),
            Pair::New(n) => (key(n), None, Some(show(n))),
        };
        out.push(Difference::new(
            s,
            subject.clone(),
            Some(format!("{} {}", field.0, field.1)),
            o,
            n,
        ));
    }
    if let Some((i, o, n)) = reordered {
        out.push(Difference::new(
            s,
            subject.clone(),
            Some(format!("order of weight change {}", i + 1)),
            Some(format!("{} {}", o.0, o.1)),
            Some(format!("{} {}", n.0, n.1)),
        ));
    }
    let old_shares: BTreeMap<&str, f64> = old.shares.iter().map(|(r, v)| (&**r, *v)).collect();
    let new_shares: BTreeMap<&str, f64> = new.shares.iter().map(|(r, v)| (&**r, *v)).collect();
    shares(out, s, &subject, "share of ", &old_shares, &new_shares);
}

/// One difference per region whose share differs or is in one map only.
fn shares(
    out: &mut Vec<Difference>,
    section: Section,
    subject: &str,
    prefix: &str,
    old: &BTreeMap<&str, f64>,
    new: &BTreeMap<&str, f64>,
) {
    let regions: BTreeSet<&str> = old.keys().chain(new.keys()).copied().collect();
    for region in regions {
        let (o, n) = (old.get(region), new.get(region));
        if o != n {
            out.push(Difference::new(
                section,
                subject,
                Some(format!("{prefix}{region}")),
                o.map(f64::to_string),
                n.map(f64::to_string),
            ));
        }
    }
}

fn preflight(out: &mut Vec<Difference>, old: &[PreflightRow], new: &[PreflightRow]) {
    let s = Section::Preflight;
    let key = |r: &PreflightRow| (r.service.clone(), r.region.clone());
    let subject = |r: &PreflightRow| format!("{} in {}", r.service, r.region);
    let summary = |r: &PreflightRow| {
        format!(
            "{} of {} req/s, utilization {} of {} allowed, ok {}",
            r.projected_load, r.capacity, r.utilization, r.max_utilization, r.ok
        )
    };
    let (pairs, reordered) = pair(old, new, key);
    for p in pairs {
        match p {
            Pair::Old(o) => out.push(Difference::new(s, subject(o), None, Some(summary(o)), None)),
            Pair::New(n) => out.push(Difference::new(s, subject(n), None, None, Some(summary(n)))),
            Pair::Both(o, n) if o == n => {}
            Pair::Both(o, n) => {
                let subject = subject(o);
                changed(out, s, &subject, Some("ok"), &o.ok, &n.ok);
                changed(
                    out,
                    s,
                    &subject,
                    Some("projected load"),
                    &o.projected_load,
                    &n.projected_load,
                );
                changed(out, s, &subject, Some("capacity"), &o.capacity, &n.capacity);
                changed(
                    out,
                    s,
                    &subject,
                    Some("utilization"),
                    &o.utilization,
                    &n.utilization,
                );
                changed(
                    out,
                    s,
                    &subject,
                    Some("max utilization"),
                    &o.max_utilization,
                    &n.max_utilization,
                );
                let source = |f: super::FigureSource| format!("{f:?}").to_lowercase();
                changed(
                    out,
                    s,
                    &subject,
                    Some("load source"),
                    &source(o.load_source),
                    &source(n.load_source),
                );
                changed(
                    out,
                    s,
                    &subject,
                    Some("capacity source"),
                    &source(o.capacity_source),
                    &source(n.capacity_source),
                );
            }
        }
    }
    if let Some((i, o, n)) = reordered {
        out.push(Difference::new(
            s,
            "order",
            Some(format!("row {}", i + 1)),
            Some(format!("{} in {}", o.0, o.1)),
            Some(format!("{} in {}", n.0, n.1)),
        ));
    }
}

fn final_shares(out: &mut Vec<Difference>, old: &Plan, new: &Plan) {
    let services: BTreeSet<&String> = old
        .final_shares
        .keys()
        .chain(new.final_shares.keys())
        .collect();
    for service in services {
        match (old.final_shares.get(service), new.final_shares.get(service)) {
            (Some(o), Some(n)) => shares(
                out,
                Section::FinalShares,
                service,
                "",
                &as_map(o),
                &as_map(n),
            ),
            (o, n) => {
                let show = |m: &BTreeMap<String, f64>| {
                    m.iter()
                        .map(|(r, v)| format!("{r}={v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                out.push(Difference::new(
                    Section::FinalShares,
                    service.as_str(),
                    None,
                    o.map(show),
                    n.map(show),
                ));
            }
        }
    }
}

fn as_map(m: &BTreeMap<String, f64>) -> BTreeMap<&str, f64> {
    m.iter().map(|(r, v)| (r.as_str(), *v)).collect()
}

fn weights(out: &mut Vec<Difference>, section: Section, old: &Weights, new: &Weights) {
    let dials: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let show = |m: &BTreeMap<String, u32>| {
        m.iter()
            .map(|(member, w)| format!("{member}={w}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    for dial in dials {
        match (old.get(dial), new.get(dial)) {
            (Some(o), Some(n)) => {
                let members: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
                for member in members {
                    let (ow, nw) = (o.get(member), n.get(member));
                    if ow != nw {
                        out.push(Difference::new(
                            section,
                            dial.as_str(),
                            Some(member.clone()),
                            ow.map(u32::to_string),
                            nw.map(u32::to_string),
                        ));
                    }
                }
            }
            (o, n) => out.push(Difference::new(
                section,
                dial.as_str(),
                None,
                o.map(show),
                n.map(show),
            )),
        }
    }
}

fn notes(out: &mut Vec<Difference>, old: &[String], new: &[String]) {
    if old == new {
        return;
    }
    let mut remaining: BTreeMap<&str, usize> = BTreeMap::new();
    for n in new {
        *remaining.entry(n).or_default() += 1;
    }
    let mut only_old = Vec::new();
    for o in old {
        match remaining.get_mut(o.as_str()) {
            Some(k) if *k > 0 => *k -= 1,
            _ => only_old.push(o),
        }
    }
    let mut remaining: BTreeMap<&str, usize> = BTreeMap::new();
    for o in old {
        *remaining.entry(o).or_default() += 1;
    }
    let mut only_new = Vec::new();
    for n in new {
        match remaining.get_mut(n.as_str()) {
            Some(k) if *k > 0 => *k -= 1,
            _ => only_new.push(n),
        }
    }
    for o in &only_old {
        out.push(Difference::new(
            Section::Notes,
            "note",
            None,
            Some(o.to_string()),
            None,
        ));
    }
    for n in &only_new {
        out.push(Difference::new(
            Section::Notes,
            "note",
            None,
            None,
            Some(n.to_string()),
        ));
    }
    if only_old.is_empty() && only_new.is_empty() {
        // Same notes, another order.
        if let Some((i, (o, n))) = old.iter().zip(new).enumerate().find(|(_, (o, n))| o != n) {
            out.push(Difference::new(
                Section::Notes,
                "order",
                Some(format!("note {}", i + 1)),
                Some(o.clone()),
                Some(n.clone()),
            ));
        }
    }
}

fn figures(out: &mut Vec<Difference>, old: &Plan, new: &Plan) {
    changed(
        out,
        Section::Figures,
        "declared load",
        None,
        &old.figures.declared_load,
        &new.figures.declared_load,
    );
    let show = |f: &Figure| format!("{} req/s ({:?}: {})", f.value, f.source, f.detail);
    for (what, o, n) in [
        ("load", &old.figures.load, &new.figures.load),
        ("capacity", &old.figures.capacity, &new.figures.capacity),
    ] {
        let services: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
        for service in services {
            let empty = BTreeMap::new();
            let (os, ns) = (
                o.get(service).unwrap_or(&empty),
                n.get(service).unwrap_or(&empty),
            );
            let regions: BTreeSet<&String> = os.keys().chain(ns.keys()).collect();
            for region in regions {
                let (of, nf) = (os.get(region), ns.get(region));
                if of != nf {
                    out.push(Difference::new(
                        Section::Figures,
                        format!("{what} of {service} in {region}"),
                        None,
                        of.map(show),
                        nf.map(show),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
