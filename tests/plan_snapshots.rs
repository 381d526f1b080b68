//! Snapshots of what reviewers and operators read: the plans of `topology/streaming.yaml`
//! with `playbooks/evacuate.yaml` (text, markdown, json), evacuate and restore, and its graph.
//!
//! Update after an intended change with `INSTA_UPDATE=always cargo test --test plan_snapshots`,
//! then read the `.snap` diffs before committing them.

use kong::model::{Playbook, Topology, parse_playbook, parse_topology};
use kong::plan::{Operation, Plan, PlanInput, Weights, initial_weights, plan, render};

const TOPOLOGY: &str = include_str!("../topology/streaming.yaml");
const PLAYBOOK: &str = include_str!("../playbooks/evacuate.yaml");
const REGION: &str = "us-east-1";

fn streaming() -> (Topology, Playbook) {
    let topology =
        parse_topology("topology/streaming.yaml", TOPOLOGY).unwrap_or_else(|d| panic!("{d}"));
    let playbook = parse_playbook("playbooks/evacuate.yaml", PLAYBOOK, Some(&topology))
        .unwrap_or_else(|d| panic!("{d}"));
    (topology, playbook)
}

fn planned(
    topology: &Topology,
    playbook: &Playbook,
    operation: Operation,
    observed: &Weights,
    restore_to: Option<&Weights>,
) -> Plan {
    let input = PlanInput {
        topology,
        playbook,
        operation,
        region: REGION,
        observed,
        restore_to,
    };
    plan(&input).unwrap_or_else(|e| panic!("{e}"))
}

/// The weights after `plan` ran: its target over its baseline.
fn applied(plan: &Plan) -> Weights {
    let mut weights = plan.baseline.clone();
    for (dial, members) in &plan.target {
        weights
            .entry(dial.clone())
            .or_default()
            .extend(members.iter().map(|(m, w)| (m.clone(), *w)));
    }
    weights
}

fn evacuation() -> Plan {
    let (topology, playbook) = streaming();
    planned(
        &topology,
        &playbook,
        Operation::Evacuate,
        &initial_weights(&topology),
        None,
    )
}

fn restoration() -> Plan {
    let (topology, playbook) = streaming();
    let baseline = initial_weights(&topology);
    let evacuated = applied(&planned(
        &topology,
        &playbook,
        Operation::Evacuate,
        &baseline,
        None,
    ));
    planned(
        &topology,
        &playbook,
        Operation::Restore,
        &evacuated,
        Some(&baseline),
    )
}

#[test]
fn evacuate_us_east_1_text() {
    insta::assert_snapshot!(render::text(&evacuation()));
}

#[test]
fn evacuate_us_east_1_markdown() {
    insta::assert_snapshot!(render::markdown(&evacuation()));
}

#[test]
fn evacuate_us_east_1_json() {
    insta::assert_snapshot!(render::json(&evacuation()));
}

#[test]
fn restore_us_east_1_text() {
    insta::assert_snapshot!(render::text(&restoration()));
}

#[test]
fn restore_us_east_1_markdown() {
    insta::assert_snapshot!(render::markdown(&restoration()));
}

#[test]
fn restore_us_east_1_json() {
    insta::assert_snapshot!(render::json(&restoration()));
}

#[test]
fn evacuate_again_after_evacuation_renders_no_changes() {
    let (topology, playbook) = streaming();
    let evacuated = applied(&evacuation());
    let again = planned(&topology, &playbook, Operation::Evacuate, &evacuated, None);
    assert!(again.is_empty(), "{}", render::text(&again));
    insta::assert_snapshot!(render::text(&again));
}

#[test]
fn json_rendering_round_trips_to_the_same_plan() {
    let plan = evacuation();
    let back: Plan = serde_json::from_str(&render::json(&plan)).expect("plan JSON parses");
    assert_eq!(back, plan);
}

#[test]
fn renderings_are_byte_for_byte_deterministic() {
    let (a, b) = (evacuation(), evacuation());
    assert_eq!(render::text(&a), render::text(&b));
    assert_eq!(render::markdown(&a), render::markdown(&b));
    assert_eq!(render::json(&a), render::json(&b));
}

#[test]
fn evacuate_shared_example_us_east_1_text() {
    let topology = parse_topology(
        "tests/fixtures/shared/topology.yaml",
        include_str!("fixtures/shared/topology.yaml"),
    )
    .unwrap_or_else(|d| panic!("{d}"));
    let playbook = parse_playbook(
        "tests/fixtures/shared/playbook.yaml",
        include_str!("fixtures/shared/playbook.yaml"),
        Some(&topology),
    )
    .unwrap_or_else(|d| panic!("{d}"));
    let observed = initial_weights(&topology);
    insta::assert_snapshot!(render::text(&planned(
        &topology,
        &playbook,
        Operation::Evacuate,
        &observed,
        None
    )));
}

#[test]
fn graph_of_streaming_dot() {
    insta::assert_snapshot!(kong::graph::dot(&streaming().0));
}

#[test]
fn graph_of_streaming_mermaid() {
    insta::assert_snapshot!(kong::graph::mermaid(&streaming().0));
}
