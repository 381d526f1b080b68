//! The JSON rendering: the plan's serde form, pretty-printed, the format `--out` saves.

use crate::plan::Plan;

/// Renders a plan as pretty JSON with a trailing newline; keys are the plan's serde names.
pub fn json(plan: &Plan) -> String {
    // Serializing a struct of strings, numbers and string-keyed maps cannot fail.
    let mut out = serde_json::to_string_pretty(plan).expect("a plan always serializes to JSON");
    out.push('\n');
    out
}

/// Writes [`json`]'s text to `out` as it is produced (a 10,000-service plan is 36 MB: it is
/// never held in memory whole).
pub fn write_json(plan: &Plan, out: &mut impl std::io::Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, plan).map_err(std::io::Error::from)?;
    out.write_all(b"\n")
}

/// Whether `bytes` are exactly what [`write_json`] writes for `plan` (a saved plan that is
/// this plan: the JSON is deterministic). Compared as the JSON is produced, without holding
/// it; the first byte that differs stops the serialization.
pub fn same_json(plan: &Plan, bytes: &[u8]) -> bool {
    let mut rest = Rest(bytes);
    write_json(plan, &mut rest).is_ok() && rest.0.is_empty()
}

/// The bytes not yet matched; a write that does not match them fails.
struct Rest<'a>(&'a [u8]);

impl std::io::Write for Rest<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.strip_prefix(buf) {
            Some(rest) => {
                self.0 = rest;
                Ok(buf.len())
            }
            None => Err(std::io::Error::other("differs from the plan's JSON")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
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
    fn written_json_is_the_rendered_json() {
        let plan = fixture::plan();
        let mut out = Vec::new();
        write_json(&plan, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), json(&plan));
    }

    #[test]
    fn json_is_deterministic() {
        assert_eq!(json(&fixture::plan()), json(&fixture::plan()));
    }

    #[test]
    fn same_json_is_the_written_json_and_nothing_else() {
        let plan = fixture::plan();
        let written = json(&plan);
        assert!(same_json(&plan, written.as_bytes()));
        // Shorter, longer, one byte changed, reformatted: not the same.
        assert!(!same_json(&plan, written.trim_end().as_bytes()));
        assert!(!same_json(&plan, format!("{written}\n").as_bytes()));
        let edited = written.replacen("\"from\": 100", "\"from\": 101", 1);
        assert_ne!(edited, written);
        assert!(!same_json(&plan, edited.as_bytes()));
        let compact = serde_json::to_string(&plan).unwrap();
        assert!(!same_json(&plan, compact.as_bytes()));
        assert!(!same_json(&plan, b""));
    }
}
