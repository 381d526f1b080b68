//! `kong graph`: the dependency topology as DOT or Mermaid.

use super::{CliError, Common, GraphFormat, files};

/// Prints the graph of the topology.
pub fn run(common: &Common, format: GraphFormat) -> Result<i32, CliError> {
    let path = files::topology_file(common)?;
    let text = files::read(&path)?;
    let topology = crate::model::parse_topology(&path.display().to_string(), &text)?;
    let kind = files::backend_kind(common, Some(&topology));
    eprintln!("{}", files::backend_line(kind, common));
    let out = match format {
        GraphFormat::Dot => crate::graph::dot(&topology),
        GraphFormat::Mermaid => crate::graph::mermaid(&topology),
    };
    print!("{out}");
    Ok(0)
}
