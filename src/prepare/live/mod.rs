//! Live figures, resolved before planning: a service's load read from its `load_query`
//! instead of the declared `load`, and its capacity from the Auto Scaling groups it binds
//! (`autoscaling`) instead of the declared `capacity`. The planner stays pure: it gets the figures as values
//! ([`crate::plan::Figures`]) and the plan says which were live.
//!
//! A figure that cannot be read refuses the run (exit 3): planning on a guess when the
//! operator asked for the measured value would hide exactly the overload pre-flight exists
//! to catch. `kong plan --declared-load` plans on the file's figures instead.

mod autoscaling;
mod load;

use crate::backend::scaling::ScalingBackend;
use crate::checks::MetricSource;
use crate::model::Topology;
use crate::plan::Figures;

pub use autoscaling::autoscaling_capacity;
pub use load::live_load;

/// Why live figures could not be resolved.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct LiveError(pub String);

/// Every live figure of `topology`: the load of each service with a `load_query`, in each
/// region its load is declared for; the capacity of each region bound to an Auto Scaling
/// group. `prescaled`: the region an evacuation that pre-scales moves away from (the other
/// regions' capacity is then what their groups' max size can serve).
pub async fn resolve(
    topology: &Topology,
    source: &dyn MetricSource,
    scaling: &dyn ScalingBackend,
    prescaled: Option<&str>,
) -> Result<Figures, LiveError> {
    let (load, capacity) = tokio::join!(
        live_load(topology, source),
        autoscaling_capacity(topology, scaling, prescaled)
    );
    Ok(Figures {
        load: load?,
        capacity: capacity?,
        declared_load: false,
    })
}
