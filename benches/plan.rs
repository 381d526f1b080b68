//! Criterion benches of the 10,000-service case from issue 2's Performance section:
//! parse + validate a generated ~4 MB topology, plan an evacuation alone, render the plan.
//!
//! `cargo bench --bench plan` (add `-- --quick` for a fast look).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use kong::model::{parse_playbook, parse_topology};
use kong::plan::{Operation, PlanInput, initial_weights, plan, render};

include!("support/gen.rs");

const SERVICES: usize = 10_000;
const PLAYBOOK: &str = include_str!("../playbooks/evacuate.yaml");

fn big(c: &mut Criterion) {
    let yaml = generate_topology(SERVICES, 1);
    let topology =
        parse_topology("generated.yaml", &yaml).expect("the generated topology is valid");
    let playbook = parse_playbook("playbooks/evacuate.yaml", PLAYBOOK, Some(&topology))
        .expect("playbooks/evacuate.yaml is valid");
    let observed = initial_weights(&topology);
    let input = PlanInput {
        topology: &topology,
        playbook: &playbook,
        operation: Operation::Evacuate,
        region: "us-east-1",
        observed: &observed,
        restore_to: None,
    };
    let evacuation = plan(&input).expect("evacuating us-east-1 of the generated topology plans");

    let mut group = c.benchmark_group("10k_services");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    // Each routine returns a large value; `iter_with_large_drop` frees it outside the timed
    // loop, so the figures are of parsing and planning, not of the allocator freeing results.
    group.bench_function("parse_topology", |b| {
        b.iter_with_large_drop(|| {
            parse_topology("generated.yaml", black_box(&yaml)).expect("valid")
        })
    });
    group.bench_function("initial_weights", |b| {
        b.iter_with_large_drop(|| initial_weights(black_box(&topology)))
    });
    group.bench_function("plan_evacuate", |b| {
        b.iter_with_large_drop(|| plan(black_box(&input)).expect("plans"))
    });
    group.bench_function("render_json", |b| {
        b.iter(|| render::json(black_box(&evacuation)))
    });
    group.bench_function("render_text", |b| {
        b.iter(|| render::text(black_box(&evacuation)))
    });
    group.finish();
}

criterion_group!(benches, big);
criterion_main!(benches);
