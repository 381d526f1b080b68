//! The JSON rendering: the plan's serde form, pretty-printed, the format `--out` saves.

use crate::plan::Plan;

/// Renders a plan as pretty JSON with a trailing newline; keys are the plan's serde names.
pub fn json(plan: &Plan) -> String {
    // Serializing a struct of strings, numbers and string-keyed maps cannot fail.
    let mut out = serde_json::to_string_pretty(plan).expect("a plan always serializes to JSON");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;

    #[test]
    fn json_has_the_spec_keys_and_round_trips() {
        let plan = fixture::plan();
        let out = json(&plan);
        assert!(out.ends_with("}\n"));
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        for key in [
            "operation",
            "region",
            "waves",
            "steps",
            "final_shares",
            "preflight",
        ] {
            assert!(value.get(key).is_some(), "missing {key}");
        }
        assert_eq!(value["operation"], "evacuate");
        assert_eq!(value["steps"][0]["changes"][0]["from"], 100);
        let back: Plan = serde_json::from_str(&out).unwrap();
        assert_eq!(back, plan);
    }

    #[test]
    fn json_is_deterministic() {
        assert_eq!(json(&fixture::plan()), json(&fixture::plan()));
    }
}
