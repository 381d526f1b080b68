//! The pure planner: topology + playbook + observed weights -> a deterministic [`Plan`].
//!
//! Nothing in this module performs I/O, reads a clock or awaits: `ops/test.sh` greps
//! `src/plan` for `tokio`, `std::fs`, `aws_`, `SystemTime`, `Instant::now`, `async fn` and
//! `reqwest` outside comments and fails if it finds them.

mod types;

pub use types::*;
mod diff;
mod error;
mod evacuate;
mod figures;
mod initial;
mod name;
mod planner;
mod preflight;
mod redistribute;
pub mod render;
mod restore;
mod rounding;
mod shares;
mod waves;

pub use diff::{Difference, PlanDiff, Section};
pub use error::PlanError;
pub use figures::{Figure, FigureSource, Figures, annotate, mark_sources};
pub use initial::initial_weights;
pub use name::Name;
pub use planner::{PlanInput, plan};
pub use preflight::{failures as preflight_failures, reproject};
pub use shares::{all_served_shares, served_shares};
pub use waves::waves;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
