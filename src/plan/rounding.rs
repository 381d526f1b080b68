//! From target shares to integer weights.
//!
//! Guarantees, for a dial whose target shares sum to 1:
//! - the weights sum to the chosen total T (so the dial is never all-zero when T >= 1);
//! - every weight is in `0..=max_weight` and within one unit of `share * T`;
//! - the members of the moved region, taken together, get `ceil` (evacuate: a step never moves
//!   more than scheduled) or `floor` (restore: a step never brings back more than scheduled)
//!   of their summed exact weight; members with a target of 0 get exactly 0.
//!
//! Rounding is by the largest-remainder method, ties broken by member order (member id).
//! Pure: no I/O.

/// How the members of the moved region are rounded as a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupRound {
    /// Round the group's total up: it keeps at least its target (evacuation).
    Up,
    /// Round the group's total down: it gets at most its target (restore).
    Down,
}

/// One member's target: its share of the dial and whether it serves the moved region.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    /// Target share in [0, 1].
    pub(crate) share: f64,
    /// Whether the member serves the region being evacuated or restored.
    pub(crate) moved: bool,
}

/// Integer weights for `targets` (member order), summing to `total` unless a member would
/// exceed `max_weight`, in which case the total is scaled down to
/// `floor(max_weight / largest share)`.
pub(crate) fn weights_from_shares(
    targets: &[Target],
    total: u64,
    max_weight: u32,
    round: GroupRound,
) -> Vec<u32> {
    let mut t = total.max(1) as f64;
    let largest = targets.iter().map(|x| x.share).fold(0.0, f64::max);
    if largest * t > f64::from(max_weight) + 1e-9 {
        t = (f64::from(max_weight) / largest).floor().max(1.0);
    }
    let t_int = t as i64;
    let exact = |i: usize| snap(targets[i].share.max(0.0) * t);

    let has_group = targets.iter().any(|x| x.moved);
    let has_others = targets.iter().any(|x| !x.moved);
    let group_total = if !has_others {
        t_int
    } else if !has_group {
        0
    } else {
        let group_exact = snap(
            (0..targets.len())
                .filter(|&i| targets[i].moved)
                .map(exact)
                .sum(),
        );
        let rounded = match round {
            GroupRound::Up => group_exact.ceil(),
            GroupRound::Down => group_exact.floor(),
        };
        (rounded as i64).clamp(0, t_int)
    };

    // Largest remainder within each part: floors first, then one more unit to the largest
    // fractional parts (ties: member order). With shares summing to 1 the leftover of each
    // part lies in 0..len; the loops also absorb an off-by-one from float sums.
    let mut weights: Vec<u32> = (0..targets.len())
        .map(|i| exact(i).floor() as u32)
        .collect();
    let mut order: Vec<usize> = (0..targets.len()).collect();
    let frac = |i: usize| exact(i) - exact(i).floor();
    order.sort_by(|&a, &b| frac(b).total_cmp(&frac(a)).then(a.cmp(&b)));
    for (moved, budget) in [(true, group_total), (false, t_int - group_total)] {
        let in_part = |i: usize| targets[i].moved == moved;
        if !(0..targets.len()).any(in_part) {
            continue;
        }
        let floors: i64 = (0..targets.len())
            .filter(|&i| in_part(i))
            .map(|i| i64::from(weights[i]))
            .sum();
        let mut left = budget - floors;
        while left > 0 {
            for &i in order.iter().filter(|&&i| in_part(i)) {
                if left == 0 {
                    break;
                }
                weights[i] += 1;
                left -= 1;
            }
        }
        while left < 0 {
            let before = left;
            for &i in order.iter().rev().filter(|&&i| in_part(i)) {
                if left == 0 {
                    break;
                }
                if weights[i] > 0 {
                    weights[i] -= 1;
                    left += 1;
                }
            }
            if left == before {
                break;
            }
        }
    }
    for w in &mut weights {
        *w = (*w).min(max_weight);
    }
    weights
}

/// Rounds values within 1e-9 of an integer to it, so `w / T * T` gives back `w`.
fn snap(x: f64) -> f64 {
    let r = x.round();
    if (x - r).abs() < 1e-9 { r } else { x }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(share: f64, moved: bool) -> Target {
        Target { share, moved }
    }

    #[test]
    fn exact_shares_give_back_their_weights() {
        let targets = [
            t(100.0 / 200.0, true),
            t(60.0 / 200.0, false),
            t(40.0 / 200.0, false),
        ];
        assert_eq!(
            weights_from_shares(&targets, 200, 255, GroupRound::Up),
            vec![100, 60, 40]
        );
    }

    #[test]
    fn moved_group_rounds_up_and_others_fill_to_total() {
        // 10% of 0.5 moved: 0.45 * 200 = 90 exactly; 5 units spread 0.6/0.4 over the rest.
        let targets = [t(0.4533, true), t(0.33, false), t(0.2167, false)];
        let w = weights_from_shares(&targets, 200, 255, GroupRound::Up);
        assert_eq!(w.iter().sum::<u32>(), 200);
        assert_eq!(w[0], 91);
    }

    #[test]
    fn moved_group_rounds_down_on_restore() {
        let targets = [t(0.4533, true), t(0.33, false), t(0.2167, false)];
        let w = weights_from_shares(&targets, 200, 255, GroupRound::Down);
        assert_eq!(w[0], 90);
        assert_eq!(w.iter().sum::<u32>(), 200);
    }

    #[test]
    fn total_scales_down_when_a_member_would_exceed_max_weight() {
        let targets = [t(0.0, true), t(0.5, false), t(0.5, false)];
        let w = weights_from_shares(&targets, 765, 255, GroupRound::Up);
        assert_eq!(w, vec![0, 255, 255]);
    }

    #[test]
    fn several_moved_members_never_overdraw_the_total() {
        let targets = [
            t(0.0033, true),
            t(0.0033, true),
            t(0.0033, true),
            t(0.9901, false),
        ];
        let w = weights_from_shares(&targets, 100, 255, GroupRound::Up);
        assert_eq!(w.iter().sum::<u32>(), 100);
        assert_eq!(w[..3].iter().sum::<u32>(), 1);
        assert_eq!(w[3], 99);
    }

    #[test]
    fn zero_target_members_get_zero() {
        let targets = [t(0.0, true), t(0.0, false), t(1.0, false)];
        assert_eq!(
            weights_from_shares(&targets, 3, 255, GroupRound::Up),
            vec![0, 0, 3]
        );
    }
}
