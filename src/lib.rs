//! kong: a region-failover orchestrator.
//!
//! Layers: [`model`] (files, validation) -> [`plan`] (pure planner) -> executor, with the
//! CLI on top. The planner never depends on the executor or on any I/O.

pub mod backend;
pub mod checks;
pub mod cli;
pub mod exec;
pub mod graph;
pub mod journal;
pub mod live;
pub mod model;
pub mod notify;
pub mod plan;
pub mod schedule;
pub mod telemetry;
