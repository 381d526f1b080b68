//! The validated topology and playbook: what the planner and executor consume.
//!
//! These types are built only by `model::load` after validation succeeded, so every
//! invariant the validator checks (regions known, DAG acyclic, schedules increasing and
//! ending at 100, capacity and load present for every region a dial serves) holds here.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// A region name, e.g. `us-east-1`.
pub type Region = String;
/// A member id of a dial: a Route 53 `SetIdentifier`, a target group ARN, or a sim member name.
pub type MemberId = String;

/// What exists: regions, services, their dependencies and traffic dials.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Topology {
    /// The topology's name (used for the lock and state files).
    pub name: String,
    /// Every region, in declaration order.
    pub regions: Vec<Region>,
    /// Default ceiling of a destination's utilization, in (0, 1].
    pub max_utilization: f64,
    /// The backend named in the file (`backend:`), if any.
    pub backend: Option<BackendKind>,
    /// Shared state named in the file (`state: {dynamodb: {table, region}}`), if any.
    pub state: Option<SharedState>,
    /// Where metrics live.
    pub metrics: Metrics,
    /// Services by name.
    pub services: BTreeMap<String, Service>,
    /// Webhooks every run on this topology is announced to.
    pub notify: Vec<super::Webhook>,
}

/// A DynamoDB table holding the lock and the journal, shared by every machine running kong
/// (`state: {dynamodb: {table, region}}`, or `--state dynamodb://TABLE?region=R`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SharedState {
    /// The table's name.
    pub table: String,
    /// Its region; `None`: the AWS settings' region (`AWS_REGION`, the profile, `--aws-region`).
    pub region: Option<String>,
}

impl SharedState {
    /// `dynamodb://TABLE[?region=R]`, what [`SharedState::parse_url`] reads.
    pub fn url(&self) -> String {
        match &self.region {
            Some(r) => format!("dynamodb://{}?region={r}", self.table),
            None => format!("dynamodb://{}", self.table),
        }
    }

    /// Parses `dynamodb://TABLE[?region=R]`.
    pub fn parse_url(text: &str) -> Result<SharedState, String> {
        let expected = "expected dynamodb://TABLE or dynamodb://TABLE?region=REGION";
        let rest = text
            .strip_prefix("dynamodb://")
            .ok_or_else(|| format!("`{text}`: {expected}"))?;
        let (table, query) = match rest.split_once('?') {
            Some((table, query)) => (table, Some(query)),
            None => (rest, None),
        };
        let table = table.trim_end_matches('/');
        if let Err(e) = check_table_name(table) {
            return Err(format!("`{text}`: {e}"));
        }
        let mut region = None;
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            match pair.split_once('=') {
                Some(("region", r)) if is_plain_region(r) => region = Some(r.to_string()),
                _ => {
                    return Err(format!(
                        "`{text}`: unknown or empty parameter `{pair}`; {expected}"
                    ));
                }
            }
        }
        Ok(SharedState {
            table: table.to_string(),
            region,
        })
    }
}

/// Whether `r` looks like a region name (`us-east-1`): lowercase letters, digits and `-`.
pub(crate) fn is_plain_region(r: &str) -> bool {
    !r.is_empty()
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// DynamoDB's rule for table names: 3 to 255 of `a-z A-Z 0-9 _ - .`.
pub(crate) fn check_table_name(table: &str) -> Result<(), String> {
    let ok_chars = table
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if (3..=255).contains(&table.len()) && ok_chars {
        Ok(())
    } else {
        Err(format!(
            "invalid DynamoDB table name `{table}`: expected 3 to 255 letters, digits, `_`, `-` or `.`"
        ))
    }
}

/// Which traffic backend moves the dials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// The embedded simulator.
    Sim,
    /// Route 53 and ELBv2 through the AWS SDK.
    Aws,
}

/// Metric sources declared by the topology.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Prometheus HTTP API base URL.
    pub prometheus: Option<PrometheusSource>,
    /// CloudWatch settings.
    pub cloudwatch: Option<CloudWatchSource>,
}

/// A Prometheus server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrometheusSource {
    /// Base URL, e.g. `http://127.0.0.1:9090`.
    pub url: String,
}

/// CloudWatch settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CloudWatchSource {
    /// Region whose CloudWatch is queried (default: the region being checked).
    pub region: Option<Region>,
}

/// One service: its dependencies, per-region capacity and load, and its dials.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Service {
    /// The service's name.
    pub name: String,
    /// Services this one calls (callees). Callers drain before callees.
    pub depends_on: Vec<String>,
    /// Requests/s each region can serve at 100% utilization.
    pub capacity: BTreeMap<Region, f64>,
    /// Requests/s each region serves today (used when no live metric is configured).
    pub load: BTreeMap<Region, f64>,
    /// Where the live requests/s per region are read (`{{region}}`, `{{service}}`
    /// templated); when set, planning uses it instead of `load`.
    pub load_query: Option<CheckSource>,
    /// Overrides the topology's `max_utilization` for this service.
    pub max_utilization: Option<f64>,
    /// Auto Scaling groups that serve the service, per region: when set, the region's
    /// capacity is its in-service instances x `per_instance` (read before planning), and a
    /// playbook's `prescale` raises the destination groups before the first shift.
    pub autoscaling: BTreeMap<Region, AutoscalingBinding>,
    /// Traffic dials, in declaration order.
    pub dials: Vec<Dial>,
    /// Simulator only: per region, the fraction of the clients of that region that ignore
    /// DNS (a hard-coded regional endpoint) and keep being served there whatever the
    /// weights: a hidden dependency an evacuation leaves behind.
    pub pinned: BTreeMap<Region, f64>,
}

/// The Auto Scaling group behind a service in one region.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AutoscalingBinding {
    /// The Auto Scaling group's name (in the binding's region).
    pub group: String,
    /// Requests/s one in-service instance serves at 100% utilization (> 0).
    pub per_instance: f64,
}

impl Service {
    /// The ceiling of a destination's utilization for this service.
    pub fn max_utilization(&self, topology: &Topology) -> f64 {
        self.max_utilization.unwrap_or(topology.max_utilization)
    }

    /// Sum of the declared load over all regions.
    pub fn total_load(&self) -> f64 {
        self.load.values().sum()
    }
}

/// One weighted traffic control of a service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dial {
    /// Id unique within the service (e.g. `dns`).
    pub id: String,
    /// What kind of dial, with its provider-specific coordinates.
    pub kind: DialKind,
    /// Member id -> the region that member's traffic is served in.
    pub members: BTreeMap<MemberId, Region>,
}

/// The provider of a dial.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DialKind {
    /// A Route 53 weighted record set; one member per `SetIdentifier`.
    Route53 {
        /// Hosted zone id, e.g. `Z0000000EXAMPLE`.
        hosted_zone_id: String,
        /// Record name, e.g. `api.example.com.`.
        record: String,
        /// Record type, e.g. `CNAME`.
        record_type: String,
    },
    /// An ALB listener or listener rule with a weighted forward action.
    Alb {
        /// The region the load balancer lives in.
        region: Region,
        /// The listener or the listener rule whose forward action is weighted.
        #[serde(flatten)]
        target: AlbTarget,
    },
    /// A dial of the built-in simulator; members default to one per region the service has.
    Sim,
}

/// What an ALB dial weights: a listener's default forward action or a rule's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum AlbTarget {
    /// `listener_arn`: the listener whose default action forwards.
    #[serde(rename = "listener_arn")]
    Listener(String),
    /// `rule_arn`: the listener rule whose forward action is weighted.
    #[serde(rename = "rule_arn")]
    Rule(String),
}

impl AlbTarget {
    /// The listener's or the rule's ARN.
    pub fn arn(&self) -> &str {
        match self {
            AlbTarget::Listener(a) | AlbTarget::Rule(a) => a,
        }
    }
}

impl std::fmt::Display for AlbTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AlbTarget::Listener(a) => write!(f, "listener {a}"),
            AlbTarget::Rule(a) => write!(f, "rule {a}"),
        }
    }
}

impl Dial {
    /// The largest weight the provider accepts (the smallest is 0).
    pub fn max_weight(&self) -> u32 {
        match self.kind {
            DialKind::Route53 { .. } | DialKind::Sim => 255,
            DialKind::Alb { .. } => 999,
        }
    }

    /// Whether traffic enters the service through this dial (DNS-like), as opposed to an
    /// ALB that splits what already arrived in its region.
    pub fn is_entry(&self) -> bool {
        !matches!(self.kind, DialKind::Alb { .. })
    }

    /// The region an ALB dial lives in; `None` for entry dials.
    pub fn alb_region(&self) -> Option<&str> {
        match &self.kind {
            DialKind::Alb { region, .. } => Some(region),
            _ => None,
        }
    }

    /// Short provider name: `route53`, `alb` or `sim`.
    pub fn provider(&self) -> &'static str {
        match self.kind {
            DialKind::Route53 { .. } => "route53",
            DialKind::Alb { .. } => "alb",
            DialKind::Sim => "sim",
        }
    }
}

/// How to move: schedule, waits, checks, approvals and abort policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Playbook {
    /// The playbook's name.
    pub name: String,
    /// Cumulative percent of the region's baseline traffic moved after each step; strictly
    /// increasing, each in 1..=100, ending at 100.
    pub steps: Vec<u32>,
    /// Wait after propagation before the checks run.
    #[serde(with = "duration_secs")]
    pub bake: Duration,
    /// Extra wait after the provider reports the change in sync.
    #[serde(with = "duration_secs")]
    pub propagation: Duration,
    /// Drills only: time spent evacuated before restoring.
    #[serde(with = "duration_secs")]
    pub hold: Duration,
    /// Deadline for a whole run (evacuate or restore); none when absent.
    #[serde(with = "opt_duration_secs")]
    pub deadline: Option<Duration>,
    /// What to do on abort.
    pub on_abort: OnAbort,
    /// The steady-state hypothesis.
    pub checks: Vec<Check>,
    /// Approval gates.
    pub approval: Approval,
    /// Built-in guard checks added to `checks`.
    pub guards: Guards,
    /// Raise the destination Auto Scaling groups before the first shift (`None`: off).
    pub prescale: Option<Prescale>,
    /// When drills may run (`None`: any time).
    pub schedule: Option<super::Schedule>,
    /// Webhooks runs are announced to (besides the topology's).
    pub notify: Vec<super::Webhook>,
    /// What the drill sets out to learn, in words; the report opens with it and a verdict.
    pub hypothesis: Option<String>,
    /// Residual traffic: how much of the evacuated region's traffic each service may still
    /// serve after the evacuation, and whether more fails the run.
    pub drain: Drain,
}

/// The playbook's `drain`: after the last evacuation step (and at the end of a drill's
/// hold) kong measures the traffic each moved service still serves in the evacuated region.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drain {
    /// Largest residual, as a fraction of what the region served before the run (default
    /// 1%); a service above it is a finding (a hidden dependency).
    pub max_residual: f64,
    /// Whether a residual above `max_residual` aborts the evacuation (default: a finding only).
    pub fail: bool,
    /// Where requests/s per service and region are read (`{{service}}`, `{{region}}`);
    /// without it, each service's `load_query`, else the simulator's metrics.
    pub query: Option<CheckSource>,
}

impl Default for Drain {
    /// 1%, a finding only, no query of its own.
    fn default() -> Drain {
        Drain {
            max_residual: 0.01,
            fail: false,
            query: None,
        }
    }
}

/// Built-in guard checks every run gets unless the playbook opts out (`guards: false`):
/// early signs of the phase transition a destination goes through near saturation (in the
/// simulator, and in most real services, around 70% utilization). They read the traffic
/// model (`sim` metrics) over the live weights.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Guards {
    /// Each moved service's utilization in each destination stays within its
    /// `max_utilization` (plus [`Guards::UTILIZATION_SLACK`] for weight rounding).
    pub utilization: bool,
    /// Each destination's p99/p50 latency ratio may grow to at most this multiple of its
    /// value before the run (`None`: off).
    pub latency_ratio: Option<f64>,
    /// Each destination's error rate may rise at most this much (absolute, e.g. 0.01 = one
    /// percentage point) above its value before the run (`None`: off).
    pub error_rate: Option<f64>,
}

impl Guards {
    /// Relative slack of the utilization guard: integer weights keep a share within one
    /// weight unit of the plan, so a destination planned exactly at its limit may land a
    /// little above it.
    pub const UTILIZATION_SLACK: f64 = 0.02;

    /// Every guard off.
    pub const fn off() -> Guards {
        Guards {
            utilization: false,
            latency_ratio: None,
            error_rate: None,
        }
    }

    /// Whether any guard is on.
    pub fn any(&self) -> bool {
        self.utilization || self.latency_ratio.is_some() || self.error_rate.is_some()
    }
}

impl Default for Guards {
    /// Every guard on: utilization, p99/p50 ratio at most 1.3x, error rate at most +0.01.
    fn default() -> Guards {
        Guards {
            utilization: true,
            latency_ratio: Some(1.3),
            error_rate: Some(0.01),
        }
    }
}

/// The playbook's `prescale` phase: before the first weight change of an evacuation, every
/// destination group's desired capacity is raised to what the projected load needs (never
/// lowered, at most its max size) and kong waits until enough instances are in service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prescale {
    /// How long to wait for the instances to be in service before aborting (default 10m).
    #[serde(with = "duration_secs")]
    pub timeout: Duration,
}

impl Prescale {
    /// The wait used by `prescale: true`.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
}

/// What an abort does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnAbort {
    /// Restore the baseline of everything touched, in reverse order.
    Rollback,
    /// Hold where it is, for `kong resume` or `kong rollback`.
    Pause,
}

/// Approval gates.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Approval {
    /// Ask a human before moving past each of these cumulative percents.
    pub before_percent: Vec<u32>,
}

/// One check of the steady-state hypothesis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// Human name, shown in output and reports.
    pub name: String,
    /// Where the value comes from.
    pub source: CheckSource,
    /// Binds `{{service}}` (and a `sim` check) to one service. Without it, a check whose
    /// text uses `{{service}}` is evaluated for each service moved; a `sim` check reads the
    /// region's total.
    pub service: Option<String>,
    /// Evaluated once per destination region, or once globally.
    pub per: Per,
    /// The predicate the value must satisfy.
    pub threshold: Threshold,
    /// Consecutive good evaluations required before a step counts as healthy (default 1).
    pub consecutive: u32,
    /// Time between consecutive evaluations.
    #[serde(with = "duration_secs")]
    pub interval: Duration,
    /// How long one fetch may take before it counts as no data (default 10 s).
    #[serde(with = "duration_secs")]
    pub timeout: Duration,
}

impl Check {
    /// A reading rather than a check: `source` read for `service` per destination region,
    /// any value >= 0 passing (a live `load_query`, a drill's residual traffic).
    pub fn reading(name: String, source: CheckSource, service: &str) -> Check {
        Check {
            name,
            source,
            service: Some(service.to_string()),
            per: Per::Destination,
            threshold: Threshold {
                min: Some(0.0),
                ..Threshold::default()
            },
            consecutive: 1,
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
        }
    }

    /// Whether the check's query, metric or dimensions name `{{service}}`.
    pub fn uses_service_template(&self) -> bool {
        const T: &str = "{{service}}";
        match &self.source {
            CheckSource::Prometheus { query } => query.contains(T),
            CheckSource::Cloudwatch {
                namespace,
                metric,
                dimensions,
                ..
            } => {
                namespace.contains(T)
                    || metric.contains(T)
                    || dimensions.values().any(|v| v.contains(T))
            }
            CheckSource::Sim { .. } => false,
        }
    }
}

/// Where a check's value comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckSource {
    /// A PromQL instant query, with `{{region}}` and `{{service}}` templating.
    Prometheus {
        /// The query.
        query: String,
    },
    /// A CloudWatch `GetMetricData` query.
    Cloudwatch {
        /// Metric namespace.
        namespace: String,
        /// Metric name.
        metric: String,
        /// Dimensions (values templated).
        dimensions: BTreeMap<String, String>,
        /// Statistic, e.g. `Average`.
        stat: String,
        /// Period in seconds.
        period: u32,
    },
    /// A metric of the built-in simulator.
    Sim {
        /// One of `requests_per_second`, `utilization`, `error_rate`, `p50_latency_ms`,
        /// `p99_latency_ms`.
        metric: SimMetric,
    },
}

/// A metric the simulator exposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SimMetric {
    /// Requests per second served.
    RequestsPerSecond,
    /// Load over capacity.
    Utilization,
    /// Fraction of requests failing.
    ErrorRate,
    /// Median latency.
    P50LatencyMs,
    /// 99th percentile latency.
    P99LatencyMs,
    /// p99 over p50 latency: grows when the tail outruns the median (queueing).
    LatencyRatio,
}

impl SimMetric {
    /// Every metric, in a stable order.
    pub const ALL: [SimMetric; 6] = [
        SimMetric::RequestsPerSecond,
        SimMetric::Utilization,
        SimMetric::ErrorRate,
        SimMetric::P50LatencyMs,
        SimMetric::P99LatencyMs,
        SimMetric::LatencyRatio,
    ];

    /// The name used in playbooks and the exposition format.
    pub fn name(self) -> &'static str {
        match self {
            SimMetric::RequestsPerSecond => "requests_per_second",
            SimMetric::Utilization => "utilization",
            SimMetric::ErrorRate => "error_rate",
            SimMetric::P50LatencyMs => "p50_latency_ms",
            SimMetric::P99LatencyMs => "p99_latency_ms",
            SimMetric::LatencyRatio => "latency_ratio",
        }
    }
}

/// Evaluation scope of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Per {
    /// Once for every region receiving moved traffic (`{{region}}` bound to it).
    Destination,
    /// Once, unbound.
    Global,
}

/// The predicate of a check; at least one bound is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Threshold {
    /// Fails when the value is above.
    pub max: Option<f64>,
    /// Fails when the value is below.
    pub min: Option<f64>,
    /// Fails when value / baseline value is below.
    pub min_ratio_to_baseline: Option<f64>,
    /// Fails when value / baseline value is above.
    pub max_ratio_to_baseline: Option<f64>,
    /// Fails when value - baseline value is above (an absolute rise, e.g. of an error rate
    /// whose baseline may be 0).
    pub max_increase: Option<f64>,
}

impl Threshold {
    /// Whether a ratio-to-baseline bound needs a value measured before the run.
    pub fn needs_baseline(&self) -> bool {
        self.min_ratio_to_baseline.is_some()
            || self.max_ratio_to_baseline.is_some()
            || self.max_increase.is_some()
    }
}

mod duration_secs {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

mod opt_duration_secs {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
}
