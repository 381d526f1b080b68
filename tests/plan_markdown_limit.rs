//! `kong plan --format markdown --max-chars N` on a generated 1,000-service topology: never
//! longer than N, and the summary, the pre-flight rows and the waves always there.

use kong::model::{parse_playbook, parse_topology};
use kong::plan::{Operation, PlanInput, initial_weights, plan, render};

include!("../benches/support/gen.rs");

const PLAYBOOK: &str = "name: big\nsteps: [10, 25, 50, 100]\nbake: 1s\n";

#[test]
fn markdown_of_1000_services_stays_within_max_chars_with_summary_preflight_and_waves() {
    let yaml = generate_layered_topology(1000, 4, 7);
    let topology = parse_topology("big.yaml", &yaml).unwrap_or_else(|d| panic!("{d}"));
    let playbook = parse_playbook("big-playbook.yaml", PLAYBOOK, Some(&topology))
        .unwrap_or_else(|d| panic!("{d}"));
    let observed = initial_weights(&topology);
    let plan = plan(&PlanInput {
        topology: &topology,
        playbook: &playbook,
        operation: Operation::Evacuate,
        region: "us-east-1",
        observed: &observed,
        restore_to: None,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let full = render::markdown(&plan);
    assert!(
        full.len() > 65_536,
        "{} bytes: not a test of the limit",
        full.len()
    );
    for max in [60_000, 65_536, 20_000, 5_000] {
        let out = render::markdown_within(&plan, max);
        assert!(
            out.chars().count() <= max,
            "{max}: {} chars",
            out.chars().count()
        );
        assert!(out.len() <= max, "{max}: {} bytes", out.len());
        for part in [
            "## kong plan: evacuate us-east-1",
            "### Pre-flight",
            "| service | region | projected load |",
            "### Waves",
            "- **Wave 1 of 4**",
            "- **Wave 4 of 4**",
            "left out to stay within",
        ] {
            assert!(out.contains(part), "{max}: missing {part}");
        }
        assert_eq!(
            out.matches("<details>").count(),
            out.matches("</details>").count()
        );
    }
    // Even a limit smaller than the summary is honoured.
    for max in [0, 10, 100, 400] {
        assert!(render::markdown_within(&plan, max).len() <= max);
    }
}
