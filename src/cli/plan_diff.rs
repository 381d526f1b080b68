//! `kong plan diff OLD.json NEW.json`: what changed between two saved plans; changes nothing.

use std::path::Path;

use super::context::{Context, Line};
use super::exit::Done;
use super::{CliError, Common, DiffFormat};
use crate::plan::PlanDiff;
use crate::prepare::saved::read_plan;

/// Prints the difference; [`Done::Differ`] (exit 1) when the plans differ, like `diff`.
pub fn run(common: &Common, old: &Path, new: &Path, format: DiffFormat) -> Result<Done, CliError> {
    // Markdown is posted as is: the backend line goes to stderr.
    let line = match format {
        DiffFormat::Text => Line::Stdout,
        DiffFormat::Markdown => Line::Stderr,
    };
    let _ctx = Context::<()>::open(common, "plan diff", line)?;
    let (old_plan, new_plan) = (read_plan(old)?, read_plan(new)?);
    let diff = PlanDiff::new(&old_plan, &new_plan);
    let (old_name, new_name) = (old.display().to_string(), new.display().to_string());
    print!(
        "{}",
        match format {
            DiffFormat::Text => diff.text(&old_name, &new_name),
            DiffFormat::Markdown => diff.markdown(&old_name, &new_name),
        }
    );
    Ok(if diff.is_empty() {
        Done::Ok
    } else {
        Done::Differ
    })
}
