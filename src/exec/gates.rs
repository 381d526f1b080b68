//! Approval gates: where they trigger in a plan. Pure.
//!
//! A gate at G means "before moving past G%": it triggers before the first step group whose
//! percent is above G, once per run (later waves restart their percent, but a gate is asked
//! only the first time it is crossed). A gate no group passes (e.g. 100) never triggers.

use super::steps::StepGroup;

/// (group index, gate percent) for every gate that triggers, sorted by group then percent.
pub(crate) fn triggers(gates: &[u32], groups: &[StepGroup]) -> Vec<(usize, u32)> {
    let mut out: Vec<(usize, u32)> = gates
        .iter()
        .filter_map(|&gate| {
            groups
                .iter()
                .find(|g| g.percent > gate)
                .map(|g| (g.index, gate))
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The gates that trigger at group `index`.
pub(crate) fn at(triggers: &[(usize, u32)], index: usize) -> Vec<u32> {
    triggers
        .iter()
        .filter(|(i, _)| *i == index)
        .map(|(_, g)| *g)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Weights;

    fn group(index: usize, wave: usize, percent: u32) -> StepGroup {
        StepGroup {
            index,
            wave,
            percent,
            services: vec![],
            before: Weights::new(),
            after: Weights::new(),
        }
    }

    #[test]
    fn a_gate_triggers_once_before_the_first_group_past_it() {
        let groups = vec![
            group(0, 0, 10),
            group(1, 0, 50),
            group(2, 0, 100),
            group(3, 1, 10),
            group(4, 1, 100),
        ];
        assert_eq!(
            triggers(&[50, 0, 100], &groups),
            vec![(0, 0), (2, 50)],
            "a gate at 100 is never crossed"
        );
        assert_eq!(at(&triggers(&[50], &groups), 2), vec![50]);
        assert!(at(&triggers(&[50], &groups), 4).is_empty());
    }
}
