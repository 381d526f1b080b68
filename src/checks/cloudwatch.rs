//! CloudWatch checks: one `GetMetricData` query per fetch, the newest datapoint of the last
//! few periods.
//!
//! This module only fetches: whether the value passes is [`super::evaluate`]'s business. An
//! empty answer, a NaN, an API error or a timeout is a [`SourceError`] naming the check, the
//! metric and the region: no data is not a pass.
//!
//! Which region's CloudWatch is read: the topology's `metrics.cloudwatch.region` when set
//! (one monitoring region for everything), else the region the check is evaluated for; a
//! `per: global` check needs the former.
//!
//! The connection (endpoint, profile, credentials, per-attempt timeout) is the aws backend's
//! ([`crate::backend::aws::config::load`]), whatever the traffic backend: CloudWatch is a
//! metric source, and a simulated evacuation may well be checked against real metrics.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::retry::RetryConfig;
use aws_config::{Region, SdkConfig};
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::error::DisplayErrorContext;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricDataResult, MetricStat, ScanBy, StatusCode,
};
use tokio::sync::OnceCell;

use crate::backend::aws::{AwsSettings, config};
use crate::model::{Check, CheckSource, Topology};

use super::{Scope, SourceError};

/// The shortest time window queried: a metric published every minute has a few datapoints
/// in it even when the newest is a little late.
const MIN_WINDOW: Duration = Duration::from_secs(300);

/// Attempts per `GetMetricData` call. Unlike the traffic dials (whose SDK retries are off
/// because the executor retries them), nothing above retries a check's fetch, and one
/// throttled read must not abort an evacuation; the check's `timeout` bounds all attempts.
const ATTEMPTS: u32 = 3;

/// Reads `cloudwatch` checks; cheap to clone (clients are shared).
#[derive(Clone)]
pub struct CloudWatch {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None`: the topology has no `metrics.cloudwatch`, and its checks cannot be read.
    declared: Option<Declared>,
    settings: AwsSettings,
    /// Loaded on first use: a run without CloudWatch checks never resolves credentials.
    config: OnceCell<SdkConfig>,
    /// One client per region, created on first use.
    clients: Mutex<BTreeMap<String, Client>>,
}

struct Declared {
    /// `metrics.cloudwatch.region`.
    region: Option<String>,
}

impl CloudWatch {
    /// The CloudWatch source of `topology`, reached with `settings` (endpoint, profile).
    pub fn for_topology(topology: &Topology, settings: &AwsSettings) -> CloudWatch {
        let declared = topology.metrics.cloudwatch.as_ref().map(|cw| Declared {
            region: cw.region.clone(),
        });
        CloudWatch {
            inner: Arc::new(Inner {
                declared,
                settings: settings.clone(),
                config: OnceCell::new(),
                clients: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// A source for a topology without `metrics.cloudwatch`: every check it gets fails.
    pub fn undeclared() -> CloudWatch {
        CloudWatch {
            inner: Arc::new(Inner {
                declared: None,
                settings: AwsSettings::default(),
                config: OnceCell::new(),
                clients: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// Reads the newest datapoint of `check` for `scope`.
    pub async fn fetch(&self, check: &Check, scope: &Scope<'_>) -> Result<f64, SourceError> {
        let query = Query::new(check, scope)?;
        let Some(declared) = &self.inner.declared else {
            return Err(SourceError::new(format!(
                "check `{}` reads CloudWatch ({}), but the topology declares no \
                 `metrics.cloudwatch`: add `metrics: {{cloudwatch: {{}}}}` (or \
                 `{{cloudwatch: {{region: REGION}}}}` to read one region's CloudWatch)",
                check.name,
                query.describe()
            )));
        };
        let region = query_region(declared.region.as_deref(), scope).ok_or_else(|| {
            SourceError::new(format!(
                "check `{}` is global (`per: global`) and reads CloudWatch ({}), but the \
                 topology's `metrics.cloudwatch` names no region: set \
                 `metrics: {{cloudwatch: {{region: REGION}}}}` to say which region's \
                 CloudWatch to read",
                check.name,
                query.describe()
            ))
        })?;
        let context = |what: String| {
            SourceError::new(format!(
                "check `{}`: CloudWatch in {region}, {}: {what}",
                check.name,
                query.describe()
            ))
        };
        let call = async {
            let client = self.client(region).await;
            let (start, end) = window(SystemTime::now(), query.period);
            client
                .get_metric_data()
                .metric_data_queries(query.to_sdk())
                .start_time(DateTime::from(start))
                .end_time(DateTime::from(end))
                .scan_by(ScanBy::TimestampDescending)
                .send()
                .await
        };
        let output = match tokio::time::timeout(check.timeout, call).await {
            Err(_) => {
                return Err(context(format!(
                    "no answer within the check's timeout of {} s (no data is not a pass)",
                    check.timeout.as_secs_f64()
                )));
            }
            Ok(Err(e)) => {
                let endpoint = self
                    .inner
                    .settings
                    .endpoint_url
                    .as_deref()
                    .map_or_else(String::new, |url| format!(" at {url}"));
                return Err(context(format!(
                    "GetMetricData{endpoint} failed (credentials from {}; no data is not a \
                     pass): {}",
                    self.inner.settings.credentials_hint(),
                    DisplayErrorContext(&e)
                )));
            }
            Ok(Ok(output)) => output,
        };
        newest(output.metric_data_results()).map_err(context)
    }

    /// The client for `region`, created on first use.
    async fn client(&self, region: &str) -> Client {
        let config = self
            .inner
            .config
            .get_or_init(|| config::load(&self.inner.settings))
            .await;
        let mut clients = self
            .inner
            .clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        clients
            .entry(region.to_string())
            .or_insert_with(|| {
                let config = aws_sdk_cloudwatch::config::Builder::from(config)
                    .region(Region::new(region.to_string()))
                    .retry_config(RetryConfig::standard().with_max_attempts(ATTEMPTS))
                    .build();
                Client::from_conf(config)
            })
            .clone()
    }
}

/// The region whose CloudWatch is read: the topology's, else the scope's.
fn query_region<'a>(configured: Option<&'a str>, scope: &Scope<'a>) -> Option<&'a str> {
    configured.or(scope.region)
}

/// The time window queried, ending at `now`: the last three periods, at least
/// [`MIN_WINDOW`]. CloudWatch compares whole seconds and leaves out a datapoint stamped at
/// `EndTime` or later, so the end is the second after `now`: a datapoint published in the
/// same second as the query still counts.
fn window(now: SystemTime, period: u32) -> (SystemTime, SystemTime) {
    let since_epoch = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let end = SystemTime::UNIX_EPOCH + Duration::from_secs(since_epoch.as_secs() + 1);
    let span = (Duration::from_secs(u64::from(period)) * 3).max(MIN_WINDOW);
    (end.checked_sub(span).unwrap_or(SystemTime::UNIX_EPOCH), end)
}

/// One metric statistic, with the check's templates filled in.
#[derive(Debug, Clone, PartialEq)]
struct Query {
    namespace: String,
    metric: String,
    dimensions: BTreeMap<String, String>,
    stat: String,
    period: u32,
}

impl Query {
    /// The query of a `cloudwatch` check for `scope`.
    fn new(check: &Check, scope: &Scope<'_>) -> Result<Query, SourceError> {
        let CheckSource::Cloudwatch {
            namespace,
            metric,
            dimensions,
            stat,
            period,
        } = &check.source
        else {
            return Err(SourceError::new(format!(
                "check `{}` is not a cloudwatch check",
                check.name
            )));
        };
        let render = |text: &str| {
            scope
                .render(text)
                .map_err(|e| SourceError::new(format!("check `{}`: {e}", check.name)))
        };
        Ok(Query {
            namespace: render(namespace)?,
            metric: render(metric)?,
            dimensions: dimensions
                .iter()
                .map(|(name, value)| Ok((name.clone(), render(value)?)))
                .collect::<Result<_, SourceError>>()?,
            stat: stat.clone(),
            period: *period,
        })
    }

    /// `AWS/ApplicationELB HTTPCode_Target_5XX_Count {LoadBalancer=app/x} Sum/60s` (no braces
    /// without dimensions).
    fn describe(&self) -> String {
        let dimensions = self
            .dimensions
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
        let dimensions = if dimensions.is_empty() {
            String::new()
        } else {
            format!(" {{{dimensions}}}")
        };
        format!(
            "{} {}{dimensions} {}/{}s",
            self.namespace, self.metric, self.stat, self.period
        )
    }

    /// The `GetMetricData` query.
    fn to_sdk(&self) -> MetricDataQuery {
        let mut metric = Metric::builder()
            .namespace(&self.namespace)
            .metric_name(&self.metric);
        for (name, value) in &self.dimensions {
            metric = metric.dimensions(Dimension::builder().name(name).value(value).build());
        }
        MetricDataQuery::builder()
            .id("kong")
            .metric_stat(
                MetricStat::builder()
                    .metric(metric.build())
                    .period(i32::try_from(self.period).unwrap_or(i32::MAX))
                    .stat(&self.stat)
                    .build(),
            )
            .return_data(true)
            .build()
    }
}

/// The value of the newest datapoint of the (single) result, whatever order it came in.
fn newest(results: &[MetricDataResult]) -> Result<f64, String> {
    let Some(result) = results.first() else {
        return Err("the answer holds no result (no data is not a pass)".to_string());
    };
    if result.status_code() == Some(&StatusCode::InternalError) {
        let messages = result
            .messages()
            .iter()
            .filter_map(|m| m.value())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(format!("CloudWatch reported an internal error: {messages}"));
    }
    let points = result
        .timestamps()
        .iter()
        .map(|t| (t.secs(), t.subsec_nanos()))
        .zip(result.values().iter().copied());
    match points.max_by_key(|(at, _)| *at) {
        None => Err(
            "no datapoints in the window (is the metric published, with exactly these \
             dimensions, in this region?); no data is not a pass"
                .to_string(),
        ),
        Some((_, value)) if !value.is_finite() => Err(format!(
            "the newest datapoint is {value}, not a number; no data is not a pass"
        )),
        Some((_, value)) => Ok(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Per, Threshold};

    fn check(dimensions: &[(&str, &str)]) -> Check {
        Check {
            name: "5xx".to_string(),
            source: CheckSource::Cloudwatch {
                namespace: "AWS/ApplicationELB".to_string(),
                metric: "HTTPCode_Target_5XX_Count".to_string(),
                dimensions: dimensions
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                stat: "Sum".to_string(),
                period: 60,
            },
            service: None,
            per: Per::Destination,
            threshold: Threshold {
                max: Some(10.0),
                ..Threshold::default()
            },
            consecutive: 1,
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
        }
    }

    fn result(points: &[(i64, f64)]) -> MetricDataResult {
        let mut b = MetricDataResult::builder()
            .id("kong")
            .status_code(StatusCode::Complete);
        for (at, value) in points {
            b = b.timestamps(DateTime::from_secs(*at)).values(*value);
        }
        b.build()
    }

    #[test]
    fn query_fills_region_and_service_in_dimensions() {
        let c = check(&[("LoadBalancer", "app/{{service}}-{{region}}"), ("Az", "a")]);
        let scope = Scope {
            region: Some("us-west-2"),
            service: Some("web"),
            asked: None,
        };
        let q = Query::new(&c, &scope).unwrap();
        assert_eq!(
            q.dimensions,
            BTreeMap::from([
                ("Az".to_string(), "a".to_string()),
                ("LoadBalancer".to_string(), "app/web-us-west-2".to_string()),
            ])
        );
        assert_eq!(
            q.describe(),
            "AWS/ApplicationELB HTTPCode_Target_5XX_Count {Az=a, LoadBalancer=app/web-us-west-2} Sum/60s"
        );
        let sdk = q.to_sdk();
        let stat = sdk.metric_stat().unwrap();
        assert_eq!((stat.period(), stat.stat()), (Some(60), Some("Sum")));
        let metric = stat.metric().unwrap();
        assert_eq!(metric.namespace(), Some("AWS/ApplicationELB"));
        let dims: Vec<_> = metric
            .dimensions()
            .iter()
            .map(|d| (d.name().unwrap(), d.value().unwrap()))
            .collect();
        assert_eq!(dims, [("Az", "a"), ("LoadBalancer", "app/web-us-west-2")]);
        assert!(sdk.return_data().unwrap());
    }

    #[test]
    fn query_of_a_global_check_cannot_fill_region() {
        let c = check(&[("Region", "{{region}}")]);
        let err = Query::new(&c, &Scope::default()).unwrap_err();
        assert!(err.message.contains("check `5xx`"), "{err}");
        assert!(err.message.contains("{{region}}"), "{err}");
    }

    #[test]
    fn window_is_three_periods_and_at_least_five_minutes_up_to_the_next_second() {
        let epoch = |secs: f64| SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs);
        let now = epoch(1_000_000.4);
        let span = |period| {
            let (start, end) = window(now, period);
            assert_eq!(end, epoch(1_000_001.0));
            end.duration_since(start).unwrap().as_secs()
        };
        assert_eq!(span(60), 300);
        assert_eq!(span(1), 300);
        assert_eq!(span(300), 900);
        assert_eq!(span(3600), 10_800);
        assert_eq!(
            window(epoch(7.0), 60).1,
            epoch(8.0),
            "a whole second still counts"
        );
    }

    #[test]
    fn region_is_the_topologys_else_the_checked_one() {
        let dest = Scope::region(Some("eu-west-1"));
        assert_eq!(query_region(Some("us-east-1"), &dest), Some("us-east-1"));
        assert_eq!(query_region(None, &dest), Some("eu-west-1"));
        assert_eq!(query_region(None, &Scope::default()), None);
    }

    #[test]
    fn newest_datapoint_wins_in_any_order() {
        assert_eq!(
            newest(&[result(&[(300, 3.0), (240, 2.0), (180, 1.0)])]),
            Ok(3.0)
        );
        assert_eq!(
            newest(&[result(&[(180, 1.0), (300, 3.0), (240, 2.0)])]),
            Ok(3.0)
        );
    }

    #[test]
    fn no_datapoints_nan_or_no_result_are_errors() {
        let empty = newest(&[result(&[])]).unwrap_err();
        assert!(empty.contains("no datapoints"), "{empty}");
        let nan = newest(&[result(&[(100, 1.0), (200, f64::NAN)])]).unwrap_err();
        assert!(nan.contains("NaN"), "{nan}");
        assert!(newest(&[]).unwrap_err().contains("no result"));
        let failed = MetricDataResult::builder()
            .status_code(StatusCode::InternalError)
            .build();
        assert!(newest(&[failed]).unwrap_err().contains("internal error"));
    }

    #[tokio::test]
    async fn a_topology_without_metrics_cloudwatch_fails_its_checks() {
        let err = CloudWatch::undeclared()
            .fetch(&check(&[]), &Scope::region(Some("us-west-2")))
            .await
            .unwrap_err();
        assert!(err.message.contains("metrics.cloudwatch"), "{err}");
        assert!(
            err.message
                .contains("AWS/ApplicationELB HTTPCode_Target_5XX_Count Sum/60s"),
            "{err}"
        );
    }
}
