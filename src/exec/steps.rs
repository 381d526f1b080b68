//! Step groups: a plan's steps grouped by (wave, percent), each with the complete weights its
//! dials hold before and after it. Pure.

use std::collections::BTreeMap;

use crate::plan::{Plan, Weights};

/// The steps of one (wave, percent), applied together.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StepGroup {
    /// Position in execution order.
    pub index: usize,
    /// Wave index.
    pub wave: usize,
    /// Cumulative percent.
    pub percent: u32,
    /// Services moved, in plan order.
    pub services: Vec<String>,
    /// Complete weights of every dial the group changes, before it.
    pub before: Weights,
    /// Complete weights of the same dials after it: the group's desired weights.
    pub after: Weights,
}

impl StepGroup {
    /// The dials the group changes.
    pub fn dials(&self) -> Vec<String> {
        self.after.keys().cloned().collect()
    }
}

/// Groups `plan.steps` by consecutive (wave, percent), starting from `plan.baseline`.
///
/// Errors name the step when the plan is inconsistent: a change on a dial or member missing
/// from the baseline, or a `from` that differs from the weight the dial holds before it.
pub(crate) fn groups(plan: &Plan) -> Result<Vec<StepGroup>, String> {
    let mut current = plan.baseline.clone();
    let mut groups: Vec<StepGroup> = Vec::new();
    for step in &plan.steps {
        let same = groups
            .last()
            .is_some_and(|g| g.wave == step.wave && g.percent == step.percent);
        if !same {
            if let Some(done) = groups.last_mut() {
                finish(done, &current);
            }
            groups.push(StepGroup {
                index: groups.len(),
                wave: step.wave,
                percent: step.percent,
                services: Vec::new(),
                before: Weights::new(),
                after: Weights::new(),
            });
        }
        let Some(group) = groups.last_mut() else {
            continue;
        };
        if !group.services.iter().any(|s| *s == step.service) {
            group.services.push(step.service.to_string());
        }
        for change in &step.changes {
            let Some(dial) = current.get_mut(change.dial.as_str()) else {
                return Err(format!(
                    "step {} {}% changes dial {}, which is not in the plan's baseline",
                    step.service, step.percent, change.dial
                ));
            };
            if !group.before.contains_key(change.dial.as_str()) {
                group.before.insert(change.dial.to_string(), dial.clone());
            }
            let Some(weight) = dial.get_mut(change.member.as_str()) else {
                return Err(format!(
                    "step {} {}% changes member {} of dial {}, which is not in the plan's baseline",
                    step.service, step.percent, change.member, change.dial
                ));
            };
            if *weight != change.from {
                return Err(format!(
                    "step {} {}% says dial {} member {} goes from {}, but it is {} before that step",
                    step.service, step.percent, change.dial, change.member, change.from, weight
                ));
            }
            *weight = change.to;
        }
    }
    if let Some(done) = groups.last_mut() {
        finish(done, &current);
    }
    Ok(groups)
}

/// Sets a group's desired weights from the weights right after its last step.
fn finish(group: &mut StepGroup, current: &Weights) {
    group.after = select(current, &group.dials_before());
}

impl StepGroup {
    fn dials_before(&self) -> Vec<String> {
        self.before.keys().cloned().collect()
    }
}

/// The weights every dial holds after `groups[..=last]` (the baseline when `last` is `None`).
pub(crate) fn weights_after(
    baseline: &Weights,
    groups: &[StepGroup],
    last: Option<usize>,
) -> Weights {
    let mut weights = baseline.clone();
    if let Some(last) = last {
        for group in groups.iter().take(last + 1) {
            for (dial, w) in &group.after {
                weights.insert(dial.clone(), w.clone());
            }
        }
    }
    weights
}

/// One member that differs between what was expected and what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mismatch {
    /// `service/dial`.
    pub dial: String,
    /// The member.
    pub member: String,
    /// Expected weight (`None`: the member should not exist).
    pub expected: Option<u32>,
    /// Found weight (`None`: missing).
    pub found: Option<u32>,
}

impl Mismatch {
    /// `dial X member M is 40, <expected_word> 60`.
    pub fn describe(&self, expected_word: &str) -> String {
        format!(
            "dial {} member {} is {}, {expected_word} {}",
            self.dial,
            self.member,
            show(self.found),
            show(self.expected)
        )
    }
}

fn show(w: Option<u32>) -> String {
    w.map_or_else(|| "missing".to_string(), |w| w.to_string())
}

/// Members of the dials in `expected` whose live weight differs (a dial absent from `live`
/// counts as every member missing). Stable order.
pub(crate) fn mismatches(expected: &Weights, live: &Weights) -> Vec<Mismatch> {
    let mut out = Vec::new();
    for (dial, want) in expected {
        let empty = BTreeMap::new();
        let have = live.get(dial).unwrap_or(&empty);
        for (member, w) in want {
            let found = have.get(member).copied();
            if found != Some(*w) {
                out.push(Mismatch {
                    dial: dial.clone(),
                    member: member.clone(),
                    expected: Some(*w),
                    found,
                });
            }
        }
        for (member, w) in have {
            if !want.contains_key(member) {
                out.push(Mismatch {
                    dial: dial.clone(),
                    member: member.clone(),
                    expected: None,
                    found: Some(*w),
                });
            }
        }
    }
    out
}

/// The weights of `dials` in `all` (dials absent from `all` are skipped).
pub(crate) fn select(all: &Weights, dials: &[String]) -> Weights {
    dials
        .iter()
        .filter_map(|d| all.get(d).map(|w| (d.clone(), w.clone())))
        .collect()
}

/// At most `n` items, then `and K more` (what the executor's messages and the progress
/// lines list).
pub fn first_few(items: &[String], n: usize) -> String {
    if items.len() <= n {
        items.join("; ")
    } else {
        format!("{}; and {} more", items[..n].join("; "), items.len() - n)
    }
}
