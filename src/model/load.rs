//! Loading topology and playbook files: YAML -> raw spanned types -> validated model.

use std::path::Path;

use super::{Diagnostics, Playbook, Topology};

/// Parses and validates a topology document. `file` names it in diagnostics.
pub fn parse_topology(file: &str, text: &str) -> Result<Topology, Diagnostics> {
    let _ = (file, text);
    todo!("model loader")
}

/// Parses and validates a playbook document; `topology`, when given, is used for
/// cross-file checks (e.g. a `sim` check naming a service).
pub fn parse_playbook(file: &str, text: &str, topology: Option<&Topology>) -> Result<Playbook, Diagnostics> {
    let _ = (file, text, topology);
    todo!("model loader")
}

/// Reads and validates a topology file.
pub fn load_topology(path: &Path) -> Result<Topology, Diagnostics> {
    let text = read(path)?;
    parse_topology(&path.display().to_string(), &text)
}

/// Reads and validates a playbook file.
pub fn load_playbook(path: &Path, topology: Option<&Topology>) -> Result<Playbook, Diagnostics> {
    let text = read(path)?;
    parse_playbook(&path.display().to_string(), &text, topology)
}

fn read(path: &Path) -> Result<String, Diagnostics> {
    std::fs::read_to_string(path).map_err(|e| {
        Diagnostics(vec![super::Diagnostic {
            file: path.display().to_string(),
            line: 0,
            column: 0,
            message: format!("cannot read file: {e}"),
        }])
    })
}
