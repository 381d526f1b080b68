//! Loading topology and playbook files: YAML -> spanned tree -> validated model.
//!
//! All problems of a file are reported together, sorted by line and column.

use std::path::Path;

use super::decode::Ctx;
use super::{Diagnostics, Playbook, Topology, node, playbook, topology};

/// Parses and validates a topology document. `file` names it in diagnostics.
pub fn parse_topology(file: &str, text: &str) -> Result<Topology, Diagnostics> {
    let root = syntax(file, text)?;
    let mut ctx = Ctx::new(file);
    match topology::decode(&mut ctx, &root) {
        Some(t) if !ctx.failed() => Ok(t),
        _ => Err(finish(ctx, file, text)),
    }
}

/// Parses and validates a playbook document; `topology`, when given, is used for
/// cross-file checks (e.g. a `sim` check naming a service).
pub fn parse_playbook(
    file: &str,
    text: &str,
    topology: Option<&Topology>,
) -> Result<Playbook, Diagnostics> {
    let root = syntax(file, text)?;
    let mut ctx = Ctx::new(file);
    match playbook::decode(&mut ctx, &root, topology) {
        Some(p) if !ctx.failed() => Ok(p),
        _ => Err(finish(ctx, file, text)),
    }
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

fn syntax(file: &str, text: &str) -> Result<node::Node, Diagnostics> {
    node::parse(text).map_err(|e| {
        let mut ctx = Ctx::new(file);
        ctx.error(e.pos, e.message);
        ctx.finish(text)
    })
}

fn finish(ctx: Ctx, file: &str, text: &str) -> Diagnostics {
    let diags = ctx.finish(text);
    if diags.is_empty() {
        // A decoder returned nothing without saying why: a bug, but never a silent pass.
        let mut d = Diagnostics::default();
        d.0.push(super::Diagnostic::file(
            file,
            "invalid file (no details available)",
        ));
        return d;
    }
    diags
}

fn read(path: &Path) -> Result<String, Diagnostics> {
    std::fs::read_to_string(path).map_err(|e| {
        Diagnostics(vec![super::Diagnostic::file(
            &path.display().to_string(),
            format!("cannot read file: {e}"),
        )])
    })
}
