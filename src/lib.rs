//! kong: a region-failover orchestrator.
//!
//! Layers: [`model`] (files, validation) -> [`plan`] (pure planner) -> executor, with the
//! CLI on top; [`prepare`] gathers the live planning input the planner takes. The planner
//! never depends on the executor or on any I/O.

pub mod backend;
pub mod checks;
pub mod cli;
pub mod dashboard;
pub mod exec;
pub mod fsutil;
pub mod graph;
pub mod journal;
pub mod model;
pub mod notify;
pub mod plan;
pub mod prepare;
pub mod report;
pub mod retry;
pub mod schedule;
pub mod telemetry;
#[cfg(test)]
pub(crate) mod testing;
pub mod web;
