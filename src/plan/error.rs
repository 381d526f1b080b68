//! Why the planner refused: each variant names what failed and with what input.

use crate::model::Region;

/// An input the planner cannot turn into a safe plan.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// The region to evacuate or restore is not declared by the topology.
    #[error("region `{region}` is not in topology `{topology}` (known regions: {})", known.join(", "))]
    UnknownRegion {
        /// The region asked for.
        region: Region,
        /// The topology's name.
        topology: String,
        /// The regions the topology declares.
        known: Vec<Region>,
    },
    /// The observed weights lack a dial (or a member of it) the topology declares.
    #[error(
        "no observed weights for dial `{dial}`{}: read the live weights of every dial of every service before planning",
        member_suffix(member)
    )]
    MissingWeights {
        /// `service/dial`.
        dial: String,
        /// The missing member, when the dial itself was observed.
        member: Option<String>,
    },
    /// A restore was asked for without the baseline to return to.
    #[error(
        "restore of `{region}` needs the baseline to return to (the weights recorded by the evacuation of `{region}`)"
    )]
    MissingRestoreBaseline {
        /// The region being restored.
        region: Region,
    },
    /// The baseline to restore lacks a dial (or a member) of a service being restored.
    #[error(
        "the restore baseline has no weights for dial `{dial}`{}",
        member_suffix(member)
    )]
    MissingRestoreWeights {
        /// `service/dial`.
        dial: String,
        /// The missing member, when the dial itself was recorded.
        member: Option<String>,
    },
    /// A service cannot be drained from the region with the dials it has.
    #[error("cannot drain `{service}` from `{region}`: {reason}")]
    CannotDrain {
        /// The service.
        service: String,
        /// The region being evacuated.
        region: Region,
        /// Which dial (or missing dial) keeps traffic in the region.
        reason: String,
    },
    /// The playbook's schedule is not strictly increasing within 1..=100 and ending at 100.
    #[error(
        "playbook `{playbook}` has step schedule {steps:?}: expected strictly increasing percents in 1..=100 ending at 100"
    )]
    InvalidSchedule {
        /// The playbook's name.
        playbook: String,
        /// The schedule found.
        steps: Vec<u32>,
    },
    /// The dependency graph has a cycle, so there is no caller-first order.
    #[error("dependency cycle between services: {}", members.join(" -> "))]
    Cycle {
        /// Every service of one cycle, sorted.
        members: Vec<String>,
    },
}

fn member_suffix(member: &Option<String>) -> String {
    match member {
        Some(m) => format!(" member `{m}`"),
        None => String::new(),
    }
}
