//! Live figures: the load and capacity numbers the planner uses instead of the topology's
//! declared ones (load read from a metric query, capacity from Auto Scaling groups), and
//! where each came from, so the plan can say which figures were live.
//!
//! Resolving them is I/O and happens before planning (`crate::prepare`); here they are plain
//! values: [`Figures::apply`] gives the topology the planner sees, [`annotate`] marks the
//! plan's pre-flight rows and adds notes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Region, Topology};

use super::{Plan, PreflightRow};

/// Where a load or capacity figure came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FigureSource {
    /// The topology file's `load` or `capacity`.
    #[default]
    Declared,
    /// A metric query (`load_query`), read before planning.
    Live,
    /// Auto Scaling groups (in-service instances, or max size when pre-scaling).
    Autoscaling,
}

impl FigureSource {
    /// Whether this is the file's own figure (kept out of the plan JSON for brevity).
    pub fn is_declared(&self) -> bool {
        *self == FigureSource::Declared
    }
}

/// One figure that replaces a declared one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// Requests/s.
    pub value: f64,
    /// Where it came from.
    pub source: FigureSource,
    /// For people: the query, or the groups and their sizes.
    pub detail: String,
}

/// Figures by service, then region, replacing the declared ones.
///
/// A plan records the figures it was made with (`figures` in its JSON), so that a saved plan
/// can be planned again on exactly the numbers its reviewers saw.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Live load (requests/s served today).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub load: BTreeMap<String, BTreeMap<Region, Figure>>,
    /// Capacity (requests/s at 100%).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capacity: BTreeMap<String, BTreeMap<Region, Figure>>,
    /// Planned on the declared figures on request (`kong plan --declared-load`) although
    /// some are live: planning again must do the same.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub declared_load: bool,
}

impl Figures {
    /// Whether no figure replaces a declared one.
    pub fn is_empty(&self) -> bool {
        self.load.is_empty() && self.capacity.is_empty()
    }

    /// Whether there is nothing to record in a plan: no figure, not `declared_load`.
    pub fn is_unrecorded(&self) -> bool {
        self.is_empty() && !self.declared_load
    }

    /// `topology` with every figure put in place of the declared number.
    pub fn apply(&self, topology: &Topology) -> Topology {
        let mut out = topology.clone();
        for (map, figures) in [(true, &self.load), (false, &self.capacity)] {
            for (service, by_region) in figures {
                let Some(s) = out.services.get_mut(service) else {
                    continue;
                };
                let target = if map { &mut s.load } else { &mut s.capacity };
                for (region, figure) in by_region {
                    target.insert(region.clone(), figure.value);
                }
            }
        }
        out
    }
}

/// Marks the pre-flight rows whose load or capacity is live, notes every live figure and
/// records the figures in the plan.
pub fn annotate(plan: &mut Plan, figures: &Figures) {
    mark_sources(&mut plan.preflight, figures);
    plan.figures = figures.clone();
    for (what, map) in [("load", &figures.load), ("capacity", &figures.capacity)] {
        for (service, by_region) in map {
            for (region, f) in by_region {
                plan.notes.push(format!(
                    "{what} of {service} in {region}: {} req/s ({}: {})",
                    round1(f.value),
                    match f.source {
                        FigureSource::Declared => "declared",
                        FigureSource::Live => "live",
                        FigureSource::Autoscaling => "autoscaling",
                    },
                    f.detail
                ));
            }
        }
    }
}

/// Sets each row's `load_source` and `capacity_source` from the figures that replaced its
/// declared numbers.
pub fn mark_sources(rows: &mut [PreflightRow], figures: &Figures) {
    for row in rows {
        if let Some(f) = figures
            .load
            .get(&row.service)
            .and_then(|m| m.get(&row.region))
        {
            row.load_source = f.source;
        }
        if let Some(f) = figures
            .capacity
            .get(&row.service)
            .and_then(|m| m.get(&row.region))
        {
            row.capacity_source = f.source;
        }
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    #[test]
    fn apply_replaces_only_the_figures_given() {
        let t = testing::streaming();
        let mut figures = Figures::default();
        figures.load.entry("edge-api".into()).or_default().insert(
            "us-west-2".into(),
            Figure {
                value: 1234.0,
                source: FigureSource::Live,
                detail: "q".into(),
            },
        );
        let applied = figures.apply(&t);
        assert_eq!(applied.services["edge-api"].load["us-west-2"], 1234.0);
        assert_eq!(
            applied.services["edge-api"].load["us-east-1"],
            t.services["edge-api"].load["us-east-1"]
        );
        assert_eq!(
            applied.services["edge-api"].capacity,
            t.services["edge-api"].capacity
        );
    }
}
