//! The topology file format: decoding and validation into [`Topology`].
//!
//! Every problem is reported, each at its line and column. Checks that depend on a part
//! that is itself wrong (e.g. unknown regions while `regions` is malformed) are skipped
//! so that one mistake does not cascade into many messages.

use std::collections::{BTreeMap, HashMap, HashSet};

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use super::decode::{Ctx, Fields, is_plain_name, peek};
use super::node::{Node, Pos, Value, shorten};
use super::{
    BackendKind, CloudWatchSource, Dial, DialKind, Metrics, PrometheusSource, Region, Service,
    Topology,
};

const TOPOLOGY_KEYS: &[&str] = &[
    "name",
    "regions",
    "max_utilization",
    "backend",
    "metrics",
    "services",
];
const METRICS_KEYS: &[&str] = &["prometheus", "cloudwatch"];
const PROMETHEUS_KEYS: &[&str] = &["url"];
const CLOUDWATCH_KEYS: &[&str] = &["region"];
const SERVICE_KEYS: &[&str] = &["depends_on", "capacity", "load", "max_utilization", "dials"];
const DIAL_KEYS: &[&str] = &["id", "route53", "alb", "sim"];
const PROVIDERS: &[&str] = &["route53", "alb", "sim"];
const ROUTE53_KEYS: &[&str] = &["hosted_zone_id", "record", "type", "members"];
const ALB_KEYS: &[&str] = &["region", "listener_arn", "rule_arn", "members"];
const SIM_KEYS: &[&str] = &["members"];
const BACKENDS: &[&str] = &["sim", "aws"];
/// Record types Route 53 accepts in weighted record sets.
const RECORD_TYPES: &[&str] = &[
    "A", "AAAA", "CAA", "CNAME", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR", "SPF", "SRV", "SSHFP",
    "SVCB", "TLSA", "TXT",
];
/// An ALB forward action spreads over at most 5 target groups.
const ALB_MAX_TARGET_GROUPS: usize = 5;

/// Decodes and validates a parsed topology document; `None` when `ctx` recorded problems.
pub(crate) fn decode(ctx: &mut Ctx, root: &Node) -> Option<Topology> {
    let anchor = if root.pos.line == 0 {
        Pos { line: 1, column: 1 }
    } else {
        root.pos
    };
    let fields = ctx.fields(root, anchor, "the topology", TOPOLOGY_KEYS)?;

    let name = fields
        .require(ctx, "name", "the topology")
        .and_then(|n| ctx.name(n, "topology name"));
    let regions = fields
        .require(ctx, "regions", "the topology")
        .and_then(|n| regions(ctx, n));
    let max_utilization = fields
        .require(ctx, "max_utilization", "the topology")
        .and_then(|n| utilization(ctx, n, "max_utilization of the topology"));
    let backend = fields.get("backend").and_then(|n| backend(ctx, n));
    let metrics = match fields.get_with_key("metrics") {
        Some((key, n)) => metrics(ctx, key, n),
        None => Some(Metrics::default()),
    };
    let services = match fields.get_with_key("services") {
        Some((key, n)) => services(ctx, key, n, regions.as_ref()),
        None => {
            ctx.error(anchor, "missing key `services` in the topology");
            None
        }
    };

    if ctx.failed() {
        return None;
    }
    Some(Topology {
        name: name?,
        regions: regions?.list,
        max_utilization: max_utilization?,
        backend: match fields.get("backend") {
            Some(_) => Some(backend?),
            None => None,
        },
        metrics: metrics?,
        services: services?,
    })
}

/// The declared regions. `complete` is false when some entry was malformed, in which case
/// "unknown region" errors are not reported (they could be caused by that entry).
struct Regions {
    list: Vec<Region>,
    set: HashSet<String>,
    complete: bool,
}

impl Regions {
    /// Reports `region` (found at `pos`, in `what`) when it is not declared; true if known.
    fn check(&self, ctx: &mut Ctx, pos: Pos, region: &str, what: &str) -> bool {
        if self.set.contains(region) {
            return true;
        }
        if self.complete {
            ctx.error(
                pos,
                format!(
                    "unknown region `{}` in {what}, expected one of the topology's regions: {}",
                    shorten(region),
                    self.list.join(", ")
                ),
            );
        }
        false
    }
}

fn regions(ctx: &mut Ctx, node: &Node) -> Option<Regions> {
    let items = ctx.list(node, "regions")?;
    let mut out = Regions {
        list: Vec::with_capacity(items.len()),
        set: HashSet::with_capacity(items.len()),
        complete: true,
    };
    if items.is_empty() {
        ctx.error(
            node.pos,
            "regions is empty: expected at least one region, e.g. [us-east-1, us-west-2]",
        );
        return None;
    }
    let mut first_line: HashMap<String, u32> = HashMap::new();
    for item in items {
        let Some(region) = ctx.name(item, "region name") else {
            out.complete = false;
            continue;
        };
        if let Some(line) = first_line.get(&region) {
            ctx.error(
                item.pos,
                format!("duplicate region `{region}` in regions (first listed on line {line})"),
            );
            continue;
        }
        first_line.insert(region.clone(), item.pos.line);
        out.set.insert(region.clone());
        out.list.push(region);
    }
    Some(out)
}

fn utilization(ctx: &mut Ctx, node: &Node, what: &str) -> Option<f64> {
    let v = ctx.number(node, what)?;
    if v <= 0.0 || v > 1.0 {
        ctx.error(
            node.pos,
            format!("{what} `{v}` is out of range: expected a number in (0, 1], e.g. 0.75"),
        );
        return None;
    }
    Some(v)
}

fn backend(ctx: &mut Ctx, node: &Node) -> Option<BackendKind> {
    let s = ctx.string(node, "backend")?;
    match s.as_str() {
        "sim" => Some(BackendKind::Sim),
        "aws" => Some(BackendKind::Aws),
        other => {
            ctx.error(
                node.pos,
                format!(
                    "unknown backend `{}`, expected one of: {}",
                    shorten(other),
                    BACKENDS.join(", ")
                ),
            );
            None
        }
    }
}

fn metrics(ctx: &mut Ctx, key: Pos, node: &Node) -> Option<Metrics> {
    let fields = ctx.fields(node, key, "metrics", METRICS_KEYS)?;
    let mut ok = true;
    let prometheus = match fields.get_with_key("prometheus") {
        Some((key, n)) => {
            let url = ctx
                .fields(n, key, "metrics.prometheus", PROMETHEUS_KEYS)
                .and_then(|f| f.require(ctx, "url", "metrics.prometheus"))
                .and_then(|u| {
                    let url = ctx.non_empty(u, "metrics.prometheus.url")?;
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        ctx.error(
                            u.pos,
                            format!("invalid URL `{}` in metrics.prometheus.url: expected http://HOST:PORT or https://...", shorten(&url)),
                        );
                        return None;
                    }
                    Some(url)
                });
            ok &= url.is_some();
            url.map(|url| PrometheusSource { url })
        }
        None => None,
    };
    let cloudwatch = match fields.get_with_key("cloudwatch") {
        Some((key, n)) => {
            let source = ctx
                .fields(n, key, "metrics.cloudwatch", CLOUDWATCH_KEYS)
                .and_then(|f| {
                    let region = match f.get("region") {
                        Some(r) => Some(ctx.name(r, "metrics.cloudwatch.region")?),
                        None => None,
                    };
                    Some(CloudWatchSource { region })
                });
            ok &= source.is_some();
            source
        }
        None => None,
    };
    ok.then_some(Metrics {
        prometheus,
        cloudwatch,
    })
}

/// A service as decoded, with the positions cross-service checks need.
struct Draft<'n> {
    name: String,
    key: Pos,
    /// `depends_on` entries and where each is written.
    deps: Vec<(String, Pos)>,
    node: &'n Node,
    service: Option<Service>,
}

fn services(
    ctx: &mut Ctx,
    key: Pos,
    node: &Node,
    regions: Option<&Regions>,
) -> Option<BTreeMap<String, Service>> {
    let entries = ctx.named(node, "services", "service")?;
    if entries.is_empty() {
        ctx.error(key, "services is empty: expected at least one service");
        return None;
    }
    let mut drafts: Vec<Draft> = Vec::with_capacity(entries.len());
    for entry in entries {
        if !is_plain_name(&entry.name) {
            ctx.error(
                entry.pos,
                format!(
                    "invalid service name `{}`: expected a name without `/` or spaces",
                    shorten(&entry.name)
                ),
            );
        }
        drafts.push(Draft {
            name: entry.name,
            key: entry.pos,
            deps: Vec::new(),
            node: entry.value,
            service: None,
        });
    }
    for draft in &mut drafts {
        service(ctx, draft, regions);
    }
    dependencies(ctx, &drafts);
    if ctx.failed() {
        return None;
    }
    // Every path that leaves a service out records why; never drop one silently.
    if let Some(lost) = drafts.iter().find(|d| d.service.is_none()) {
        ctx.error(
            lost.key,
            format!(
                "service `{}` could not be read (internal error: please report it)",
                shorten(&lost.name)
            ),
        );
        return None;
    }
    Some(
        drafts
            .into_iter()
            .filter_map(|d| d.service.map(|s| (d.name, s)))
            .collect(),
    )
}

fn service(ctx: &mut Ctx, draft: &mut Draft, regions: Option<&Regions>) {
    let what = format!("service `{}`", shorten(&draft.name));
    let Some(fields) = ctx.fields(draft.node, draft.key, &what, SERVICE_KEYS) else {
        return;
    };
    let mut ok = true;

    let mut depends_on = Vec::new();
    if let Some(n) = fields.get("depends_on") {
        match ctx.list(n, &format!("depends_on of {what}")) {
            Some(items) => {
                for item in items {
                    match ctx.non_empty(item, &format!("a service name in depends_on of {what}")) {
                        Some(dep) => {
                            if let Some((_, first)) = draft.deps.iter().find(|(d, _)| *d == dep) {
                                let line = first.line;
                                ctx.error(
                                    item.pos,
                                    format!("`{}` is listed twice in depends_on of {what} (first on line {line})", shorten(&dep)),
                                );
                                ok = false;
                                continue;
                            }
                            depends_on.push(dep.clone());
                            draft.deps.push((dep, item.pos));
                        }
                        None => ok = false,
                    }
                }
            }
            None => ok = false,
        }
    }

    let capacity = fields.get_with_key("capacity").map(|(key, n)| {
        (
            key,
            region_numbers(ctx, n, &format!("capacity of {what}"), regions),
        )
    });
    let load = fields.get_with_key("load").map(|(key, n)| {
        (
            key,
            region_numbers(ctx, n, &format!("load of {what}"), regions),
        )
    });
    let max_utilization = match fields.get("max_utilization") {
        Some(n) => {
            let v = utilization(ctx, n, &format!("max_utilization of {what}"));
            ok &= v.is_some();
            v
        }
        None => None,
    };

    // No `capacity` key reads as an empty map (a sim dial then reports it has no members);
    // a malformed one as `None` (already reported).
    let no_capacity = BTreeMap::new();
    let capacity_map = match &capacity {
        None if fields.is_typo("capacity") => None,
        None => Some(&no_capacity),
        Some((_, c)) => c.as_ref(),
    };
    let mut dials: Vec<Dial> = Vec::new();
    // Every member: (dial id, member id, region, position of the region value).
    let mut served: Vec<(String, String, String, Pos)> = Vec::new();
    if let Some(n) = fields.get("dials") {
        match ctx.list(n, &format!("dials of {what}")) {
            Some(items) => {
                let mut ids: Vec<(String, Pos)> = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let Some((dial, id_pos, members)) =
                        dial(ctx, item, i, &what, regions, capacity_map)
                    else {
                        ok = false;
                        continue;
                    };
                    if let Some((_, first)) = ids.iter().find(|(d, _)| *d == dial.id) {
                        let line = first.line;
                        ctx.error(
                            id_pos,
                            format!(
                                "duplicate dial id `{}` in {what} (first defined on line {line})",
                                shorten(&dial.id)
                            ),
                        );
                        ok = false;
                        continue;
                    }
                    ids.push((dial.id.clone(), id_pos));
                    served.extend(
                        members
                            .into_iter()
                            .map(|(m, r, p)| (dial.id.clone(), m, r, p)),
                    );
                    dials.push(dial);
                }
            }
            None => ok = false,
        }
    }

    // Capacity and load must cover every region a member serves.
    for (label, map) in [("capacity", &capacity), ("load", &load)] {
        match map {
            None if fields.is_typo(label) => ok = false,
            None => {
                if let Some((dial, member, region, _)) = served.first() {
                    ctx.error(
                        draft.key,
                        format!(
                            "missing key `{label}` in {what}: expected a value for every region its dials serve (dial `{}` member `{}` serves `{}`)",
                            shorten(dial),
                            shorten(member),
                            shorten(region)
                        ),
                    );
                    ok = false;
                }
            }
            Some((key, Some(values))) => {
                let mut reported: HashSet<&str> = HashSet::new();
                for (dial, member, region, pos) in &served {
                    if !values.contains_key(region) && reported.insert(region) {
                        ctx.error(
                            *pos,
                            format!(
                                "{what} has no {label} for region `{}`, which member `{}` of dial `{}` serves; add it to `{label}` (line {})",
                                shorten(region),
                                shorten(member),
                                shorten(dial),
                                key.line
                            ),
                        );
                        ok = false;
                    }
                }
            }
            Some((_, None)) => ok = false,
        }
    }

    if !ok {
        return;
    }
    draft.service = Some(Service {
        name: draft.name.clone(),
        depends_on,
        capacity: capacity.and_then(|(_, c)| c).unwrap_or_default(),
        load: load.and_then(|(_, l)| l).unwrap_or_default(),
        max_utilization,
        dials,
    });
}

/// A capacity or load mapping: region -> requests/s >= 0.
fn region_numbers(
    ctx: &mut Ctx,
    node: &Node,
    what: &str,
    regions: Option<&Regions>,
) -> Option<BTreeMap<Region, f64>> {
    let entries = ctx.named(node, what, "region")?;
    let mut out = BTreeMap::new();
    let mut ok = true;
    for entry in entries {
        if let Some(regions) = regions {
            ok &= regions.check(ctx, entry.pos, &entry.name, what);
        }
        // The label is built only on the slow path: this loop runs for every region of
        // every service.
        let number = match entry.value.value.as_number() {
            Some(v) => Some(v),
            None => ctx.number(
                entry.value,
                &format!("{what} in `{}`", shorten(&entry.name)),
            ),
        };
        match number {
            Some(v) if v < 0.0 => {
                ctx.error(
                    entry.value.pos,
                    format!(
                        "{what} in `{}` is `{v}`: expected a number >= 0 (requests/s)",
                        shorten(&entry.name)
                    ),
                );
                ok = false;
            }
            Some(v) => {
                out.insert(entry.name, v);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

type Members = Vec<(String, String, Pos)>;

/// One dial; returns it, the position of its id, and its members with their positions.
fn dial(
    ctx: &mut Ctx,
    node: &Node,
    index: usize,
    service: &str,
    regions: Option<&Regions>,
    capacity: Option<&BTreeMap<Region, f64>>,
) -> Option<(Dial, Pos, Members)> {
    let fallback = format!("dial #{} of {service}", index + 1);
    let named = match peek(node, "id") {
        Some(id) => format!("dial `{}` of {service}", shorten(id)),
        None => fallback.clone(),
    };
    let fields = ctx.fields(node, node.pos, &named, DIAL_KEYS)?;
    let (id, id_pos) = match fields.get_with_key("id") {
        Some((_, n)) => (ctx.name(n, &format!("dial id in {fallback}")), n.pos),
        None => {
            ctx.error(fields.anchor, format!("missing key `id` in {fallback}"));
            (None, node.pos)
        }
    };
    let what = match &id {
        Some(id) => format!("dial `{id}` of {service}"),
        None => fallback,
    };

    let present: Vec<(&str, Pos)> = fields
        .keys()
        .filter(|(k, _)| PROVIDERS.contains(k))
        .collect();
    let provider = match present.as_slice() {
        [] => {
            ctx.error(
                fields.anchor,
                format!(
                    "{what} has no provider: expected one of the keys {}",
                    PROVIDERS.join(", ")
                ),
            );
            return None;
        }
        [one] => one.0,
        [first, second, ..] => {
            ctx.error(
                second.1,
                format!(
                    "{what} has both `{}` and `{}`: expected exactly one of {}",
                    first.0,
                    second.0,
                    PROVIDERS.join(", ")
                ),
            );
            return None;
        }
    };
    let (key, body) = fields.get_with_key(provider)?;
    let result = match provider {
        "route53" => route53(ctx, key, body, &what, regions),
        "alb" => alb(ctx, key, body, &what, regions),
        _ => sim(ctx, key, body, &what, regions, capacity),
    };
    let (kind, members) = result?;
    Some((
        Dial {
            id: id?,
            kind,
            members: members
                .iter()
                .map(|(m, r, _)| (m.clone(), r.clone()))
                .collect(),
        },
        id_pos,
        members,
    ))
}

fn route53(
    ctx: &mut Ctx,
    key: Pos,
    node: &Node,
    dial: &str,
    regions: Option<&Regions>,
) -> Option<(DialKind, Members)> {
    let what = format!("route53 of {dial}");
    let fields = ctx.fields(node, key, &what, ROUTE53_KEYS)?;
    let zone = fields
        .require(ctx, "hosted_zone_id", &what)
        .and_then(|n| ctx.name(n, &format!("hosted_zone_id of {dial}")));
    let record = fields
        .require(ctx, "record", &what)
        .and_then(|n| ctx.name(n, &format!("record of {dial}")));
    let record_type = fields.require(ctx, "type", &what).and_then(|n| {
        let t = ctx.non_empty(n, &format!("type of {dial}"))?;
        if !RECORD_TYPES.contains(&t.as_str()) {
            let hint = ctx.suggest(&t.to_uppercase(), RECORD_TYPES.iter().copied());
            ctx.error(
                n.pos,
                format!(
                    "unknown record type `{}` in {dial}, expected one of: {}{hint}",
                    shorten(&t),
                    RECORD_TYPES.join(", ")
                ),
            );
            return None;
        }
        Some(t)
    });
    let members = members(ctx, &fields, dial, "SetIdentifier", regions, true);
    Some((
        DialKind::Route53 {
            hosted_zone_id: zone?,
            record: record?,
            record_type: record_type?,
        },
        members?,
    ))
}

fn alb(
    ctx: &mut Ctx,
    key: Pos,
    node: &Node,
    dial: &str,
    regions: Option<&Regions>,
) -> Option<(DialKind, Members)> {
    let what = format!("alb of {dial}");
    let fields = ctx.fields(node, key, &what, ALB_KEYS)?;
    let region = fields.require(ctx, "region", &what).and_then(|n| {
        let r = ctx.name(n, &format!("region of {dial}"))?;
        match regions {
            Some(regions) => regions
                .check(ctx, n.pos, &r, &format!("region of {dial}"))
                .then_some(r),
            None => Some(r),
        }
    });
    let listener = fields.get_with_key("listener_arn");
    let rule = fields.get_with_key("rule_arn");
    let mut arns_ok = true;
    match (listener, rule) {
        (Some(_), Some((rule_key, _))) => {
            ctx.error(
                rule_key,
                format!(
                    "{dial} has both `listener_arn` and `rule_arn`: expected exactly one of them"
                ),
            );
            arns_ok = false;
        }
        (None, None) => {
            ctx.error(
                fields.anchor,
                format!("missing key `listener_arn` or `rule_arn` in {what}: expected exactly one of them"),
            );
            arns_ok = false;
        }
        _ => {}
    }
    // Outer `None`: invalid; inner `None`: absent.
    let listener_arn: Option<Option<String>> = match listener {
        Some((_, n)) => ctx
            .non_empty(n, &format!("listener_arn of {dial}"))
            .map(Some),
        None => Some(None),
    };
    // Outer `None`: invalid; inner `None`: absent.
    let rule_arn: Option<Option<String>> = match rule {
        Some((_, n)) => ctx.non_empty(n, &format!("rule_arn of {dial}")).map(Some),
        None => Some(None),
    };
    let members = members(ctx, &fields, dial, "target group", regions, true);
    if let Some(((members_key, _), list)) = fields.get_with_key("members").zip(members.as_ref())
        && list.len() > ALB_MAX_TARGET_GROUPS
    {
        ctx.error(
            members_key,
            format!(
                "{dial} has {} members: an ALB forward action takes at most {ALB_MAX_TARGET_GROUPS} target groups",
                list.len()
            ),
        );
        return None;
    }
    if !arns_ok {
        return None;
    }
    Some((
        DialKind::Alb {
            region: region?,
            listener_arn: listener_arn?,
            rule_arn: rule_arn?,
        },
        members?,
    ))
}

fn sim(
    ctx: &mut Ctx,
    key: Pos,
    node: &Node,
    dial: &str,
    regions: Option<&Regions>,
    capacity: Option<&BTreeMap<Region, f64>>,
) -> Option<(DialKind, Members)> {
    let what = format!("sim of {dial}");
    let fields = ctx.fields(node, key, &what, SIM_KEYS)?;
    if fields.has("members") {
        return members(ctx, &fields, dial, "member", regions, true).map(|m| (DialKind::Sim, m));
    }
    // Without members: one member per region where the service has capacity, named after
    // the region, in the topology's region order.
    // Without complete regions or capacity the problem was reported where it is.
    let (capacity, regions) = (capacity?, regions?);
    if !regions.complete {
        return None;
    }
    let order = regions.list.as_slice();
    let members: Members = order
        .iter()
        .filter(|r| capacity.get(*r).is_some_and(|c| *c > 0.0))
        .map(|r| (r.clone(), r.clone(), key))
        .collect();
    if members.is_empty() {
        ctx.error(
            key,
            format!("{dial} has no members: the service has no capacity > 0 in any region; declare `members` or `capacity`"),
        );
        return None;
    }
    Some((DialKind::Sim, members))
}

/// A dial's `members`: member id -> region it serves.
fn members(
    ctx: &mut Ctx,
    fields: &Fields,
    dial: &str,
    member_kind: &str,
    regions: Option<&Regions>,
    required: bool,
) -> Option<Members> {
    let what = format!("members of {dial}");
    let Some((key, node)) = fields.get_with_key("members") else {
        if required {
            ctx.error(
                fields.anchor,
                format!("missing key `members` in {dial}: expected a mapping of {member_kind} to the region it serves"),
            );
        }
        return None;
    };
    let entries = ctx.named(node, &what, member_kind)?;
    if entries.is_empty() {
        ctx.error(
            key,
            format!("{dial} has no members: expected at least one {member_kind} mapped to the region it serves"),
        );
        return None;
    }
    let mut out = Vec::with_capacity(entries.len());
    let mut ok = true;
    for entry in entries {
        let label = || format!("region of member `{}` of {dial}", shorten(&entry.name));
        let region = match &entry.value.value {
            Value::Scalar { text, .. } if is_plain_name(text) => text.clone(),
            _ => match ctx.name(entry.value, &label()) {
                Some(region) => region,
                None => {
                    ok = false;
                    continue;
                }
            },
        };
        if let Some(regions) = regions
            && !regions.set.contains(&region)
        {
            ok &= regions.check(ctx, entry.value.pos, &region, &label());
        }
        out.push((entry.name, region, entry.value.pos));
    }
    ok.then_some(out)
}

/// Unknown, self and cyclic dependencies, over the whole graph at once.
fn dependencies(ctx: &mut Ctx, drafts: &[Draft]) {
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
