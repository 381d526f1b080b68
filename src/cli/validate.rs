//! `kong validate`: checks every topology and playbook file; changes nothing.

use super::context::{Context, Line};
use super::exit::Done;
use super::{CliError, Common, files};
use crate::model::{self, Diagnostics};

/// Validates every file under `--topology` and `--playbook`, reporting all problems.
pub fn run(common: &Common) -> Result<Done, CliError> {
    let topologies = files::yaml_files(&common.topology)?;
    let playbooks = files::yaml_files(&common.playbook)?;
    if topologies.is_empty() {
        return Err(CliError::Usage(format!(
            "no topology file (*.yaml) in {}",
            common.topology.display()
        )));
    }
    let mut problems = Vec::new();
    let mut valid_topologies = Vec::new();
    for path in &topologies {
        match files::read(path)
            .and_then(|text| model::parse_topology(&path.display().to_string(), &text))
        {
            Ok(t) => valid_topologies.push(t),
            Err(d) => problems.extend(d.0),
        }
    }
    // Cross-file checks (e.g. a sim check naming a service) need one topology to refer to.
    let reference = match valid_topologies.as_slice() {
        [one] => Some(one),
        _ => None,
    };
    for path in &playbooks {
        if let Err(d) = files::read(path)
            .and_then(|text| model::parse_playbook(&path.display().to_string(), &text, reference))
        {
            problems.extend(d.0);
        }
    }
    let kind = files::backend_kind(common, reference);
    // Every file is loaded above (all of them, not the one a command would use).
    let _ctx = Context::start(common, (), kind, Line::Stdout)?;
    if !problems.is_empty() {
        return Err(CliError::Invalid(Diagnostics(problems)));
    }
    println!(
        "ok: {} topology file(s) and {} playbook file(s) are valid",
        topologies.len(),
        playbooks.len()
    );
    Ok(Done::Ok)
}
