//! The dependency graph of a topology: unknown and self dependencies, and cycles, checked
//! once over the whole graph (Tarjan's strongly connected components), each cycle reported
//! with every member named.

use std::collections::{HashMap, HashSet};

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use super::decode::Ctx;
use super::node::shorten;
use super::topology::Draft;

/// Unknown, self and cyclic dependencies, over the whole graph at once.
pub(super) fn check(ctx: &mut Ctx, drafts: &[Draft]) {
    let index: HashMap<&str, usize> = drafts
        .iter()
        .enumerate()
        .map(|(i, d)| (d.name.as_str(), i))
        .collect();
    let mut graph: DiGraph<(), ()> = DiGraph::with_capacity(drafts.len(), drafts.len() * 3);
    for _ in drafts {
        graph.add_node(());
    }
    for (i, draft) in drafts.iter().enumerate() {
        for (dep, pos) in &draft.deps {
            if *dep == draft.name {
                ctx.error(
                    *pos,
                    format!("service `{}` depends on itself", shorten(dep)),
                );
                continue;
            }
            match index.get(dep.as_str()) {
                Some(&j) => {
                    graph.add_edge(NodeIndex::new(i), NodeIndex::new(j), ());
                }
                None => {
                    let hint = ctx.suggest(dep, drafts.iter().map(|d| d.name.as_str()));
                    ctx.error(
                        *pos,
                        format!(
                            "unknown service `{}` in depends_on of service `{}`{hint}",
                            shorten(dep),
                            shorten(&draft.name)
                        ),
                    );
                }
            }
        }
    }
    for scc in tarjan_scc(&graph) {
        if scc.len() > 1 {
            cycle(ctx, drafts, &graph, &scc);
        }
    }
}

/// Reports one strongly connected component as a walk along `depends_on` edges that starts
/// and ends at the member written first in the file and names every member.
fn cycle(ctx: &mut Ctx, drafts: &[Draft], graph: &DiGraph<(), ()>, scc: &[NodeIndex]) {
    let members: HashSet<NodeIndex> = scc.iter().copied().collect();
    let Some(&start) = scc.iter().min_by_key(|n| drafts[n.index()].key) else {
        return;
    };
    let name = |n: NodeIndex| shorten(&drafts[n.index()].name);
    // A walk visiting all members costs a search per member; for huge components name the
    // members and show one cycle.
    const WALK_LIMIT: usize = 64;
    let mut walk = vec![start];
    let mut visited: HashSet<NodeIndex> = HashSet::from([start]);
    let mut current = start;
    loop {
        let want_start = visited.len() == members.len() || members.len() > WALK_LIMIT;
        let Some(path) = shortest_path(graph, &members, current, |n| {
            if want_start {
                n == start
            } else {
                !visited.contains(&n)
            }
        }) else {
            return;
        };
        for &n in &path {
            visited.insert(n);
        }
        walk.extend(&path);
        current = *walk.last().unwrap_or(&start);
        if current == start {
            break;
        }
    }
    let mut message = format!(
        "dependency cycle: {}",
        walk.iter()
            .map(|&n| name(n))
            .collect::<Vec<_>>()
            .join(" -> ")
    );
    if visited.len() < members.len() {
        let mut rest: Vec<&Draft> = scc
            .iter()
            .filter(|n| !visited.contains(n))
            .map(|n| &drafts[n.index()])
            .collect();
        rest.sort_by_key(|d| d.key);
        message.push_str(&format!(
            " (the cycle also involves {} more services: {})",
            rest.len(),
            rest.iter()
                .map(|d| shorten(&d.name))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    message.push_str("; remove one of these depends_on entries");
    // Point at the first edge of the walk: the start's depends_on entry for the next member.
    let next = &drafts[walk[1].index()].name;
    let pos = drafts[start.index()]
        .deps
        .iter()
        .find(|(d, _)| d == next)
        .map_or(drafts[start.index()].key, |(_, p)| *p);
    ctx.error(pos, message);
}

/// Breadth-first search inside `members` from `from` (excluded) to the first node
/// satisfying `goal`; the path excludes `from` and includes the goal.
fn shortest_path(
    graph: &DiGraph<(), ()>,
    members: &HashSet<NodeIndex>,
    from: NodeIndex,
    goal: impl Fn(NodeIndex) -> bool,
) -> Option<Vec<NodeIndex>> {
    let mut parent: HashMap<NodeIndex, NodeIndex> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([from]);
    let mut seen: HashSet<NodeIndex> = HashSet::from([from]);
    while let Some(n) = queue.pop_front() {
        // Neighbours in a stable order (edge insertion order is file order).
        let mut next: Vec<NodeIndex> = graph.neighbors(n).filter(|m| members.contains(m)).collect();
        next.reverse();
        for m in next {
            if goal(m) {
                let mut path = vec![m];
                let mut cur = n;
                while cur != from {
                    path.push(cur);
                    match parent.get(&cur) {
                        Some(p) => cur = *p,
                        None => break,
                    }
                }
                path.reverse();
                return Some(path);
            }
            if seen.insert(m) {
                parent.insert(m, n);
                queue.push_back(m);
            }
        }
    }
    None
}
