//! AWS fixtures created through the SDK on moto: hosted zones with weighted record sets (TTLs,
//! several values, health checks, alias targets), ALBs with a weighted listener forward action
//! and a weighted rule forward action (both sticky), and the topology YAML naming them.
//! Snapshots read everything back through the SDK, whole, to compare exact forms.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_elasticloadbalancingv2 as elbv2;
use aws_sdk_route53 as route53;
use elbv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, ProtocolEnum, RuleCondition,
    TargetGroupStickinessConfig, TargetGroupTuple,
};
use route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, HealthCheckConfig, HealthCheckType,
    ResourceRecord, ResourceRecordSet, RrType,
};

/// Set identifier and the region it serves, for every Route 53 dial.
pub const MEMBERS: [(&str, &str); 3] = [
    ("use1", "us-east-1"),
    ("usw2", "us-west-2"),
    ("euw1", "eu-west-1"),
];
/// Baseline weights of the members above: proportional to each region's load.
pub const WEIGHTS: [i64; 3] = [100, 60, 40];

/// A playbook without waits for a fleet's topology: three steps, no checks.
pub const FAST: &str = "name: fast
steps: [25, 50, 100]
bake: 0s
propagation: 0s
hold: 0s
on_abort: rollback
";

/// A tokio runtime for fixture calls from a synchronous test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// SDK configuration for moto: test credentials, one endpoint, the SDK's standard retries.
pub async fn sdk(endpoint: &str, region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(route53::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await
}

/// What to create.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Hosted zones.
    pub zones: usize,
    /// Services, each with one weighted record set (3 members) in zone `i % zones`.
    pub services: usize,
    /// Services per wave: service `i` depends on service `i + per_wave` when it exists.
    pub per_wave: usize,
    /// Two ALBs in us-east-1: service 0 gets a listener dial, service 1 a rule dial.
    pub albs: bool,
    /// A service `canary` with a `sim` dial (to drive a sim check).
    pub canary: bool,
}

/// A Route 53 dial created.
#[derive(Debug, Clone)]
pub struct RecordDial {
    /// Service name.
    pub service: String,
    /// Hosted zone id.
    pub zone: String,
    /// Record name, absolute.
    pub name: String,
    /// Record type.
    pub record_type: String,
}

/// An ALB dial created.
#[derive(Debug, Clone)]
pub struct ForwardDial {
    /// Service name.
    pub service: String,
    /// Listener or rule ARN.
    pub arn: String,
    /// Whether `arn` is a rule.
    pub rule: bool,
    /// The target group serving us-east-1.
    pub local: String,
    /// The proxy target group serving another region.
    pub proxy: String,
    /// The region the proxy target group serves.
    pub proxy_region: String,
}

/// Everything created for one test, and its topology.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// moto's URL (fixtures and snapshots always talk to moto directly).
    pub endpoint: String,
    /// Hosted zone ids.
    pub zones: Vec<String>,
    /// Route 53 dials.
    pub records: Vec<RecordDial>,
    /// ALB dials.
    pub forwards: Vec<ForwardDial>,
    /// The topology YAML.
    pub topology: String,
}

/// Everything kong may touch, read back whole.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Weighted records per hosted zone, in listing order.
    pub records: BTreeMap<String, Vec<ResourceRecordSet>>,
    /// Action lists per listener or rule ARN.
    pub actions: BTreeMap<String, Vec<Action>>,
}

impl Snapshot {
    /// The weight of record `name` member `id`.
    pub fn weight(&self, name: &str, id: &str) -> i64 {
        self.records
            .values()
            .flatten()
            .find(|r| r.name == name && r.set_identifier.as_deref() == Some(id))
            .and_then(|r| r.weight)
            .unwrap_or_else(|| panic!("no record {name} {id}"))
    }

    /// The weight of target group `tg` in the forward action of `arn`.
    pub fn tg_weight(&self, arn: &str, tg: &str) -> i32 {
        self.actions[arn]
            .iter()
            .filter_map(|a| a.forward_config.as_ref())
            .flat_map(|f| f.target_groups())
            .find(|t| t.target_group_arn.as_deref() == Some(tg))
            .and_then(|t| t.weight)
            .unwrap_or_else(|| panic!("no target group {tg} on {arn}"))
    }

    /// The same snapshot with every weight blanked: what must never change.
    pub fn without_weights(&self) -> Snapshot {
        let mut s = self.clone();
        for r in s.records.values_mut().flatten() {
            r.weight = None;
        }
        for a in s.actions.values_mut().flatten() {
            if let Some(tuples) = a
                .forward_config
                .as_mut()
                .and_then(|f| f.target_groups.as_mut())
            {
                for t in tuples {
                    t.weight = None;
                }
            }
        }
        s
    }
}

impl Fleet {
    /// Creates the fixtures of `spec` on moto, names prefixed by `tag` (unique per test).
    pub fn create(endpoint: &str, tag: &str, spec: &Spec) -> Fleet {
        runtime().block_on(create(endpoint, tag, spec))
    }

    /// Reads every record and action kong may touch.
    pub fn snapshot(&self) -> Snapshot {
        runtime().block_on(async {
            let r53 = route53::Client::new(&sdk(&self.endpoint, "us-east-1").await);
            let elb = elbv2::Client::new(&sdk(&self.endpoint, "us-east-1").await);
            let mut records = BTreeMap::new();
            for zone in &self.zones {
                let mut sets = Vec::new();
                let mut start: Option<(String, RrType, Option<String>)> = None;
                loop {
                    let mut request = r53.list_resource_record_sets().hosted_zone_id(zone);
                    if let Some((name, kind, id)) = start.take() {
                        request = request
                            .start_record_name(name)
                            .start_record_type(kind)
                            .set_start_record_identifier(id);
                    }
                    let page = request.send().await.expect("list records");
                    sets.extend(
                        page.resource_record_sets()
                            .iter()
                            .filter(|s| s.set_identifier.is_some())
                            .cloned(),
                    );
                    if !page.is_truncated() {
                        break;
                    }
                    start = Some((
                        page.next_record_name().unwrap_or_default().to_string(),
                        page.next_record_type().cloned().unwrap_or(RrType::A),
                        page.next_record_identifier().map(str::to_string),
                    ));
                }
                records.insert(zone.clone(), sets);
            }
            let mut actions = BTreeMap::new();
            for f in &self.forwards {
                let list = if f.rule {
                    let out = elb
                        .describe_rules()
                        .rule_arns(&f.arn)
                        .send()
                        .await
                        .expect("describe rule");
                    out.rules()[0].actions().to_vec()
                } else {
                    let out = elb
                        .describe_listeners()
                        .listener_arns(&f.arn)
                        .send()
                        .await
                        .expect("describe listener");
                    out.listeners()[0].default_actions().to_vec()
                };
                actions.insert(f.arn.clone(), list);
            }
            Snapshot { records, actions }
        })
    }

    /// Asserts that every member serving `region` is at weight 0 and nothing but weights
    /// changed compared with `original`.
    pub fn assert_evacuated(&self, original: &Snapshot, region: &str) {
        let now = self.snapshot();
        assert_eq!(
            now.without_weights(),
            original.without_weights(),
            "only weights may change"
        );
        for d in &self.records {
            for (id, r) in MEMBERS {
                let w = now.weight(&d.name, id);
                if r == region {
                    assert_eq!(w, 0, "{} {id} still has weight {w}", d.name);
                }
            }
            let total: i64 = MEMBERS.iter().map(|(id, _)| now.weight(&d.name, id)).sum();
            assert!(total > 0, "{} has every member at 0", d.name);
        }
        for f in &self.forwards {
            assert_eq!(now.tg_weight(&f.arn, &f.local), 0, "{} local", f.arn);
            assert!(now.tg_weight(&f.arn, &f.proxy) > 0, "{} proxy", f.arn);
        }
    }
}

async fn create(endpoint: &str, tag: &str, spec: &Spec) -> Fleet {
    let r53 = route53::Client::new(&sdk(endpoint, "us-east-1").await);
    let mut zones = Vec::new();
    let mut zone_names = Vec::new();
    for z in 0..spec.zones {
        let name = format!("z{z}-{tag}.test.");
        let out = r53
            .create_hosted_zone()
            .name(&name)
            .caller_reference(format!("{tag}-{z}"))
            .send()
            .await
            .expect("create hosted zone");
        let id = out
            .hosted_zone()
            .expect("zone")
            .id()
            .trim_start_matches("/hostedzone/");
        zones.push(id.to_string());
        zone_names.push(name);
    }

    let forwards = if spec.albs {
        create_albs(endpoint, tag).await
    } else {
        Vec::new()
    };
    let alias_target = if spec.albs {
        let elb = elbv2::Client::new(&sdk(endpoint, "us-east-1").await);
        let lbs = elb
            .describe_load_balancers()
            .names(format!("{tag}-a"))
            .send()
            .await
            .expect("describe load balancers");
        let lb = &lbs.load_balancers()[0];
        Some((
            lb.canonical_hosted_zone_id()
                .unwrap_or_default()
                .to_string(),
            lb.dns_name().unwrap_or_default().to_string(),
        ))
    } else {
        None
    };

    let mut records = Vec::new();
    // One change batch per zone, as an operator's IaC would create them.
    let mut changes: Vec<Vec<Change>> = vec![Vec::new(); spec.zones];
    for i in 0..spec.services {
        let z = i % spec.zones;
        let service = format!("svc{i:02}");
        let name = format!("{service}.{}", zone_names[z]);
        let kind = i % 4;
        let record_type = match kind {
            0 => "CNAME",
            1 | 3 => "A",
            _ => "TXT",
        };
        for (m, (id, _)) in MEMBERS.iter().enumerate() {
            let mut set = ResourceRecordSet::builder()
                .name(&name)
                .r#type(RrType::from(record_type))
                .set_identifier(*id)
                .weight(WEIGHTS[m]);
            set = match kind {
                0 => {
                    let hc = r53
                        .create_health_check()
                        .caller_reference(format!("{tag}-{i}-{id}"))
                        .health_check_config(
                            HealthCheckConfig::builder()
                                .r#type(HealthCheckType::Https)
                                .fully_qualified_domain_name(format!("{id}.{service}.example.net"))
                                .port(443)
                                .resource_path("/health")
                                .build()
                                .expect("health check config"),
                        )
                        .send()
                        .await
                        .expect("create health check");
                    set.ttl(60)
                        .health_check_id(hc.health_check().expect("health check").id())
                        .resource_records(rr(&format!("{id}.{service}.example.net")))
                }
                1 => set
                    .ttl(300)
                    .resource_records(rr(&format!("10.{m}.{i}.1")))
                    .resource_records(rr(&format!("10.{m}.{i}.2"))),
                3 if alias_target.is_some() => {
                    let (zone, dns) = alias_target.clone().unwrap_or_default();
                    set.alias_target(
                        AliasTarget::builder()
                            .hosted_zone_id(zone)
                            .dns_name(dns)
                            .evaluate_target_health(true)
                            .build()
                            .expect("alias target"),
                    )
                }
                3 => set.ttl(30).resource_records(rr(&format!("10.9.{i}.{m}"))),
                _ => set
                    .ttl(120)
                    .resource_records(rr(&format!("\"kong {service} {id}\""))),
            };
            changes[z].push(
                Change::builder()
                    .action(ChangeAction::Create)
                    .resource_record_set(set.build().expect("record set"))
                    .build()
                    .expect("change"),
            );
        }
        records.push(RecordDial {
            service,
            zone: zones[z].clone(),
            name,
            record_type: record_type.to_string(),
        });
    }
    for (z, batch) in changes.into_iter().enumerate() {
        if batch.is_empty() {
            continue;
        }
        r53.change_resource_record_sets()
            .hosted_zone_id(&zones[z])
            .change_batch(
                ChangeBatch::builder()
                    .set_changes(Some(batch))
                    .build()
                    .expect("change batch"),
            )
            .send()
            .await
            .expect("create records");
    }

    let topology = topology_yaml(tag, spec, &records, &forwards);
    Fleet {
        endpoint: endpoint.to_string(),
        zones,
        records,
        forwards,
        topology,
    }
}

fn rr(value: &str) -> ResourceRecord {
    ResourceRecord::builder()
        .value(value)
        .build()
        .expect("resource record")
}

fn tuple(arn: &str, weight: i32) -> TargetGroupTuple {
    TargetGroupTuple::builder()
        .target_group_arn(arn)
        .weight(weight)
        .build()
}

fn sticky_forward(local: &str, proxy: &str, seconds: i32) -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .forward_config(
            ForwardActionConfig::builder()
                .target_groups(tuple(local, 100))
                .target_groups(tuple(proxy, 0))
                .target_group_stickiness_config(
                    TargetGroupStickinessConfig::builder()
                        .enabled(true)
                        .duration_seconds(seconds)
                        .build(),
                )
                .build(),
        )
        .build()
}

/// ALB `{tag}-a` with a weighted listener forward action (local / proxy to us-west-2), and
/// ALB `{tag}-b` whose listener answers 404 by default and whose rule `/api/*` forwards
/// weighted (local / proxy to eu-west-1).
async fn create_albs(endpoint: &str, tag: &str) -> Vec<ForwardDial> {
    let elb = elbv2::Client::new(&sdk(endpoint, "us-east-1").await);
    let subnets = super::moto::default_subnets(endpoint, "us-east-1");
    assert!(
        subnets.len() >= 2,
        "moto has no default subnets: {subnets:?}"
    );
    let vpc = subnets[0].1.clone();
    let target_group = |name: String| {
        let elb = elb.clone();
        let vpc = vpc.clone();
        async move {
            let out = elb
                .create_target_group()
                .name(name)
                .protocol(ProtocolEnum::Http)
                .port(80)
                .vpc_id(vpc)
                .send()
                .await
                .expect("create target group");
            out.target_groups()[0]
                .target_group_arn()
                .unwrap_or_default()
                .to_string()
        }
    };
    let mut forwards = Vec::new();
    for (suffix, proxy_region) in [("a", "us-west-2"), ("b", "eu-west-1")] {
        let lb = elb
            .create_load_balancer()
            .name(format!("{tag}-{suffix}"))
            .subnets(&subnets[0].0)
            .subnets(&subnets[1].0)
            .send()
            .await
            .expect("create load balancer");
        let lb_arn = lb.load_balancers()[0]
            .load_balancer_arn()
            .unwrap_or_default()
            .to_string();
        let local = target_group(format!("{tag}-{suffix}-local")).await;
        let proxy = target_group(format!("{tag}-{suffix}-proxy")).await;
        let default_action = if suffix == "a" {
            sticky_forward(&local, &proxy, 300)
        } else {
            Action::builder()
                .r#type(ActionTypeEnum::FixedResponse)
                .fixed_response_config(
                    elbv2::types::FixedResponseActionConfig::builder()
                        .status_code("404")
                        .content_type("text/plain")
                        .message_body("not here")
                        .build(),
                )
                .build()
        };
        let listener = elb
            .create_listener()
            .load_balancer_arn(&lb_arn)
            .protocol(ProtocolEnum::Http)
            .port(80)
            .default_actions(default_action)
            .send()
            .await
            .expect("create listener");
        let listener_arn = listener.listeners()[0]
            .listener_arn()
            .unwrap_or_default()
            .to_string();
        if suffix == "a" {
            forwards.push(ForwardDial {
                service: "svc00".to_string(),
                arn: listener_arn,
                rule: false,
                local,
                proxy,
                proxy_region: proxy_region.to_string(),
            });
        } else {
            let rule = elb
                .create_rule()
                .listener_arn(&listener_arn)
                .priority(10)
                .conditions(
                    RuleCondition::builder()
                        .field("path-pattern")
                        .values("/api/*")
                        .build(),
                )
                .actions(sticky_forward(&local, &proxy, 600))
                .send()
                .await
                .expect("create rule");
            forwards.push(ForwardDial {
                service: "svc01".to_string(),
                arn: rule.rules()[0].rule_arn().unwrap_or_default().to_string(),
                rule: true,
                local,
                proxy,
                proxy_region: proxy_region.to_string(),
            });
        }
    }
    forwards
}

fn topology_yaml(
    tag: &str,
    spec: &Spec,
    records: &[RecordDial],
    forwards: &[ForwardDial],
) -> String {
    let mut y = String::new();
    writeln!(y, "name: {tag}").unwrap();
    writeln!(y, "regions: [us-east-1, us-west-2, eu-west-1]").unwrap();
    writeln!(y, "max_utilization: 0.75").unwrap();
    writeln!(y, "backend: aws").unwrap();
    writeln!(y, "services:").unwrap();
    for (i, d) in records.iter().enumerate() {
        writeln!(y, "  {}:", d.service).unwrap();
        if i + spec.per_wave < records.len() {
            writeln!(
                y,
                "    depends_on: [{}]",
                records[i + spec.per_wave].service
            )
            .unwrap();
        }
        writeln!(
            y,
            "    capacity: {{us-east-1: 400, us-west-2: 400, eu-west-1: 400}}"
        )
        .unwrap();
        writeln!(
            y,
            "    load: {{us-east-1: 100, us-west-2: 60, eu-west-1: 40}}"
        )
        .unwrap();
        writeln!(y, "    dials:").unwrap();
        writeln!(y, "      - id: dns").unwrap();
        writeln!(y, "        route53:").unwrap();
        writeln!(y, "          hosted_zone_id: {}", d.zone).unwrap();
        writeln!(y, "          record: {}", d.name).unwrap();
        writeln!(y, "          type: {}", d.record_type).unwrap();
        writeln!(
            y,
            "          members: {{use1: us-east-1, usw2: us-west-2, euw1: eu-west-1}}"
        )
        .unwrap();
        for f in forwards.iter().filter(|f| f.service == d.service) {
            writeln!(y, "      - id: alb").unwrap();
            writeln!(y, "        alb:").unwrap();
            writeln!(y, "          region: us-east-1").unwrap();
            let key = if f.rule { "rule_arn" } else { "listener_arn" };
            writeln!(y, "          {key}: {}", f.arn).unwrap();
            writeln!(y, "          members:").unwrap();
            writeln!(y, "            {}: us-east-1", f.local).unwrap();
            writeln!(y, "            {}: {}", f.proxy, f.proxy_region).unwrap();
        }
    }
    if spec.canary {
        writeln!(y, "  canary:").unwrap();
        writeln!(
            y,
            "    capacity: {{us-east-1: 100, us-west-2: 100, eu-west-1: 100}}"
        )
        .unwrap();
        writeln!(
            y,
            "    load: {{us-east-1: 60, us-west-2: 20, eu-west-1: 20}}"
        )
        .unwrap();
        writeln!(y, "    dials:").unwrap();
        writeln!(y, "      - id: sim").unwrap();
        writeln!(y, "        sim: {{}}").unwrap();
    }
    y
}
