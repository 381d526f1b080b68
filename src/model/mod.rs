//! Topology and playbook: file formats, loading, validation with diagnostics, and the
//! validated types every other module consumes.

mod diagnostic;
mod load;
mod types;

pub use diagnostic::{Diagnostic, Diagnostics};
pub use load::{load_playbook, load_topology, parse_playbook, parse_topology};
pub use types::*;
