//! `kong graph`: the dependency topology as DOT or Mermaid.

use std::sync::Arc;

use super::context::{Context, Line};
use super::exit::Done;
use super::{CliError, Common, GraphFormat};
use crate::model::Topology;

/// Prints the graph of the topology (stdout carries the graph: the backend line is on stderr).
pub fn run(common: &Common, format: GraphFormat) -> Result<Done, CliError> {
    let ctx = Context::<Arc<Topology>>::open(common, "graph", Line::Stderr)?;
    let out = match format {
        GraphFormat::Dot => crate::graph::dot(ctx.topology()),
        GraphFormat::Mermaid => crate::graph::mermaid(ctx.topology()),
    };
    print!("{out}");
    Ok(Done::Ok)
}
