//! The pure planner: topology + playbook + observed weights -> a deterministic [`Plan`].
//!
//! Nothing in this module performs I/O, reads a clock or awaits: `.ci/run` greps for
//! `tokio`, `std::fs`, `aws_` and `SystemTime` here and fails if it finds them.

mod types;

pub use types::*;
