//! kong: a region-failover orchestrator.
//!
//! Layers: [`model`] (files, validation) -> [`plan`] (pure planner) -> executor, with the
//! CLI on top. The planner never depends on the executor or on any I/O.

pub mod model;
pub mod plan;
