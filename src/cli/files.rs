//! Finding, reading and hashing the user's topology and playbook files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::{BackendArg, CliError, Common};
use crate::model::{self, BackendKind, Diagnostic, Diagnostics, Topology};
use crate::prepare::Loaded;

/// The YAML files of a directory, sorted; a file path as itself.
pub fn yaml_files(path: &Path) -> Result<Vec<PathBuf>, CliError> {
    if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|e| {
            CliError::Usage(format!("cannot read directory {}: {e}", path.display()))
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && matches!(
                        p.extension().and_then(|e| e.to_str()),
                        Some("yaml") | Some("yml")
                    )
            })
            .collect();
        files.sort();
        Ok(files)
    } else if path.exists() {
        Ok(vec![path.to_path_buf()])
    } else {
        Err(CliError::Usage(format!(
            "{} does not exist (pass --topology FILE and --playbook FILE)",
            path.display()
        )))
    }
}

/// The one topology file a command works on.
pub fn topology_file(common: &Common) -> Result<PathBuf, CliError> {
    let files = yaml_files(&common.topology)?;
    match files.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(CliError::Usage(format!(
            "no topology file (*.yaml) in {}; pass --topology FILE",
            common.topology.display()
        ))),
        many => Err(CliError::Usage(format!(
            "{} holds {} topology files ({}); pass --topology FILE to choose one",
            common.topology.display(),
            many.len(),
            many.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The playbook file a command works on: `--playbook FILE`, or in a directory
/// `<command>.yaml`, else `evacuate.yaml`, else its only file.
pub fn playbook_file(common: &Common, command: &str) -> Result<PathBuf, CliError> {
    let path = &common.playbook;
    if !path.is_dir() {
        return yaml_files(path).map(|mut f| f.remove(0));
    }
    for name in [format!("{command}.yaml"), "evacuate.yaml".to_string()] {
        let candidate = path.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    let files = yaml_files(path)?;
    match files.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(CliError::Usage(format!(
            "cannot choose a playbook in {}: pass --playbook FILE",
            path.display()
        ))),
    }
}

/// Reads a file for loading, as a diagnostic on failure.
pub fn read(path: &Path) -> Result<String, Diagnostics> {
    std::fs::read_to_string(path).map_err(|e| {
        Diagnostics(vec![Diagnostic::file(
            &path.display().to_string(),
            format!("cannot read file: {e}"),
        )])
    })
}

/// Hex SHA-256 of a text.
pub fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Loads, validates and hashes the topology and the playbook a command uses.
pub fn load(common: &Common, command: &str) -> Result<Loaded, CliError> {
    let topology_path = topology_file(common)?;
    let playbook_path = playbook_file(common, command)?;
    let topology_text = read(&topology_path)?;
    let playbook_text = read(&playbook_path)?;
    let topology_result =
        model::parse_topology(&topology_path.display().to_string(), &topology_text);
    let playbook_result = model::parse_playbook(
        &playbook_path.display().to_string(),
        &playbook_text,
        topology_result.as_ref().ok(),
    );
    // Report every file's problems at once, not the first file's only.
    let (topology, playbook) = match (topology_result, playbook_result) {
        (Ok(t), Ok(p)) => (t, p),
        (t, p) => {
            let mut all = Vec::new();
            if let Err(d) = t {
                all.extend(d.0);
            }
            if let Err(d) = p {
                all.extend(d.0);
            }
            return Err(CliError::Invalid(Diagnostics(all)));
        }
    };
    Ok(Loaded {
        topology: Arc::new(topology),
        playbook,
        topology_hash: sha256(&topology_text),
        playbook_hash: sha256(&playbook_text),
        topology_path,
        playbook_path,
    })
}

/// The backend a command uses: `--backend`, else the topology's `backend:`, else sim.
pub fn backend_kind(common: &Common, topology: Option<&Topology>) -> BackendKind {
    match common.backend {
        Some(BackendArg::Sim) => BackendKind::Sim,
        Some(BackendArg::Aws) => BackendKind::Aws,
        None => topology.and_then(|t| t.backend).unwrap_or(BackendKind::Sim),
    }
}

/// The line every command starts with, so a simulated run is never mistaken for a real one.
pub fn backend_line(kind: BackendKind, common: &Common) -> String {
    match kind {
        BackendKind::Sim => format!(
            "backend: sim (simulated traffic; world in {})",
            common.state_dir.join("sim").display()
        ),
        BackendKind::Aws => "backend: aws (REAL traffic: Route 53 and ELBv2)".to_string(),
    }
}
