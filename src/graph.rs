//! `kong graph`: the dependency topology as Graphviz DOT or a Mermaid flowchart.
//!
//! Pure renderings of a validated [`Topology`]: services are nodes labelled with their dials,
//! `depends_on` edges go from caller to callee. Output is deterministic (services and edges
//! in name order) and performs no I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::model::{Service, Topology};

/// Renders the topology as a Graphviz `digraph`.
pub fn dot(topology: &Topology) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", dot_quote(&topology.name));
    let _ = writeln!(out, "  rankdir=TB;");
    let _ = writeln!(out, "  node [shape=box];");
    for (name, service) in &topology.services {
        let _ = writeln!(out, "  {} [label={}];", dot_quote(name), dot_label(service));
    }
    for (caller, callee) in edges(topology) {
        let _ = writeln!(out, "  {} -> {};", dot_quote(caller), dot_quote(callee));
    }
    out.push_str("}\n");
    out
}

/// Renders the topology as a Mermaid `flowchart TD`.
pub fn mermaid(topology: &Topology) -> String {
    let ids = mermaid_ids(topology);
    let mut out = String::from("flowchart TD\n");
    for (name, service) in &topology.services {
        let _ = writeln!(
            out,
            "  {}[\"{}\"]",
            ids[name.as_str()],
            mermaid_label(service)
        );
    }
    for (caller, callee) in edges(topology) {
        // A callee missing from `services` cannot pass validation; name it rather than panic.
        let callee_id = ids.get(callee).cloned().unwrap_or_else(|| sanitize(callee));
        let _ = writeln!(out, "  {} --> {}", ids[caller], callee_id);
    }
    out
}

/// `caller -> callee` pairs, sorted and without duplicates.
fn edges(topology: &Topology) -> BTreeSet<(&str, &str)> {
    topology
        .services
        .iter()
        .flat_map(|(caller, s)| {
            s.depends_on
                .iter()
                .map(move |callee| (caller.as_str(), callee.as_str()))
        })
        .collect()
}

/// `route53 dns, alb alb-use1`: the provider and id of every dial, in declaration order.
fn dial_summary(service: &Service) -> String {
    service
        .dials
        .iter()
        .map(|d| format!("{} {}", d.provider(), d.id))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A DOT double-quoted string.
fn dot_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `"edge-api\n(route53 dns, alb alb-use1)"` with `\n` as DOT's centred line break.
fn dot_label(service: &Service) -> String {
    let name = dot_quote(&service.name);
    let dials = dial_summary(service);
    if dials.is_empty() {
        return name;
    }
    let dials = dot_quote(&format!("({dials})"));
    // Join the two quoted strings' contents with DOT's line-break escape.
    format!("{}\\n{}", &name[..name.len() - 1], &dials[1..])
}

/// The text of a Mermaid node label; `"` cannot appear inside, so it becomes `#quot;`.
fn mermaid_label(service: &Service) -> String {
    let escape = |s: &str| {
        s.replace('"', "#quot;")
            .replace('<', "#lt;")
            .replace('>', "#gt;")
    };
    let dials = dial_summary(service);
    if dials.is_empty() {
        escape(&service.name)
    } else {
        format!("{}<br/>({})", escape(&service.name), escape(&dials))
    }
}

/// Mermaid node ids: names reduced to `[A-Za-z0-9_]`, prefixed so no id is a keyword
/// (`end`) or starts with a letter Mermaid reads as an edge head (`o`, `x`), and suffixed
/// when two names reduce to the same id (`edge-api` and `edge_api`).
fn mermaid_ids(topology: &Topology) -> BTreeMap<&str, String> {
    let mut taken = BTreeSet::new();
    let mut ids = BTreeMap::new();
    for name in topology.services.keys() {
        let base = sanitize(name);
        let mut id = base.clone();
        let mut n = 2;
        while !taken.insert(id.clone()) {
            id = format!("{base}_{n}");
            n += 1;
        }
        ids.insert(name.as_str(), id);
    }
    ids
}

fn sanitize(name: &str) -> String {
    let body: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("svc_{body}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, streaming as example};

    /// A topology of dial-less services (graphs only draw names and edges).
    fn topology(services: Vec<(&str, &[&str])>) -> Topology {
        let services = services
            .into_iter()
            .map(|(name, depends_on)| testing::service(name, depends_on, &[], &[], vec![]))
            .collect();
        testing::topology(&["us-east-1", "us-west-2"], 0.75, services)
    }

    #[test]
    fn dot_lists_services_with_dials_and_edges_in_name_order() {
        let expected = r#"digraph "streaming" {
  rankdir=TB;
  node [shape=box];
  "catalog" [label="catalog\n(sim sim)"];
  "edge-api" [label="edge-api\n(route53 dns, alb alb-use1)"];
  "identity" [label="identity\n(route53 dns)"];
  "playback" [label="playback\n(route53 dns)"];
  "edge-api" -> "identity";
  "edge-api" -> "playback";
  "playback" -> "catalog";
}
"#;
        assert_eq!(dot(&example()), expected);
    }

    #[test]
    fn mermaid_sanitizes_ids_and_keeps_names_as_labels() {
        let expected = r#"flowchart TD
  svc_catalog["catalog<br/>(sim sim)"]
  svc_edge_api["edge-api<br/>(route53 dns, alb alb-use1)"]
  svc_identity["identity<br/>(route53 dns)"]
  svc_playback["playback<br/>(route53 dns)"]
  svc_edge_api --> svc_identity
  svc_edge_api --> svc_playback
  svc_playback --> svc_catalog
"#;
        assert_eq!(mermaid(&example()), expected);
    }

    #[test]
    fn dot_escapes_quotes_and_backslashes_in_names() {
        let t = topology(vec![("we\"ird\\", &[])]);
        assert!(
            dot(&t).contains(r#"  "we\"ird\\" [label="we\"ird\\"];"#),
            "{}",
            dot(&t)
        );
    }

    #[test]
    fn mermaid_ids_never_collide() {
        let t = topology(vec![("edge-api", &["edge_api"]), ("edge_api", &[])]);
        let out = mermaid(&t);
        assert!(out.contains("  svc_edge_api[\"edge-api\"]\n"), "{out}");
        assert!(out.contains("  svc_edge_api_2[\"edge_api\"]\n"), "{out}");
        assert!(out.contains("  svc_edge_api --> svc_edge_api_2\n"), "{out}");
    }

    #[test]
    fn renderings_are_deterministic() {
        assert_eq!(dot(&example()), dot(&example()));
        assert_eq!(mermaid(&example()), mermaid(&example()));
    }
}
