//! The topology file format: decoding and validation into [`Topology`].
//!
//! Every problem is reported, each at its line and column. Checks that depend on a part
//! that is itself wrong (e.g. unknown regions while `regions` is malformed) are skipped
//! so that one mistake does not cascade into many messages.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::decode::{Ctx, is_plain_name};
use super::node::{Node, Pos, shorten};
use super::types::{check_table_name, is_plain_region};
use super::{
    AutoscalingBinding, BackendKind, CheckSource, CloudWatchSource, Dial, Metrics,
    PrometheusSource, Region, Service, SharedState, Topology,
};
use super::{dependencies, dials, playbook};

const TOPOLOGY_KEYS: &[&str] = &[
    "name",
    "regions",
    "max_utilization",
    "backend",
    "state",
    "metrics",
    "services",
    "notify",
];
const STATE_KEYS: &[&str] = &["dynamodb"];
const DYNAMODB_KEYS: &[&str] = &["table", "region"];
const METRICS_KEYS: &[&str] = &["prometheus", "cloudwatch"];
const PROMETHEUS_KEYS: &[&str] = &["url"];
const CLOUDWATCH_KEYS: &[&str] = &["region"];
const SERVICE_KEYS: &[&str] = &[
    "depends_on",
    "capacity",
    "load",
    "load_query",
    "max_utilization",
    "autoscaling",
    "dials",
    "pinned",
];
const AUTOSCALING_KEYS: &[&str] = &["group", "per_instance"];
const LOAD_QUERY_KEYS: &[&str] = &["prometheus", "cloudwatch"];
const LOAD_QUERY_CLOUDWATCH_KEYS: &[&str] =
    &["namespace", "metric", "dimensions", "stat", "period"];
const BACKENDS: &[&str] = &["sim", "aws"];

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
    let state = match fields.get_with_key("state") {
        Some((key, n)) => state(ctx, key, n).map(Some),
        None => Some(None),
    };
    let metrics = match fields.get_with_key("metrics") {
        Some((key, n)) => metrics(ctx, key, n),
        None => Some(Metrics::default()),
    };
    let services = match fields.get_with_key("services") {
        Some((key, n)) => services(ctx, key, n, regions.as_ref(), metrics.as_ref()),
        None => {
            ctx.error(anchor, "missing key `services` in the topology");
            None
        }
    };

    let notify = match fields.get("notify") {
        Some(n) => super::webhooks::decode(ctx, n),
        None => Some(Vec::new()),
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
        state: state?,
        metrics: metrics?,
        services: services?,
        notify: notify?,
    })
}

/// The declared regions. `complete` is false when some entry was malformed, in which case
/// "unknown region" errors are not reported (they could be caused by that entry).
pub(super) struct Regions {
    pub list: Vec<Region>,
    pub set: HashSet<String>,
    pub complete: bool,
}

impl Regions {
    /// Reports `region` (found at `pos`, in `what`) when it is not declared; true if known.
    pub fn check(&self, ctx: &mut Ctx, pos: Pos, region: &str, what: &str) -> bool {
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

/// `state: {dynamodb: {table: kong-state, region: us-east-1}}`.
fn state(ctx: &mut Ctx, key: Pos, node: &Node) -> Option<SharedState> {
    let fields = ctx.fields(node, key, "state", STATE_KEYS)?;
    let Some((key, n)) = fields.get_with_key("dynamodb") else {
        ctx.error(
            key,
            "state: expected `dynamodb: {table: NAME, region: REGION}` (the local state dir is the default: leave `state` out)",
        );
        return None;
    };
    let fields = ctx.fields(n, key, "state.dynamodb", DYNAMODB_KEYS)?;
    let table_node = fields.require(ctx, "table", "state.dynamodb")?;
    let table = ctx.non_empty(table_node, "state.dynamodb.table")?;
    if let Err(e) = check_table_name(&table) {
        ctx.error(table_node.pos, format!("{e} in state.dynamodb.table"));
        return None;
    }
    let region = match fields.get("region") {
        Some(r) => {
            let region = ctx.non_empty(r, "state.dynamodb.region")?;
            if !is_plain_region(&region) {
                ctx.error(
                    r.pos,
                    format!(
                        "invalid region `{}` in state.dynamodb.region: expected e.g. us-east-1",
                        shorten(&region)
                    ),
                );
                return None;
            }
            Some(region)
        }
        None => None,
    };
    Some(SharedState { table, region })
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
pub(super) struct Draft<'n> {
    pub name: String,
    pub key: Pos,
    /// `depends_on` entries and where each is written.
    pub deps: Vec<(String, Pos)>,
    node: &'n Node,
    service: Option<Service>,
}

fn services(
    ctx: &mut Ctx,
    key: Pos,
    node: &Node,
    regions: Option<&Regions>,

    metrics: Option<&Metrics>,
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
        service(ctx, draft, regions, metrics);
    }
    dependencies::check(ctx, &drafts);
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

fn service(ctx: &mut Ctx, draft: &mut Draft, regions: Option<&Regions>, metrics: Option<&Metrics>) {
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

    // Simulator: the fraction of each region's clients that ignore DNS (hard-coded
    // regional endpoints), kept in their region whatever the weights.
    let pinned = match fields.get("pinned") {
        Some(n) => {
            let what = format!("pinned of {what}");
            let v = region_numbers(ctx, n, &what, regions).and_then(|m| {
                let bad: Vec<(&String, &f64)> = m.iter().filter(|(_, f)| **f > 1.0).collect();
                if let Some((region, f)) = bad.first() {
                    ctx.error(
                        n.pos,
                        format!(
                            "{what} in `{}` is `{f}`: expected a fraction of the region's clients in 0..=1 (e.g. 0.03)",
                            shorten(region)
                        ),
                    );
                    return None;
                }
                Some(m)
            });
            ok &= v.is_some();
            v.unwrap_or_default()
        }
        None => BTreeMap::new(),
    };

    let load_query = match fields.get_with_key("load_query") {
        Some((key, n)) => {
            let v = load_query(ctx, key, n, &what, metrics);
            ok &= v.is_some();
            v
        }
        None => None,
    };

    let autoscaling = match fields.get("autoscaling") {
        Some(n) => {
            let v = autoscaling(ctx, n, &what, regions);
            ok &= v.is_some();
            v.unwrap_or_default()
        }
        None => BTreeMap::new(),
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
                        dials::dial(ctx, item, i, &what, regions, capacity_map)
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
        load_query,
        max_utilization,
        autoscaling,
        dials,
        pinned,
    });
}

/// `autoscaling: {REGION: {group: NAME, per_instance: REQ_PER_S}}`: the Auto Scaling group
/// serving the service in each region it names.
fn autoscaling(
    ctx: &mut Ctx,
    node: &Node,
    what: &str,
    regions: Option<&Regions>,
) -> Option<BTreeMap<Region, AutoscalingBinding>> {
    let label = format!("autoscaling of {what}");
    let entries = ctx.named(node, &label, "region")?;
    let mut out = BTreeMap::new();
    let mut ok = true;
    for entry in entries {
        if let Some(regions) = regions {
            ok &= regions.check(ctx, entry.pos, &entry.name, &label);
        }
        let here = format!("{label} in `{}`", shorten(&entry.name));
        let Some(fields) = ctx.fields(entry.value, entry.pos, &here, AUTOSCALING_KEYS) else {
            ok = false;
            continue;
        };
        let group = fields
            .require(ctx, "group", &here)
            .and_then(|n| ctx.non_empty(n, &format!("group of {here}")));
        let per_instance = fields.require(ctx, "per_instance", &here).and_then(|n| {
            let v = ctx.number(n, &format!("per_instance of {here}"))?;
            if !(v.is_finite() && v > 0.0) {
                ctx.error(
                    n.pos,
                    format!(
                        "per_instance of {here} is `{v}`: expected requests/s one instance serves, a number > 0"
                    ),
                );
                return None;
            }
            Some(v)
        });
        match (group, per_instance) {
            (Some(group), Some(per_instance)) => {
                out.insert(
                    entry.name,
                    AutoscalingBinding {
                        group,
                        per_instance,
                    },
                );
            }
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

/// `load_query: {prometheus: QUERY}` or `load_query: {cloudwatch: {namespace, metric, ...}}`:
/// the live requests/s of the service in `{{region}}` (`{{service}}` is the service).
pub(super) fn load_query(
    ctx: &mut Ctx,
    key: Pos,
    node: &Node,
    what: &str,
    metrics: Option<&Metrics>,
) -> Option<CheckSource> {
    let label = format!("load_query of {what}");
    let fields = ctx.fields(node, key, &label, LOAD_QUERY_KEYS)?;
    let mut given = fields.keys().map(|(k, _)| k).collect::<Vec<_>>();
    given.dedup();
    if given.len() != 1 {
        ctx.error(
            key,
            format!(
                "{label}: expected exactly one of `prometheus: QUERY` or `cloudwatch: {{...}}`"
            ),
        );
        return None;
    }
    // Where the query is sent must be declared: the load could never be read otherwise.
    // (`metrics: None`: the metrics section was itself invalid and is already reported.)
    let declared = |m: &Metrics, source: &str| match source {
        "prometheus" => m.prometheus.is_some(),
        _ => m.cloudwatch.is_some(),
    };
    for source in ["prometheus", "cloudwatch"] {
        if let (Some((pos, _)), Some(m)) = (fields.get_with_key(source), metrics)
            && !declared(m, source)
        {
            let example = if source == "prometheus" {
                "metrics: {prometheus: {url: http://HOST:9090}}"
            } else {
                "metrics: {cloudwatch: {}}"
            };
            ctx.error(
                pos,
                format!(
                    "{label} reads {source}, but the topology does not declare it: add `{example}`"
                ),
            );
            return None;
        }
    }
    if let Some(n) = fields.get("prometheus") {
        let query = ctx.non_empty(n, &format!("prometheus query of {label}"))?;
        return Some(CheckSource::Prometheus { query });
    }
    let (ckey, n) = fields.get_with_key("cloudwatch")?;
    let what = format!("cloudwatch {label}");
    let cw = ctx.fields(n, ckey, &what, LOAD_QUERY_CLOUDWATCH_KEYS)?;
    playbook::cloudwatch(ctx, &cw, &what)
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
