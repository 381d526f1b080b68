//! The traffic share each region serves, followed step by step through a plan, and the
//! charts the report draws of it. Pure.
//!
//! A 10,000-service run has hundreds of chart points: the shares are held once, one row per
//! service, and each point is sampled from them as it comes (nothing is kept per point but
//! the charted numbers).

use std::collections::{HashMap, HashSet};

use crate::model::Topology;
use crate::plan::{Plan, served_shares};

use super::facts::{Peak, Series};

/// The served shares of every service of a topology, moved along a plan's steps: one row
/// per service in the topology's order, one column per region in its order. Every method
/// takes the topology it was made for.
#[derive(Debug, Clone)]
pub struct Traffic {
    /// Service name -> row.
    rows: HashMap<String, usize>,
    /// Row-major: `shares[row * regions + column]`.
    shares: Vec<f64>,
}

impl Traffic {
    /// The shares of every service of `topology` under `plan`'s baseline weights.
    pub fn at_baseline(topology: &Topology, plan: &Plan) -> Traffic {
        let rows = topology
            .services
            .keys()
            .enumerate()
            .map(|(i, name)| (name.clone(), i))
            .collect();
        let mut traffic = Traffic {
            rows,
            shares: vec![0.0; topology.services.len() * topology.regions.len()],
        };
        for (row, service) in topology.services.values().enumerate() {
            let shares = served_shares(topology, service, &plan.baseline);
            traffic.set_row(topology, row, |region| shares.get(region).copied());
        }
        traffic
    }

    fn set_row(&mut self, topology: &Topology, row: usize, share: impl Fn(&str) -> Option<f64>) {
        let width = topology.regions.len();
        for (column, region) in topology.regions.iter().enumerate() {
            self.shares[row * width + column] = share(region).unwrap_or(0.0);
        }
    }

    /// The share of the service in `row` that the region in `column` serves, of `width`.
    fn share(&self, width: usize, row: usize, column: usize) -> f64 {
        self.shares[row * width + column]
    }

    /// Moves the services of a step group (`wave`, `percent`) to the plan's shares after it.
    pub fn apply(
        &mut self,
        topology: &Topology,
        plan: &Plan,
        wave: usize,
        percent: u32,
        services: &[String],
    ) {
        let moved: HashSet<&str> = services.iter().map(String::as_str).collect();
        for step in plan.steps.iter().filter(|s| {
            s.wave == wave && s.percent == percent && moved.contains(s.service.as_str())
        }) {
            if let Some(&row) = self.rows.get(step.service.as_str()) {
                self.set_row(topology, row, |region| step.shares.get(region).copied());
            }
        }
    }

    /// The share of the whole topology's declared load each region serves, in the
    /// topology's region order.
    pub fn by_region(&self, topology: &Topology) -> Vec<(String, f64)> {
        let loads = Loads::new(self, topology, topology.services.keys());
        topology
            .regions
            .iter()
            .enumerate()
            .map(|(column, region)| (region.clone(), loads.share(self, topology, column)))
            .collect()
    }
}

/// The declared loads of some services of a topology (its rows), looked up once.
struct Loads {
    /// Each service's row and declared load, in the order given.
    loads: Vec<(usize, f64)>,
    total: f64,
}

impl Loads {
    /// The loads of `names` (those the topology has).
    fn new<'n>(
        traffic: &Traffic,
        topology: &Topology,
        names: impl IntoIterator<Item = &'n String>,
    ) -> Loads {
        let loads: Vec<(usize, f64)> = names
            .into_iter()
            .filter_map(|name| {
                let row = *traffic.rows.get(name.as_str())?;
                Some((row, topology.services.get(name)?.total_load()))
            })
            .collect();
        let total = loads.iter().map(|(_, load)| load).sum();
        Loads { loads, total }
    }

    /// The share of these services' load the region in `column` serves.
    fn share(&self, traffic: &Traffic, topology: &Topology, column: usize) -> f64 {
        let width = topology.regions.len();
        let served: f64 = self
            .loads
            .iter()
            .map(|(row, load)| load * traffic.share(width, *row, column))
            .sum();
        if self.total > 0.0 {
            served / self.total
        } else {
            0.0
        }
    }
}

/// The report's traffic and utilization charts, sampled point by point.
pub struct Charts {
    /// Each traffic chart: its scope, the services it sums and a series per region.
    traffic: Vec<(String, Loads, Vec<Series>)>,
    /// Each destination region's column, capacity, utilization series and peak.
    utilization: Vec<(usize, f64, Series, Peak)>,
    /// The step number of each point (`None`: outside steps).
    steps: Vec<Option<usize>>,
}

impl Charts {
    /// The charts of a run of `traffic`'s topology evacuating `evacuated`: the whole
    /// topology, each wave when there are several, and the utilization of every other
    /// region.
    pub fn new(
        topology: &Topology,
        traffic: &Traffic,
        waves: &[Vec<String>],
        evacuated: &str,
    ) -> Charts {
        let series = || -> Vec<Series> {
            topology
                .regions
                .iter()
                .map(|r| Series {
                    label: r.clone(),
                    points: Vec::new(),
                })
                .collect()
        };
        let mut charts = vec![(
            "whole topology".to_string(),
            Loads::new(traffic, topology, topology.services.keys()),
            series(),
        )];
        if waves.len() > 1 {
            for (i, wave) in waves.iter().enumerate() {
                charts.push((
                    format!("wave {i}"),
                    Loads::new(traffic, topology, wave),
                    series(),
                ));
            }
        }
        let utilization = topology
            .regions
            .iter()
            .enumerate()
            .filter(|(_, region)| *region != evacuated)
            .map(|(column, region)| {
                let mut capacity = 0.0;
                for service in topology.services.values() {
                    capacity += service.capacity.get(region).copied().unwrap_or(0.0);
                }
                let series = Series {
                    label: region.clone(),
                    points: Vec::new(),
                };
                let peak = Peak {
                    region: region.clone(),
                    peak: 0.0,
                    limit: topology.max_utilization,
                    step: None,
                };
                (column, capacity, series, peak)
            })
            .collect();
        Charts {
            traffic: charts,
            utilization,
            steps: Vec::new(),
        }
    }

    /// Adds the point at `t` seconds (at step `step`, if any) with the shares `traffic` holds.
    pub fn sample(&mut self, topology: &Topology, t: f64, step: Option<usize>, traffic: &Traffic) {
        self.steps.push(step);
        for (_, loads, series) in &mut self.traffic {
            for (column, s) in series.iter_mut().enumerate() {
                s.points.push((t, loads.share(traffic, topology, column)));
            }
        }
        let width = topology.regions.len();
        for (column, capacity, series, peak) in &mut self.utilization {
            let mut load = 0.0;
            for (row, service) in topology.services.values().enumerate() {
                load += traffic.share(width, row, *column) * service.total_load();
            }
            let u = if *capacity > 0.0 {
                load / *capacity
            } else {
                0.0
            };
            if u > peak.peak + 1e-12 {
                peak.peak = u;
                peak.step = step;
            }
            series.points.push((t, u));
        }
    }

    /// What was charted.
    pub fn finish(self) -> Charted {
        let traffic = self
            .traffic
            .into_iter()
            .map(|(scope, _, series)| (scope, series))
            .collect();
        let (utilization, peaks) = self
            .utilization
            .into_iter()
            .map(|(_, _, series, peak)| (series, peak))
            .unzip();
        Charted {
            traffic,
            utilization,
            peaks,
            steps: self.steps,
        }
    }
}

/// The charts of a run, sampled.
#[derive(Debug, Default)]
pub struct Charted {
    /// Each traffic chart: its scope and a series per region.
    pub traffic: Vec<(String, Vec<Series>)>,
    /// Each destination region's utilization.
    pub utilization: Vec<Series>,
    /// Each destination region's peak utilization.
    pub peaks: Vec<Peak>,
    /// The step number of each point (`None`: outside steps).
    pub steps: Vec<Option<usize>>,
}
