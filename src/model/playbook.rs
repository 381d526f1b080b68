//! The playbook file format: decoding and validation into [`Playbook`].

use std::collections::BTreeMap;
use std::time::Duration;

use super::decode::{Ctx, Fields, peek};
use super::node::{Node, Pos, Value, shorten};
use super::{
    Approval, Check, CheckSource, Drain, Guards, OnAbort, Per, Playbook, Prescale, SimMetric,
    Threshold, Topology,
};

const PLAYBOOK_KEYS: &[&str] = &[
    "name",
    "steps",
    "bake",
    "propagation",
    "hold",
    "deadline",
    "on_abort",
    "checks",
    "approval",
    "guards",
    "prescale",
    "hypothesis",
    "drain",
    "schedule",
    "notify",
];
const DRAIN_KEYS: &[&str] = &["max_residual", "fail", "query"];
const GUARD_KEYS: &[&str] = &["utilization", "latency_ratio", "error_rate"];
const APPROVAL_KEYS: &[&str] = &["before_percent"];
const PRESCALE_KEYS: &[&str] = &["timeout"];
const CHECK_KEYS: &[&str] = &[
    "name",
    "source",
    "per",
    "query",
    "metric",
    "namespace",
    "dimensions",
    "stat",
    "period",
    "service",
    "max",
    "min",
    "min_ratio_to_baseline",
    "max_ratio_to_baseline",
    "max_increase",
    "consecutive",
    "for",
    "interval",
    "timeout",
];
const SOURCES: &[&str] = &["prometheus", "cloudwatch", "sim"];
/// Keys that belong to one source only.
const SOURCE_KEYS: &[(&str, &[&str])] = &[
    ("prometheus", &["query"]),
    (
        "cloudwatch",
        &["metric", "namespace", "dimensions", "stat", "period"],
    ),
    ("sim", &["metric"]),
];
const THRESHOLD_KEYS: &[&str] = &[
    "max",
    "min",
    "min_ratio_to_baseline",
    "max_ratio_to_baseline",
    "max_increase",
];
const CLOUDWATCH_STATS: &[&str] = &["Average", "Sum", "Minimum", "Maximum", "SampleCount"];
const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_PERIOD_SECS: u32 = 60;

/// Decodes and validates a parsed playbook; `None` when `ctx` recorded problems.
pub(crate) fn decode(ctx: &mut Ctx, root: &Node, topology: Option<&Topology>) -> Option<Playbook> {
    let anchor = if root.pos.line == 0 {
        Pos { line: 1, column: 1 }
    } else {
        root.pos
    };
    let fields = ctx.fields(root, anchor, "the playbook", PLAYBOOK_KEYS)?;
    let name = fields
        .require(ctx, "name", "the playbook")
        .and_then(|n| ctx.name(n, "playbook name"));
    let steps = fields
        .get_with_key("steps")
        .map(|(key, n)| steps(ctx, key, n))
        .unwrap_or_else(|| {
            ctx.error(anchor, "missing key `steps` in the playbook: expected cumulative percents ending at 100, e.g. [10, 25, 50, 100]");
            None
        });
    let wait = |ctx: &mut Ctx, key: &str| match fields.get(key) {
        Some(n) => ctx.duration(n, key),
        None => Some(Duration::ZERO),
    };
    let bake = wait(ctx, "bake");
    let propagation = wait(ctx, "propagation");
    let hold = wait(ctx, "hold");
    let deadline = match fields.get("deadline") {
        Some(n) => ctx
            .positive_duration(n, "deadline", ", or no `deadline` key for none")
            .map(Some),
        None => Some(None),
    };
    let on_abort = match fields.get("on_abort") {
        Some(n) => on_abort(ctx, n),
        None => Some(OnAbort::Rollback),
    };
    let checks = match fields.get("checks") {
        Some(n) => checks(ctx, n, topology),
        None => Some(Vec::new()),
    };
    let approval = match fields.get_with_key("approval") {
        Some((key, n)) => approval(ctx, key, n),
        None => Some(Approval::default()),
    };
    let guards = match fields.get_with_key("guards") {
        Some((key, n)) => guards(ctx, key, n),
        None => Some(Guards::default()),
    };
    let prescale = match fields.get_with_key("prescale") {
        Some((key, n)) => prescale(ctx, key, n),
        None => Some(None),
    };
    let hypothesis = match fields.get("hypothesis") {
        Some(n) => ctx.non_empty(n, "hypothesis").map(Some),
        None => Some(None),
    };
    let drain = match fields.get_with_key("drain") {
        Some((key, n)) => drain(ctx, key, n, topology),
        None => Some(Drain::default()),
    };
    let schedule = match fields.get_with_key("schedule") {
        Some((key, n)) => super::schedule::decode(ctx, key, n).map(Some),
        None => Some(None),
    };
    let notify = match fields.get("notify") {
        Some(n) => super::webhooks::decode(ctx, n),
        None => Some(Vec::new()),
    };
    if ctx.failed() {
        return None;
    }
    Some(Playbook {
        name: name?,
        steps: steps?,
        bake: bake?,
        propagation: propagation?,
        hold: hold?,
        deadline: deadline?,
        on_abort: on_abort?,
        checks: checks?,
        approval: approval?,
        guards: guards?,
        prescale: prescale?,
        hypothesis: hypothesis?,
        drain: drain?,
        schedule: schedule?,
        notify: notify?,
    })
}

/// `drain: {max_residual: 1%, fail: true, query: {prometheus: QUERY}}`.
fn drain(ctx: &mut Ctx, key: Pos, node: &Node, topology: Option<&Topology>) -> Option<Drain> {
    let fields = ctx.fields(node, key, "drain", DRAIN_KEYS)?;
    let mut out = Drain::default();
    let mut ok = true;
    if let Some(n) = fields.get("max_residual") {
        // `1%` or a fraction `0.01`.
        let value = match &n.value {
            Value::Scalar { text, .. } if text.trim_end().ends_with('%') => text
                .trim_end()
                .trim_end_matches('%')
                .trim()
                .parse::<f64>()
                .ok()
                .map(|p| p / 100.0),
            other => other.as_number(),
        };
        match value {
            Some(v) if (0.0..=1.0).contains(&v) => out.max_residual = v,
            _ => {
                ctx.error(
                    n.pos,
                    format!(
                        "drain.max_residual: expected a percent in 0%..=100% (e.g. 1%) or a fraction in 0..=1, found {}",
                        n.value.describe()
                    ),
                );
                ok = false;
            }
        }
    }
    if let Some(n) = fields.get("fail") {
        match as_bool(n) {
            Some(fail) => out.fail = fail,
            None => {
                ctx.error(n.pos, "drain.fail: expected true or false");
                ok = false;
            }
        }
    }
    if let Some((qkey, n)) = fields.get_with_key("query") {
        let metrics = topology.map(|t| &t.metrics);
        match super::topology::load_query(ctx, qkey, n, "drain", metrics) {
            Some(q) => out.query = Some(q),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// `prescale: false | true | {timeout: 10m}`.
fn prescale(ctx: &mut Ctx, key: Pos, node: &Node) -> Option<Option<Prescale>> {
    if let Value::Scalar { text, plain: true } = &node.value {
        match text.as_str() {
            "false" => return Some(None),
            "true" => {
                return Some(Some(Prescale {
                    timeout: Prescale::DEFAULT_TIMEOUT,
                }));
            }
            _ => {}
        }
    }
    if !matches!(node.value, Value::Map(_)) {
        ctx.error(
            node.pos,
            format!(
                "expected prescale to be true, false or a mapping with key timeout (e.g. {{timeout: 10m}}), found {}",
                node.value.describe()
            ),
        );
        return None;
    }
    let fields = ctx.fields(node, key, "prescale", PRESCALE_KEYS)?;
    let timeout = match fields.get("timeout") {
        Some(n) => ctx.positive_duration(n, "prescale.timeout", ", e.g. 10m")?,
        None => Prescale::DEFAULT_TIMEOUT,
    };
    Some(Some(Prescale { timeout }))
}

const PERCENT: &str = "a whole percent in 1..=100";

fn steps(ctx: &mut Ctx, key: Pos, node: &Node) -> Option<Vec<u32>> {
    let items = ctx.list(node, "steps")?;
    let Some(last) = items.last() else {
        ctx.error(
            key,
            "steps is empty: expected cumulative percents ending at 100, e.g. [10, 25, 50, 100]",
        );
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    let mut previous: Option<u32> = None;
    for item in items {
        let Some(step) = ctx.integer(item, "step", 1..=100, PERCENT) else {
            ok = false;
            continue;
        };
        if let Some(p) = previous
            && step <= p
        {
            ctx.error(
                item.pos,
                format!("steps must be strictly increasing: `{step}` follows `{p}`"),
            );
            ok = false;
        }
        previous = Some(step);
        out.push(step);
    }
    if let Some(v) = last.value.as_int()
        && v != 100
        && (1..=100).contains(&v)
    {
        ctx.error(
            last.pos,
            format!("steps must end at 100 (the whole region moved), the last step is `{v}`"),
        );
        ok = false;
    }
    ok.then_some(out)
}

fn on_abort(ctx: &mut Ctx, node: &Node) -> Option<OnAbort> {
    let s = ctx.string(node, "on_abort")?;
    match s.as_str() {
        "rollback" => Some(OnAbort::Rollback),
        "pause" => Some(OnAbort::Pause),
        other => {
            ctx.error(
                node.pos,
                format!(
                    "unknown on_abort `{}`, expected one of: rollback, pause",
                    shorten(other)
                ),
            );
            None
        }
    }
}

fn approval(ctx: &mut Ctx, key: Pos, node: &Node) -> Option<Approval> {
    let fields = ctx.fields(node, key, "approval", APPROVAL_KEYS)?;
    let Some(n) = fields.get("before_percent") else {
        return Some(Approval::default());
    };
    let items = ctx.list(n, "approval.before_percent")?;
    let mut before_percent = Vec::with_capacity(items.len());
    let mut ok = true;
    for item in items {
        match ctx.integer(item, "approval.before_percent", 1..=100, PERCENT) {
            Some(p) if before_percent.contains(&p) => {
                ctx.error(
                    item.pos,
                    format!("`{p}` is listed twice in approval.before_percent"),
                );
                ok = false;
            }
            Some(p) => before_percent.push(p),
            None => ok = false,
        }
    }
    before_percent.sort_unstable();
    ok.then_some(Approval { before_percent })
}

/// `guards: true | false | {utilization: BOOL, latency_ratio: RATIO|false, error_rate: RISE|false}`;
/// a guard not named in the mapping keeps its default.
fn guards(ctx: &mut Ctx, key: Pos, node: &Node) -> Option<Guards> {
    if let Some(on) = as_bool(node) {
        return Some(if on { Guards::default() } else { Guards::off() });
    }
    if !matches!(node.value, Value::Map(_)) {
        ctx.error(
            node.pos,
            "guards: expected true, false, or a mapping of utilization, latency_ratio, error_rate",
        );
        return None;
    }
    let fields = ctx.fields(node, key, "guards", GUARD_KEYS)?;
    let mut out = Guards::default();
    let mut ok = true;
    if let Some(n) = fields.get("utilization") {
        match as_bool(n) {
            Some(on) => out.utilization = on,
            None => {
                ctx.error(n.pos, "guards.utilization: expected true or false");
                ok = false;
            }
        }
    }
    for (name, slot, example, min) in [
        ("latency_ratio", &mut out.latency_ratio, "1.3", 1.0),
        ("error_rate", &mut out.error_rate, "0.01", 0.0),
    ] {
        let Some(n) = fields.get(name) else { continue };
        if as_bool(n) == Some(false) {
            *slot = None;
            continue;
        }
        match n.value.as_number() {
            Some(v) if v > min && v.is_finite() => *slot = Some(v),
            _ => {
                ctx.error(
                    n.pos,
                    format!("guards.{name}: expected a number > {min} (e.g. {example}) or false"),
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// A plain YAML boolean.
fn as_bool(node: &Node) -> Option<bool> {
    match &node.value {
        Value::Scalar { text, plain: true } => match text.as_str() {
            "true" | "True" | "TRUE" => Some(true),
            "false" | "False" | "FALSE" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn checks(ctx: &mut Ctx, node: &Node, topology: Option<&Topology>) -> Option<Vec<Check>> {
    let items = ctx.list(node, "checks")?;
    let mut out = Vec::with_capacity(items.len());
    let mut names: Vec<(String, Pos)> = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let Some((check, name_pos)) = check(ctx, item, i, topology) else {
            ok = false;
            continue;
        };
        if let Some((_, first)) = names.iter().find(|(n, _)| *n == check.name) {
            let line = first.line;
            ctx.error(
                name_pos,
                format!(
                    "duplicate check name `{}` (first used on line {line})",
                    shorten(&check.name)
                ),
            );
            ok = false;
            continue;
        }
        names.push((check.name.clone(), name_pos));
        out.push(check);
    }
    ok.then_some(out)
}

fn check(
    ctx: &mut Ctx,
    node: &Node,
    index: usize,
    topology: Option<&Topology>,
) -> Option<(Check, Pos)> {
    let fallback = format!("check #{}", index + 1);
    let named = match peek(node, "name") {
        Some(name) => format!("check `{}`", shorten(name)),
        None => fallback.clone(),
    };
    let fields = ctx.fields(node, node.pos, &named, CHECK_KEYS)?;
    let (name, name_pos) = match fields.get("name") {
        Some(n) => (ctx.non_empty(n, &format!("name of {fallback}")), n.pos),
        None => {
            ctx.error(fields.anchor, format!("missing key `name` in {fallback}"));
            (None, fields.anchor)
        }
    };
    let what = match &name {
        Some(n) => format!("check `{}`", shorten(n)),
        None => fallback,
    };

    let source_name = fields.require(ctx, "source", &what).and_then(|n| {
        let s = ctx.string(n, &format!("source of {what}"))?;
        if SOURCES.contains(&s.as_str()) {
            Some(s)
        } else {
            let hint = ctx.suggest(&s, SOURCES.iter().copied());
            ctx.error(
                n.pos,
                format!(
                    "unknown source `{}` in {what}, expected one of: {}{hint}",
                    shorten(&s),
                    SOURCES.join(", ")
                ),
            );
            None
        }
    });
    let source = source_name
        .as_deref()
        .and_then(|s| source(ctx, &fields, s, &what));
    // A prometheus check needs a server to ask: without one it could never pass, and the
    // run would only find out at its first evaluation.
    let source = match (source, topology, fields.get("source")) {
        (Some(CheckSource::Prometheus { .. }), Some(t), Some(n))
            if t.metrics.prometheus.is_none() =>
        {
            ctx.error(
                n.pos,
                format!(
                    "{what} reads prometheus, but topology `{}` declares no Prometheus server: add `metrics: {{prometheus: {{url: http://HOST:9090}}}}` to it",
                    t.name
                ),
            );
            None
        }
        (Some(CheckSource::Cloudwatch { .. }), Some(t), Some(n))
            if t.metrics.cloudwatch.is_none() =>
        {
            ctx.error(
                n.pos,
                format!(
                    "{what} reads cloudwatch, but topology `{}` does not declare CloudWatch: add `metrics: {{cloudwatch: {{}}}}` (each check reads its destination's region) or `metrics: {{cloudwatch: {{region: REGION}}}}` to it",
                    t.name
                ),
            );
            None
        }
        (source, _, _) => source,
    };

    let per = match fields.get("per") {
        Some(n) => ctx
            .string(n, &format!("per of {what}"))
            .and_then(|s| match s.as_str() {
                "destination" => Some(Per::Destination),
                "global" => Some(Per::Global),
                other => {
                    ctx.error(
                        n.pos,
                        format!(
                            "unknown per `{}` in {what}, expected one of: destination, global",
                            shorten(other)
                        ),
                    );
                    None
                }
            }),
        None => Some(Per::Global),
    };

    let threshold = threshold(ctx, &fields, &what);
    let consecutive = match fields.get("consecutive") {
        Some(n) => ctx.integer(
            n,
            &format!("consecutive of {what}"),
            1..=10_000,
            "a whole number >= 1",
        ),
        None => Some(1),
    };
    let service = check_service(ctx, &fields, &what, topology);
    let timeout = match fields.get("timeout") {
        Some(n) => ctx.positive_duration(n, &format!("timeout of {what}"), ", e.g. 5s"),
        None => Some(DEFAULT_TIMEOUT),
    };
    let interval = match fields.get("interval") {
        Some(n) => ctx.positive_duration(n, &format!("interval of {what}"), ", e.g. 10s"),
        None => Some(DEFAULT_INTERVAL),
    };
    // `for: 1m`: the check must hold over the window, evaluated every `interval`: the first
    // evaluation plus one per interval in the window.
    let consecutive = match (fields.get("for"), consecutive, interval) {
        (Some(n), _, _) if fields.has("consecutive") => {
            ctx.error(
                n.pos,
                format!("{what} sets both `for` and `consecutive`: keep one"),
            );
            None
        }
        (Some(n), _, Some(interval)) => ctx
            .duration(n, &format!("for of {what}"))
            .map(|window| 1 + (window.as_secs_f64() / interval.as_secs_f64()).floor() as u32),
        (_, c, _) => c,
    };
    Some((
        Check {
            name: name?,
            source: source?,
            service: service?,
            per: per?,
            threshold: threshold?,
            consecutive: consecutive?,
            interval: interval?,
            timeout: timeout?,
        },
        name_pos,
    ))
}

fn source(ctx: &mut Ctx, fields: &Fields, source: &str, what: &str) -> Option<CheckSource> {
    // Keys of other sources are errors: a `query` on a sim check would be silently ignored.
    let own: &[&str] = SOURCE_KEYS
        .iter()
        .find(|(s, _)| *s == source)
        .map_or(&[], |(_, k)| k);
    let mut ok = true;
    for (key, pos) in fields.keys() {
        let foreign = SOURCE_KEYS.iter().any(|(_, keys)| keys.contains(&key));
        if foreign && !own.contains(&key) {
            ctx.error(
                pos,
                format!(
                    "key `{key}` does not apply to a {source} check ({what}); a {source} check takes: {}",
                    own.join(", ")
                ),
            );
            ok = false;
        }
    }
    let result = match source {
        "prometheus" => fields
            .require(ctx, "query", what)
            .and_then(|n| ctx.non_empty(n, &format!("query of {what}")))
            .map(|query| CheckSource::Prometheus { query }),
        "cloudwatch" => cloudwatch(ctx, fields, what),
        _ => sim(ctx, fields, what),
    };
    if ok { result } else { None }
}

pub(crate) fn cloudwatch(ctx: &mut Ctx, fields: &Fields, what: &str) -> Option<CheckSource> {
    let namespace = fields
        .require(ctx, "namespace", what)
        .and_then(|n| ctx.non_empty(n, &format!("namespace of {what}")));
    let metric = fields
        .require(ctx, "metric", what)
        .and_then(|n| ctx.non_empty(n, &format!("metric of {what}")));
    let dimensions = match fields.get("dimensions") {
        Some(n) => ctx
            .named(n, &format!("dimensions of {what}"), "dimension")
            .and_then(|entries| {
                let mut out = BTreeMap::new();
                let mut ok = true;
                for e in entries {
                    match ctx.string(
                        e.value,
                        &format!("value of dimension `{}` of {what}", shorten(&e.name)),
                    ) {
                        Some(v) => {
                            out.insert(e.name, v);
                        }
                        None => ok = false,
                    }
                }
                ok.then_some(out)
            }),
        None => Some(BTreeMap::new()),
    };
    let stat = match fields.get("stat") {
        Some(n) => ctx.non_empty(n, &format!("stat of {what}")).and_then(|s| {
            let percentile = s.strip_prefix('p').is_some_and(|p| p.parse::<f64>().is_ok_and(|v| (0.0..=100.0).contains(&v)));
            if CLOUDWATCH_STATS.contains(&s.as_str()) || percentile {
                Some(s)
            } else {
                ctx.error(
                    n.pos,
                    format!(
                        "unknown stat `{}` in {what}, expected one of: {}, or a percentile like p99",
                        shorten(&s),
                        CLOUDWATCH_STATS.join(", ")
                    ),
                );
                None
            }
        }),
        None => Some("Average".to_string()),
    };
    let period = match fields.get("period") {
        Some(n) => period(ctx, n, what),
        None => Some(DEFAULT_PERIOD_SECS),
    };
    Some(CheckSource::Cloudwatch {
        namespace: namespace?,
        metric: metric?,
        dimensions: dimensions?,
        stat: stat?,
        period: period?,
    })
}

/// A CloudWatch period: whole seconds (`60`) or a duration (`1m`); 1, 5, 10, 30 or a
/// multiple of 60, as GetMetricData requires.
fn period(ctx: &mut Ctx, node: &Node, what: &str) -> Option<u32> {
    let label = format!("period of {what}");
    let secs = match &node.value {
        _ if node.value.as_int().is_some() => {
            node.value.as_int().and_then(|i| u32::try_from(i).ok())
        }
        Value::Scalar { .. } if !node.value.is_null() => {
            let d = ctx.duration(node, &label)?;
            (d.subsec_millis() == 0)
                .then(|| u32::try_from(d.as_secs()).ok())
                .flatten()
        }
        other => {
            ctx.error(
                node.pos,
                format!(
                    "expected {label} (seconds, e.g. 60), found {}",
                    other.describe()
                ),
            );
            return None;
        }
    };
    match secs {
        Some(s) if matches!(s, 1 | 5 | 10 | 30) || (s > 0 && s % 60 == 0) => Some(s),
        _ => {
            ctx.error(
                node.pos,
                format!(
                    "{label} is out of range: expected 1, 5, 10, 30 or a multiple of 60 seconds"
                ),
            );
            None
        }
    }
}

fn sim(ctx: &mut Ctx, fields: &Fields, what: &str) -> Option<CheckSource> {
    let names: Vec<&str> = SimMetric::ALL.iter().map(|m| m.name()).collect();
    let metric = fields.require(ctx, "metric", what).and_then(|n| {
        let s = ctx.string(n, &format!("metric of {what}"))?;
        match SimMetric::ALL.iter().find(|m| m.name() == s) {
            Some(m) => Some(*m),
            None => {
                let hint = ctx.suggest(&s, names.iter().copied());
                ctx.error(
                    n.pos,
                    format!(
                        "unknown sim metric `{}` in {what}, expected one of: {}{hint}",
                        shorten(&s),
                        names.join(", ")
                    ),
                );
                None
            }
        }
    });
    Some(CheckSource::Sim { metric: metric? })
}

/// `service:`: binds `{{service}}` (and a sim check's service) to one service of the topology.
fn check_service(
    ctx: &mut Ctx,
    fields: &Fields,
    what: &str,
    topology: Option<&Topology>,
) -> Option<Option<String>> {
    match fields.get("service") {
        Some(n) => ctx
            .non_empty(n, &format!("service of {what}"))
            .and_then(|s| {
                if let Some(t) = topology
                    && !t.services.contains_key(&s)
                {
                    let hint = ctx.suggest(&s, t.services.keys().map(String::as_str));
                    ctx.error(
                        n.pos,
                        format!(
                            "unknown service `{}` in {what}: not in topology `{}`{hint}",
                            shorten(&s),
                            t.name
                        ),
                    );
                    return None;
                }
                Some(Some(s))
            }),
        None => Some(None),
    }
}

fn threshold(ctx: &mut Ctx, fields: &Fields, what: &str) -> Option<Threshold> {
    let mut ok = true;
    let mut bound = |ctx: &mut Ctx, key: &str, ratio: bool| -> Option<f64> {
        let n = fields.get(key)?;
        let v = ctx.number(n, &format!("{key} of {what}"));
        match v {
            Some(v) if ratio && v <= 0.0 => {
                ctx.error(
                    n.pos,
                    format!("{key} of {what} is `{v}`: expected a ratio > 0, e.g. 0.95"),
                );
                ok = false;
                None
            }
            Some(v) => Some(v),
            None => {
                ok = false;
                None
            }
        }
    };
    let t = Threshold {
        max: bound(ctx, "max", false),
        min: bound(ctx, "min", false),
        min_ratio_to_baseline: bound(ctx, "min_ratio_to_baseline", true),
        max_ratio_to_baseline: bound(ctx, "max_ratio_to_baseline", true),
        max_increase: bound(ctx, "max_increase", false),
    };
    if !THRESHOLD_KEYS.iter().any(|k| fields.has(k)) {
        ctx.error(
            fields.anchor,
            format!(
                "{what} has no threshold: expected at least one of {}",
                THRESHOLD_KEYS.join(", ")
            ),
        );
        return None;
    }
    for (lo, hi, lo_key, hi_key) in [
        (t.min, t.max, "min", "max"),
        (
            t.min_ratio_to_baseline,
            t.max_ratio_to_baseline,
            "min_ratio_to_baseline",
            "max_ratio_to_baseline",
        ),
    ] {
        if let (Some(lo), Some(hi)) = (lo, hi)
            && lo > hi
            && let Some(n) = fields.get(lo_key)
        {
            ctx.error(
                n.pos,
                format!("{lo_key} `{lo}` of {what} is above {hi_key} `{hi}`: no value can pass"),
            );
            ok = false;
        }
    }
    ok.then_some(t)
}
