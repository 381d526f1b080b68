//! The loader never panics: random bytes, random YAML documents and mutations of the shared
//! example files all end in `Ok` or in located diagnostics. When a mutated file is still
//! accepted, the validated model keeps the invariants the planner relies on.

use std::collections::{BTreeSet, HashMap};

use kong::model::{Diagnostics, Playbook, Topology, parse_playbook, parse_topology};
use proptest::prelude::*;

const TOPOLOGY: &str = include_str!("fixtures/shared/topology.yaml");
const PLAYBOOK: &str = include_str!("fixtures/shared/playbook.yaml");

/// Keys of both formats, so random documents often reach deep into the decoders.
const KEYS: &[&str] = &[
    "name",
    "regions",
    "max_utilization",
    "backend",
    "metrics",
    "prometheus",
    "url",
    "cloudwatch",
    "region",
    "services",
    "depends_on",
    "capacity",
    "load",
    "dials",
    "id",
    "route53",
    "hosted_zone_id",
    "record",
    "type",
    "members",
    "alb",
    "listener_arn",
    "rule_arn",
    "sim",
    "steps",
    "bake",
    "propagation",
    "hold",
    "deadline",
    "on_abort",
    "checks",
    "source",
    "query",
    "metric",
    "namespace",
    "dimensions",
    "stat",
    "period",
    "service",
    "per",
    "max",
    "min",
    "min_ratio_to_baseline",
    "max_ratio_to_baseline",
    "consecutive",
    "interval",
    "approval",
    "before_percent",
    "us-east-1",
    "us-west-2",
    "edge-api",
    "a",
    "<<",
    "",
];

/// Scalars that sit on the edges of what the decoders accept.
const SCALARS: &[&str] = &[
    "0",
    "1",
    "-1",
    "100",
    "101",
    "0.5",
    "1.5",
    "-0.0",
    "1e999",
    ".inf",
    ".nan",
    "0x10",
    "~",
    "null",
    "true",
    "no",
    "''",
    "\"\"",
    "90s",
    "1h30m",
    "500ms",
    "90",
    "2x",
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "edge-api",
    "playback",
    "catalog",
    "sim",
    "aws",
    "rollback",
    "pause",
    "prometheus",
    "cloudwatch",
    "destination",
    "global",
    "CNAME",
    "p99_latency_ms",
    "error_rate",
    "arn:aws:x",
    "'quoted: value'",
    "\"a\\tb\"",
    "&anchor x",
    "*anchor",
    "!!str 5",
    "|\n  block",
    "[]",
    "{}",
    "[1, 2",
    "{a: }",
    "- x",
    "? complex",
    ": bare",
    "\t",
    "#c",
];

#[derive(Debug, Clone)]
enum Doc {
    Scalar(String),
    List(Vec<Doc>),
    Map(Vec<(String, Doc)>),
}

fn doc() -> impl Strategy<Value = Doc> {
    let scalar = prop_oneof![
        proptest::sample::select(SCALARS).prop_map(|s| Doc::Scalar(s.to_string())),
        "[a-z0-9 .:-]{0,12}".prop_map(Doc::Scalar),
        any::<i64>().prop_map(|i| Doc::Scalar(i.to_string())),
        any::<f64>().prop_map(|f| Doc::Scalar(f.to_string())),
    ];
    scalar.prop_recursive(6, 64, 6, |inner| {
        let key = prop_oneof![
            4 => proptest::sample::select(KEYS).prop_map(str::to_string),
            1 => "[a-z_]{1,10}",
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Doc::List),
            proptest::collection::vec((key, inner), 0..6).prop_map(Doc::Map),
        ]
    })
}

/// Renders a document in block style, or in flow style when `flow` (which nests anywhere).
fn render(doc: &Doc, indent: usize, flow: bool, out: &mut String) {
    let pad = " ".repeat(indent);
    match doc {
        Doc::Scalar(s) => out.push_str(s),
        Doc::List(items) if flow || items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render(item, 0, true, out);
            }
            out.push(']');
        }
        Doc::Map(entries) if flow || entries.is_empty() => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push_str(": ");
                render(v, 0, true, out);
            }
            out.push('}');
        }
        Doc::List(items) => {
            for item in items {
                out.push('\n');
                out.push_str(&pad);
                out.push_str("- ");
                render(item, indent + 2, false, out);
            }
        }
        Doc::Map(entries) => {
            for (k, v) in entries {
                out.push('\n');
                out.push_str(&pad);
                out.push_str(k);
                out.push(':');
                if matches!(v, Doc::Scalar(_)) {
                    out.push(' ');
                }
                render(v, indent + 2, false, out);
            }
        }
    }
}

/// One edit of a valid file.
#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapValues(usize, usize),
    InsertKey(usize, String, String),
    Indent(usize, bool),
    ReplaceValue(usize, String),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let line = 0usize..80;
    prop_oneof![
        line.clone().prop_map(Mutation::DeleteLine),
        line.clone().prop_map(Mutation::DuplicateLine),
        (line.clone(), line.clone()).prop_map(|(a, b)| Mutation::SwapValues(a, b)),
        (
            line.clone(),
            proptest::sample::select(KEYS).prop_map(str::to_string),
            proptest::sample::select(SCALARS).prop_map(str::to_string)
        )
            .prop_map(|(l, k, v)| Mutation::InsertKey(l, k, v)),
        (line.clone(), any::<bool>()).prop_map(|(l, more)| Mutation::Indent(l, more)),
        (
            line,
            proptest::sample::select(SCALARS).prop_map(str::to_string)
        )
            .prop_map(|(l, v)| Mutation::ReplaceValue(l, v)),
        (0usize..4000).prop_map(Mutation::Truncate),
    ]
}

fn apply(text: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for m in mutations {
        if lines.is_empty() {
            break;
        }
        let n = lines.len();
        match m {
            Mutation::DeleteLine(i) => {
                lines.remove(i % n);
            }
            Mutation::DuplicateLine(i) => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            Mutation::SwapValues(a, b) => {
                let (a, b) = (a % n, b % n);
                let value = |l: &str| l.split_once(": ").map(|(_, v)| v.to_string());
                if let (Some(va), Some(vb)) = (value(&lines[a]), value(&lines[b])) {
                    let swap = |l: &str, v: &str| match l.split_once(": ") {
                        Some((k, _)) => format!("{k}: {v}"),
                        None => l.to_string(),
                    };
                    lines[a] = swap(&lines[a].clone(), &vb);
                    lines[b] = swap(&lines[b].clone(), &va);
                }
            }
            Mutation::InsertKey(i, k, v) => {
                let at = i % n;
                let indent: String = lines[at].chars().take_while(|c| *c == ' ').collect();
                lines.insert(at, format!("{indent}{k}: {v}"));
            }
            Mutation::Indent(i, more) => {
                let l = &mut lines[i % n];
                if *more {
                    l.insert_str(0, "  ");
                } else if l.starts_with("  ") {
                    l.replace_range(..2, "");
                }
            }
            Mutation::ReplaceValue(i, v) => {
                let i = i % n;
                if let Some((k, _)) = lines[i].split_once(": ") {
                    lines[i] = format!("{k}: {v}");
                }
            }
            Mutation::Truncate(at) => {
                let joined = lines.join("\n");
                let mut cut = (*at).min(joined.len());
                while !joined.is_char_boundary(cut) {
                    cut -= 1;
                }
                lines = joined[..cut].lines().map(String::from).collect();
            }
        }
    }
    lines.join("\n") + "\n"
}

/// Diagnostics are never empty and point inside the file (or at 0:0 for the whole file).
fn check_diagnostics(d: &Diagnostics, file: &str, text: &str) {
    assert!(!d.is_empty(), "an Err without diagnostics");
    // YAML breaks lines at `\n`, `\r\n` and a lone `\r`.
    let lines = text
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .matches('\n')
        .count()
        + 1;
    for diag in &d.0 {
        assert_eq!(diag.file, file);
        assert!(diag.line <= lines, "{diag} is past the end ({lines} lines)");
        assert!(!diag.message.is_empty());
        assert!(!diag.message.contains('\n'), "one line per message: {diag}");
    }
}

/// What the planner may assume of a validated topology.
fn check_topology(t: &Topology) {
    assert!(!t.regions.is_empty());
    let regions: BTreeSet<&String> = t.regions.iter().collect();
    assert_eq!(regions.len(), t.regions.len(), "duplicate regions");
    assert!(t.max_utilization > 0.0 && t.max_utilization <= 1.0);
    for (name, s) in &t.services {
        assert_eq!(&s.name, name);
        if let Some(m) = s.max_utilization {
            assert!(m > 0.0 && m <= 1.0);
        }
        for region in s.capacity.keys().chain(s.load.keys()) {
            assert!(regions.contains(region));
        }
        assert!(
            s.capacity
                .values()
                .chain(s.load.values())
                .all(|v| v.is_finite() && *v >= 0.0)
        );
        let mut ids = BTreeSet::new();
        for dial in &s.dials {
            assert!(ids.insert(&dial.id), "duplicate dial id");
            assert!(!dial.members.is_empty());
            for region in dial.members.values() {
                assert!(regions.contains(region));
                assert!(s.capacity.contains_key(region) && s.load.contains_key(region));
            }
        }
        for dep in &s.depends_on {
            assert!(t.services.contains_key(dep) && dep != name);
        }
    }
    // Acyclic: repeatedly remove services that nothing left depends on.
    let mut callers: HashMap<&str, usize> = t.services.keys().map(|k| (k.as_str(), 0)).collect();
    for s in t.services.values() {
        for d in &s.depends_on {
            *callers.entry(d).or_default() += 1;
        }
    }
    let mut ready: Vec<&str> = callers
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(k, _)| *k)
        .collect();
    let mut removed = 0;
    while let Some(s) = ready.pop() {
        removed += 1;
        for d in &t.services[s].depends_on {
            let n = callers.get_mut(d.as_str()).expect("known");
            *n -= 1;
            if *n == 0 {
                ready.push(d);
            }
        }
    }
    assert_eq!(
        removed,
        t.services.len(),
        "dependency cycle in a validated topology"
    );
}

/// What the planner may assume of a validated playbook.
fn check_playbook(p: &Playbook) {
    assert_eq!(p.steps.last(), Some(&100));
    assert!(p.steps.windows(2).all(|w| w[0] < w[1]));
    assert!(p.steps.iter().all(|s| (1..=100).contains(s)));
    assert!(
        p.approval
            .before_percent
            .iter()
            .all(|s| (1..=100).contains(s))
    );
    for c in &p.checks {
        assert!(c.consecutive >= 1);
        assert!(!c.interval.is_zero());
        let t = &c.threshold;
        assert!(t.max.is_some() || t.min.is_some() || t.needs_baseline());
    }
}

fn load_both(text: &str) {
    match parse_topology("t.yaml", text) {
        Ok(t) => check_topology(&t),
        Err(d) => check_diagnostics(&d, "t.yaml", text),
    }
    let topology = parse_topology("topology.yaml", TOPOLOGY).ok();
    match parse_playbook("p.yaml", text, topology.as_ref()) {
        Ok(p) => check_playbook(&p),
        Err(d) => check_diagnostics(&d, "p.yaml", text),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic_the_loader(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        load_both(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn random_yaml_documents_never_panic_the_loader(d in doc(), flow in any::<bool>()) {
        let mut text = String::new();
        render(&d, 0, flow, &mut text);
        load_both(&text);
    }

    #[test]
    fn mutated_example_topologies_never_panic_the_loader(ms in proptest::collection::vec(mutation(), 1..6)) {
        let text = apply(TOPOLOGY, &ms);
        match parse_topology("t.yaml", &text) {
            Ok(t) => check_topology(&t),
            Err(d) => check_diagnostics(&d, "t.yaml", &text),
        }
    }

    #[test]
    fn mutated_example_playbooks_never_panic_the_loader(ms in proptest::collection::vec(mutation(), 1..6)) {
        let text = apply(PLAYBOOK, &ms);
        let topology = parse_topology("topology.yaml", TOPOLOGY).ok();
        match parse_playbook("p.yaml", &text, topology.as_ref()) {
            Ok(p) => check_playbook(&p),
            Err(d) => check_diagnostics(&d, "p.yaml", &text),
        }
    }
}

#[test]
fn the_unmutated_examples_pass_the_invariant_checks() {
    let t = parse_topology("topology.yaml", TOPOLOGY).expect("valid");
    check_topology(&t);
    let p = parse_playbook("playbook.yaml", PLAYBOOK, Some(&t)).expect("valid");
    check_playbook(&p);
}
