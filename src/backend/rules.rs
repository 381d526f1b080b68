//! Provider rules, in one place for every backend: what a batch may ask, and which errors a
//! retry may clear.
//!
//! Every backend refuses, before any call, a batch that breaks a rule: a dial the topology
//! lacks, a dial of another batch, a member the dial lacks or a member left out (ELBv2
//! replaces the whole forward action, so a batch names every member), a weight out of the
//! provider's range (Route 53 0..=255, ALB 0..=999, the simulator 0..=255), or every member
//! at 0 (Route 53 then spreads traffic evenly, which would undo an evacuation).

use crate::model::Topology;

use super::{BackendError, Batch, batch_key};

/// Checks `batch` against the provider rules without changing anything. The error is
/// permanent (the same batch would be refused again) and names the dial and the member.
pub fn validate_batch(topology: &Topology, batch: &Batch) -> Result<(), BackendError> {
    let target = batch.key.to_string();
    let fail = |message: String| BackendError::permanent("apply", &target, message);
    for (dial_ref, desired) in &batch.weights {
        let (_, dial) = topology
            .find_dial(dial_ref)
            .ok_or_else(|| fail(format!("no dial {dial_ref} in the topology")))?;
        let key = batch_key(topology, dial_ref);
        if key != batch.key {
            return Err(fail(format!(
                "dial {dial_ref} belongs to {key}, not to this batch"
            )));
        }
        if let Some(member) = desired.keys().find(|m| !dial.members.contains_key(*m)) {
            return Err(fail(format!("dial {dial_ref} has no member {member}")));
        }
        if let Some(member) = dial.members.keys().find(|m| !desired.contains_key(*m)) {
            return Err(fail(format!(
                "batch for dial {dial_ref} lacks member {member} (a batch sets every member)"
            )));
        }
        let max = dial.max_weight();
        if let Some((member, weight)) = desired.iter().find(|(_, w)| **w > max) {
            return Err(fail(format!(
                "weight {weight} of {dial_ref} member {member} is out of range 0..={max}"
            )));
        }
        if !desired.is_empty() && desired.values().all(|w| *w == 0) {
            return Err(fail(format!(
                "every member of dial {dial_ref} would be 0, which spreads traffic evenly"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::backend::{BatchKey, batches};
    use crate::model::{Weights, parse_topology};

    pub(crate) const TOPOLOGY: &str = "\
name: rules
regions: [r1, r2]
max_utilization: 0.8
services:
  svc:
    capacity: {r1: 100, r2: 100}
    load: {r1: 10, r2: 10}
    dials:
      - id: dns
        route53:
          hosted_zone_id: Z1
          record: svc.example.com.
          type: CNAME
          members: {a: r1, b: r2}
      - id: lb
        alb:
          region: r1
          listener_arn: arn:listener
          members: {tg-a: r1, tg-b: r2}
      - id: rule
        alb:
          region: r1
          rule_arn: arn:rule
          members: {tg-a: r1, tg-b: r2}
      - id: sim
        sim:
          members: {a: r1, b: r2}
";

    fn topology() -> Topology {
        parse_topology("t.yaml", TOPOLOGY).unwrap()
    }

    /// Every dial kind, with its provider's largest weight.
    const DIALS: [(&str, u32); 4] = [
        ("svc/dns", 255),
        ("svc/lb", 999),
        ("svc/rule", 999),
        ("svc/sim", 255),
    ];

    fn members(dial: &str) -> [&'static str; 2] {
        if dial.ends_with("lb") || dial.ends_with("rule") {
            ["tg-a", "tg-b"]
        } else {
            ["a", "b"]
        }
    }

    fn batch(topology: &Topology, dial: &str, weights: &[(&str, u32)]) -> Batch {
        let weights: Weights = [(
            dial.to_string(),
            weights
                .iter()
                .map(|(m, w)| (m.to_string(), *w))
                .collect::<BTreeMap<_, _>>(),
        )]
        .into();
        let mut all = batches(topology, &weights);
        assert_eq!(all.len(), 1);
        all.remove(0)
    }

    fn refused(topology: &Topology, batch: &Batch) -> String {
        let err = validate_batch(topology, batch).unwrap_err();
        assert!(!err.is_transient(), "{err}");
        err.to_string()
    }

    #[test]
    fn a_complete_batch_in_range_passes_on_every_kind() {
        let t = topology();
        for (dial, max) in DIALS {
            let [a, b] = members(dial);
            validate_batch(&t, &batch(&t, dial, &[(a, max), (b, 0)])).unwrap();
        }
    }

    #[test]
    fn all_zero_out_of_range_and_missing_or_unknown_members_are_refused_on_every_kind() {
        let t = topology();
        for (dial, max) in DIALS {
            let [a, b] = members(dial);
            let cases: [(&[(&str, u32)], String); 4] = [
                (&[(a, 0), (b, 0)], "would be 0".to_string()),
                // At the provider's limit.
                (&[(a, max + 1), (b, 1)], format!("out of range 0..={max}")),
                (&[(a, 10)], format!("lacks member {b}")),
                (
                    &[(a, 10), (b, 1), ("zz", 1)],
                    "has no member zz".to_string(),
                ),
            ];
            for (weights, expected) in cases {
                let err = refused(&t, &batch(&t, dial, weights));
                assert!(err.contains(&expected), "{dial} {weights:?}: {err}");
            }
        }
    }

    #[test]
    fn a_dial_of_another_batch_is_refused_on_every_kind() {
        let t = topology();
        for (dial, _) in DIALS {
            let [a, b] = members(dial);
            let mut batch = batch(&t, dial, &[(a, 10), (b, 1)]);
            batch.key = BatchKey::SimDial("other/dial".to_string());
            let err = refused(&t, &batch);
            assert!(err.contains("not to this batch"), "{dial}: {err}");
        }
    }

    #[test]
    fn a_dial_the_topology_lacks_is_refused() {
        let t = topology();
        let batch = batch(&t, "svc/none", &[("a", 1)]);
        assert!(refused(&t, &batch).contains("no dial svc/none"));
    }

    #[test]
    fn the_two_error_kinds_classify_and_render_the_same_way() {
        let t = BackendError::transient("ChangeResourceRecordSets", "hosted zone Z1", "Throttling");
        let p = BackendError::permanent(
            "ChangeResourceRecordSets",
            "hosted zone Z1",
            "NoSuchHostedZone",
        );
        assert!(t.is_transient());
        assert!(!p.is_transient());
        assert_eq!(
            t.to_string(),
            "ChangeResourceRecordSets on hosted zone Z1 failed (transient): Throttling"
        );
        assert_eq!(
            p.to_string(),
            "ChangeResourceRecordSets on hosted zone Z1 failed: NoSuchHostedZone"
        );
    }
}
