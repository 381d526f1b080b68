//! The plan: a value stating, per step, the desired weight of every dial member that changes.
//!
//! Shared by the planner (which builds it), the renderers and the executor (which applies
//! it). A plan states desired weights, never deltas, so re-applying a step is harmless.

use std::collections::BTreeMap;

use super::figures::{FigureSource, Figures};
use serde::{Deserialize, Serialize};

use crate::model::Region;

use super::Name;

// The shared vocabulary lives in `model`; re-exported here for the paths already in use.
pub use crate::model::{Operation, Shares, Weights};

/// A deterministic plan. Field order is the JSON key order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// `evacuate` or `restore`.
    pub operation: Operation,
    /// The region evacuated or restored.
    pub region: Region,
    /// Name of the topology planned against.
    pub topology: String,
    /// Name of the playbook planned with.
    pub playbook: String,
    /// SHA-256 of the topology file(s), filled by the caller (the planner does no I/O).
    #[serde(default)]
    pub topology_hash: String,
    /// SHA-256 of the playbook file, filled by the caller.
    #[serde(default)]
    pub playbook_hash: String,
    /// Services that change, grouped in waves; a wave's services move concurrently.
    pub waves: Vec<Vec<String>>,
    /// Steps in execution order: wave by wave, percent by percent, service by service.
    pub steps: Vec<PlanStep>,
    /// Served shares of every planned service after the last step.
    pub final_shares: BTreeMap<String, BTreeMap<Region, f64>>,
    /// Projection for every destination region after the last step.
    pub preflight: Vec<PreflightRow>,
    /// The weights observed when planning, of every dial of every service: the run's baseline.
    pub baseline: Weights,
    /// The weights after the last step, of every dial the plan changes.
    pub target: Weights,
    /// Why the plan is what it is: limits, dials left alone, capacity notes.
    #[serde(default)]
    pub notes: Vec<String>,
    /// The live load and capacity figures planned with instead of the declared ones (absent:
    /// none): what planning this plan again takes.
    #[serde(default, skip_serializing_if = "Figures::is_unrecorded")]
    pub figures: Figures,
}

impl Plan {
    /// Whether every pre-flight row is within its limit.
    pub fn preflight_ok(&self) -> bool {
        self.preflight.iter().all(PreflightRow::fits)
    }

    /// Whether the plan changes nothing.
    pub fn is_empty(&self) -> bool {
        self.steps.iter().all(|s| s.changes.is_empty())
    }
}

/// One step of one service: the weights its dials take after the step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanStep {
    /// The service moved.
    pub service: Name,
    /// Index of the wave the service belongs to.
    pub wave: usize,
    /// Cumulative percent of the region's baseline traffic moved after this step
    /// (for restore: percent of the way back).
    pub percent: u32,
    /// The member weights that change in this step.
    pub changes: Vec<Change>,
    /// Served shares of the service after the step: region -> share.
    pub shares: BTreeMap<Name, f64>,
}

/// One member's weight change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// `service/dial`.
    pub dial: Name,
    /// The member (SetIdentifier, target group ARN, or sim member).
    pub member: Name,
    /// The region the member serves.
    pub region: Name,
    /// Weight before the step.
    pub from: u32,
    /// Weight after the step.
    pub to: u32,
}

/// Projected load of one destination region of one service after the last step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreflightRow {
    /// The service.
    pub service: String,
    /// The destination region.
    pub region: Region,
    /// Requests/s the region would serve after the last step.
    pub projected_load: f64,
    /// Requests/s the region can serve at 100%.
    pub capacity: f64,
    /// `projected_load / capacity`.
    pub utilization: f64,
    /// The service's `max_utilization`.
    pub max_utilization: f64,
    /// `projected_load <= capacity * max_utilization`, as computed when planned. For the
    /// plan JSON's readers: kong itself decides with [`PreflightRow::fits`], from the numbers
    /// (a saved plan's flag could say anything).
    pub ok: bool,
    /// Where `projected_load`'s inputs came from: `live` when the service's load was read
    /// from its `load_query` (absent: declared).
    #[serde(default, skip_serializing_if = "FigureSource::is_declared")]
    pub load_source: FigureSource,
    /// Where `capacity` came from: `autoscaling` when bound to Auto Scaling groups
    /// (absent: declared).
    #[serde(default, skip_serializing_if = "FigureSource::is_declared")]
    pub capacity_source: FigureSource,
}

impl PreflightRow {
    /// Whether the projected load fits: `projected_load <= capacity * max_utilization`
    /// (with a tolerance of 1e-9 req/s for rounding).
    pub fn fits(&self) -> bool {
        self.projected_load <= self.capacity * self.max_utilization + 1e-9
    }
}

/// The `utilization` of a pre-flight row whose region has no capacity but would receive load.
///
/// JSON cannot hold infinity, so the planner uses the largest finite `f64`; such a row is
/// never `ok`. Renderers may show it as "no capacity".
pub const UNBOUNDED_UTILIZATION: f64 = f64::MAX;
