//! Waves: the layering of the `depends_on` DAG, callers first.
//!
//! An edge goes from a caller to the service it depends on (its callee). The wave of a
//! service is the length of the longest caller path leading to it, so every caller sits in an
//! earlier wave than each of its callees: evacuation drains a service only after everything
//! that calls it has drained. Services with no path between them share a wave. Pure: no I/O.

use std::collections::HashMap;

use petgraph::graph::{DiGraph, NodeIndex};

use crate::model::Topology;

use super::PlanError;

/// The layer of every service, by its index in `topology.services` (name order).
pub(crate) struct Layers<'t> {
    /// Service names in index order.
    pub(crate) names: Vec<&'t str>,
    /// Wave index per service; `None` for services caught in or behind a cycle.
    pub(crate) depth: Vec<Option<usize>>,
    /// Members of one dependency cycle, sorted, when the graph has any.
    pub(crate) cycle: Option<Vec<String>>,
}

/// Computes the layer of every service with Kahn's algorithm over the dependency graph.
pub(crate) fn layers(topology: &Topology) -> Layers<'_> {
    let names: Vec<&str> = topology.services.keys().map(String::as_str).collect();
    // Only looked up, never iterated: a HashMap keeps the result deterministic.
    let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let mut graph: DiGraph<(), ()> = DiGraph::with_capacity(names.len(), names.len() * 3);
    for _ in &names {
        graph.add_node(());
    }
    for (i, service) in topology.services.values().enumerate() {
        for callee in &service.depends_on {
            // Unknown callees are rejected by validation; skipping keeps this function total.
            if let Some(&j) = index.get(callee.as_str()) {
                graph.add_edge(NodeIndex::new(i), NodeIndex::new(j), ());
            }
        }
    }

    let mut indegree: Vec<usize> = vec![0; names.len()];
    for edge in graph.raw_edges() {
        indegree[edge.target().index()] += 1;
    }
    let mut depth: Vec<Option<usize>> = vec![None; names.len()];
    let mut longest: Vec<usize> = vec![0; names.len()];
    let mut ready: Vec<NodeIndex> = (0..names.len())
        .filter(|&i| indegree[i] == 0)
        .map(NodeIndex::new)
        .collect();
    let mut placed = 0;
    while let Some(node) = ready.pop() {
        let d = longest[node.index()];
        depth[node.index()] = Some(d);
        placed += 1;
        for next in graph.neighbors(node) {
            let n = next.index();
            longest[n] = longest[n].max(d + 1);
            indegree[n] -= 1;
            if indegree[n] == 0 {
                ready.push(next);
            }
        }
    }

    let cycle = if placed == names.len() {
        None
    } else {
        petgraph::algo::tarjan_scc(&graph)
            .into_iter()
            .find(|scc| scc.len() > 1 || graph.contains_edge(scc[0], scc[0]))
            .map(|scc| {
                let mut members: Vec<String> =
                    scc.iter().map(|n| names[n.index()].to_string()).collect();
                members.sort();
                members
            })
    };
    Layers {
        names,
        depth,
        cycle,
    }
}

impl Layers<'_> {
    /// Fails with the members of a cycle when the graph is not a DAG.
    pub(crate) fn check_acyclic(&self) -> Result<(), PlanError> {
        match &self.cycle {
            Some(members) => Err(PlanError::Cycle {
                members: members.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Groups the indices of the services kept by `keep` into waves, dropping empty waves;
    /// each wave is in index (= name) order.
    pub(crate) fn waves_of<F: Fn(usize) -> bool>(&self, keep: F) -> Vec<Vec<usize>> {
        let layers = self.depth.iter().flatten().max().map_or(0, |d| d + 1);
        let mut waves: Vec<Vec<usize>> = vec![Vec::new(); layers];
        for (i, d) in self.depth.iter().enumerate() {
            if let Some(d) = d
                && keep(i)
            {
                waves[*d].push(i);
            }
        }
        waves.retain(|w| !w.is_empty());
        waves
    }

    /// The names of the services in `waves`.
    pub(crate) fn named(&self, waves: &[Vec<usize>]) -> Vec<Vec<String>> {
        waves
            .iter()
            .map(|w| w.iter().map(|&i| self.names[i].to_string()).collect())
            .collect()
    }
}

/// Every service grouped into waves, callers first; within a wave, names are sorted.
///
/// Validation rejects cycles; if one slips through, the services caught in or behind it
/// are put in one last wave so this function stays total ([`super::plan`] refuses instead).
pub fn waves(topology: &Topology) -> Vec<Vec<String>> {
    let layers = layers(topology);
    let mut waves = layers.named(&layers.waves_of(|_| true));
    let stuck: Vec<String> = (0..layers.names.len())
        .filter(|&i| layers.depth[i].is_none())
        .map(|i| layers.names[i].to_string())
        .collect();
    if !stuck.is_empty() {
        waves.push(stuck);
    }
    waves
}
