//! Waves: the layering of the `depends_on` DAG, callers first.
//!
//! An edge goes from a caller to the service it depends on (its callee). The wave of a
//! service is the length of the longest caller path leading to it, so every caller sits in an
//! earlier wave than each of its callees: evacuation drains a service only after everything
//! that calls it has drained. Services with no path between them share a wave. Pure: no I/O.

use std::collections::BTreeMap;

use petgraph::graph::{DiGraph, NodeIndex};

use crate::model::Topology;

use super::PlanError;

/// The layer of every service: service name -> wave index (0 = callers no one calls).
pub(crate) struct Layers<'t> {
    /// Wave index per service; services caught in a cycle are absent.
    pub(crate) layer: BTreeMap<&'t str, usize>,
    /// Members of one dependency cycle, sorted, when the graph has any.
    pub(crate) cycle: Option<Vec<String>>,
}

/// Computes the layer of every service with Kahn's algorithm over the dependency graph.
pub(crate) fn layers(topology: &Topology) -> Layers<'_> {
    let names: Vec<&str> = topology.services.keys().map(String::as_str).collect();
    let mut graph: DiGraph<(), ()> = DiGraph::with_capacity(names.len(), names.len() * 3);
    for _ in &names {
        graph.add_node(());
    }
    // `names` is sorted (BTreeMap keys), so a binary search finds a callee's node.
    let index = |name: &str| names.binary_search(&name).ok().map(NodeIndex::new);
    for (i, service) in topology.services.values().enumerate() {
        for callee in &service.depends_on {
            // Unknown callees are rejected by validation; skipping keeps this function total.
            if let Some(j) = index(callee) {
                graph.add_edge(NodeIndex::new(i), j, ());
            }
        }
    }

    let mut indegree: Vec<usize> = vec![0; names.len()];
    for edge in graph.raw_edges() {
        indegree[edge.target().index()] += 1;
    }
    let mut depth: Vec<usize> = vec![0; names.len()];
    let mut ready: Vec<NodeIndex> = (0..names.len())
        .filter(|&i| indegree[i] == 0)
        .map(NodeIndex::new)
        .collect();
    let mut layer = BTreeMap::new();
    while let Some(node) = ready.pop() {
        let d = depth[node.index()];
        layer.insert(names[node.index()], d);
        for next in graph.neighbors(node) {
            let n = next.index();
            depth[n] = depth[n].max(d + 1);
            indegree[n] -= 1;
            if indegree[n] == 0 {
                ready.push(next);
            }
        }
    }

    let cycle = if layer.len() == names.len() {
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
    Layers { layer, cycle }
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

    /// Groups the services kept by `keep` into waves, dropping empty waves; names sorted.
    pub(crate) fn waves_of<F: Fn(&str) -> bool>(&self, keep: F) -> Vec<Vec<String>> {
        let mut by_layer: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for (name, layer) in &self.layer {
            if keep(name) {
                by_layer
                    .entry(*layer)
                    .or_default()
                    .push((*name).to_string());
            }
        }
        // Iterating a BTreeMap by name keeps each wave sorted.
        by_layer.into_values().collect()
    }
}

/// Every service grouped into waves, callers first; within a wave, names are sorted.
///
/// Validation rejects cycles; if one slips through, the services caught in or behind it
/// are put in one last wave so this function stays total ([`super::plan`] refuses instead).
pub fn waves(topology: &Topology) -> Vec<Vec<String>> {
    let layers = layers(topology);
    let mut waves = layers.waves_of(|_| true);
    let stuck: Vec<String> = topology
        .services
        .keys()
        .filter(|name| !layers.layer.contains_key(name.as_str()))
        .cloned()
        .collect();
    if !stuck.is_empty() {
        waves.push(stuck);
    }
    waves
}
