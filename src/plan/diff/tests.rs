//! Unit tests of the plan diff and its renderings.

use super::super::render::fixture;
use super::*;

#[test]
fn identical_plans_have_no_difference() {
    let diff = PlanDiff::new(&fixture::plan(), &fixture::plan());
    assert!(diff.is_empty());
    assert_eq!(
        diff.text("a.json", "b.json"),
        "--- a.json\n+++ b.json\nno differences: the plans are identical\n"
    );
}

#[test]
fn a_changed_weight_is_named_with_its_step_and_member() {
    let old = fixture::plan();
    let mut new = old.clone();
    new.steps[0].changes[0].to = 40;
    new.steps[1].changes[0].from = 40;
    let diff = PlanDiff::new(&old, &new);
    assert_eq!(diff.differences.len(), 2, "{diff:?}");
    let first = diff.first().unwrap();
    assert_eq!(first.section, Section::Steps);
    assert_eq!(first.subject, "edge-api at 50%");
    assert_eq!(first.field.as_deref(), Some("edge-api/dns use1"));
    assert_eq!(
        first.describe("the file", "now"),
        "steps: edge-api at 50%, edge-api/dns use1: from 100 to 38 (us-east-1) in the file, from 100 to 40 (us-east-1) in now"
    );
    assert_eq!(diff.differences[1].subject, "edge-api at 100%");
}

#[test]
fn a_removed_step_is_only_in_the_old_plan() {
    let old = fixture::plan();
    let mut new = old.clone();
    new.steps.remove(2);
    let diff = PlanDiff::new(&old, &new);
    let first = diff.first().unwrap();
    assert_eq!(first.subject, "catalog at 50%");
    assert_eq!(first.old.as_deref(), Some("wave 2, 1 weight change"));
    assert_eq!(first.new, None);
    assert_eq!(diff.differences.len(), 1, "{diff:?}");
}

#[test]
fn swapped_waves_are_named_first() {
    let old = fixture::plan();
    let mut new = old.clone();
    new.waves.swap(0, 1);
    new.steps.rotate_left(2);
    for step in &mut new.steps {
        step.wave = 1 - step.wave;
    }
    let diff = PlanDiff::new(&old, &new);
    let first = diff.first().unwrap();
    assert_eq!(first.section, Section::Waves);
    assert_eq!(first.subject, "wave 1");
    assert_eq!(first.old.as_deref(), Some("edge-api"));
    assert_eq!(first.new.as_deref(), Some("catalog"));
    assert!(
        diff.differences
            .iter()
            .any(|d| d.subject == "execution order"),
        "{diff:?}"
    );
}

#[test]
fn preflight_ok_flipped_is_a_difference() {
    let old = fixture::plan();
    let mut new = old.clone();
    new.preflight[1].ok = true;
    let diff = PlanDiff::new(&old, &new);
    assert_eq!(diff.differences.len(), 1);
    assert_eq!(
        diff.first().unwrap().describe("old", "new"),
        "pre-flight: edge-api in us-west-2, ok: false in old, true in new"
    );
}

#[test]
fn every_other_field_is_compared() {
    let old = fixture::plan();
    let mut new = old.clone();
    new.topology_hash = "abc".into();
    new.final_shares
        .get_mut("catalog")
        .unwrap()
        .insert("us-west-2".into(), 0.9);
    new.baseline
        .get_mut("catalog/dns")
        .unwrap()
        .insert("usw2".into(), 151);
    new.target.remove("catalog/dns");
    new.notes.push("extra".into());
    new.steps[3].shares.insert("us-west-2".into(), 0.5);
    new.figures
        .load
        .entry("catalog".into())
        .or_default()
        .insert(
            "us-west-2".into(),
            Figure {
                value: 10.0,
                source: super::super::FigureSource::Live,
                detail: "q".into(),
            },
        );
    let diff = PlanDiff::new(&old, &new);
    let sections: Vec<Section> = diff.differences.iter().map(|d| d.section).collect();
    assert_eq!(
        sections,
        vec![
            Section::Plan,
            Section::Steps,
            Section::FinalShares,
            Section::Baseline,
            Section::Target,
            Section::Notes,
            Section::Figures
        ],
        "{diff:?}"
    );
    assert_eq!(diff.differences[0].old.as_deref(), Some("-"));
    assert_eq!(
        diff.differences[1].field.as_deref(),
        Some("share of us-west-2")
    );
    assert_eq!(diff.differences[4].new, None);
}

#[test]
fn reordered_notes_are_a_difference() {
    let mut old = fixture::plan();
    old.notes.push("second".into());
    let mut new = old.clone();
    new.notes.reverse();
    let diff = PlanDiff::new(&old, &new);
    assert_eq!(diff.differences.len(), 1);
    assert_eq!(diff.first().unwrap().subject, "order");
}

#[test]
fn text_lists_differences_by_section() {
    let old = fixture::plan();
    let mut new = old.clone();
    new.steps[3].changes[0].to = 5;
    new.notes.clear();
    let text = PlanDiff::new(&old, &new).text("old.json", "new.json");
    assert_eq!(
        text,
        "--- old.json\n+++ new.json\n2 differences\n\nsteps:\n  ~ catalog at 100%, catalog/dns use1: from 100 to 0 (us-east-1) -> from 100 to 5 (us-east-1)\n\nnotes:\n  - note: edge-api: us-west-2 limits the move (80.0% > 75.0%)\n"
    );
}
