//! Live load: each service's `load_query`, evaluated per region with `{{region}}` and
//! `{{service}}` bound, through the same metric sources as checks.

use std::collections::BTreeMap;

use futures::stream::{self, StreamExt};

use crate::checks::{MetricSource, Scope};
use crate::model::{Check, Region, Topology};
use crate::plan::{Figure, FigureSource};
use crate::retry::RetryPolicy;

use super::LiveError;

/// Queries in flight at once (a big topology has one per service and region).
const CONCURRENCY: usize = 16;

/// The live load of every service with a `load_query`, per region of its declared `load`.
pub async fn live_load(
    topology: &Topology,
    source: &dyn MetricSource,
) -> Result<BTreeMap<String, BTreeMap<Region, Figure>>, LiveError> {
    let mut queries = Vec::new();
    for service in topology.services.values() {
        let Some(query) = &service.load_query else {
            continue;
        };
        let check = Check::reading(
            format!("load of {}", service.name),
            query.clone(),
            &service.name,
        );
        for region in service.load.keys() {
            queries.push((check.clone(), region.clone()));
        }
    }
    let results: Vec<_> = stream::iter(queries)
        .map(|(check, region)| async move {
            let scope = Scope {
                region: Some(&region),
                service: check.service.as_deref(),
                asked: None,
            };
            // Transient failures (unreachable, timed out, 5xx) are retried like every
            // provider call; an empty result or a bad query refuses at once.
            let value = RetryPolicy::default()
                .call("live load", || source.fetch(&check, &scope))
                .await;
            (check, region, value)
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut out: BTreeMap<String, BTreeMap<Region, Figure>> = BTreeMap::new();
    let mut errors = Vec::new();
    for (check, region, value) in results {
        let service = check.service.clone().unwrap_or_default();
        match value {
            Ok(v) if v.is_finite() && v >= 0.0 => {
                out.entry(service).or_default().insert(
                    region,
                    Figure {
                        value: v,
                        source: FigureSource::Live,
                        detail: describe(&check),
                    },
                );
            }
            Ok(v) => errors.push(format!(
                "{service} in {region}: load_query returned {v}, expected requests/s >= 0"
            )),
            Err(e) => errors.push(format!("{service} in {region}: {e}")),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(LiveError(format!(
            "cannot read the live load ({} failed): {}; nothing was changed (`kong plan --declared-load` plans on the declared load)",
            errors.len(),
            errors.join("; ")
        )))
    }
}

/// The query, for the plan's notes.
fn describe(check: &Check) -> String {
    use crate::model::CheckSource;
    match &check.source {
        CheckSource::Prometheus { query } => format!("prometheus `{query}`"),
        CheckSource::Cloudwatch {
            namespace, metric, ..
        } => format!("cloudwatch {namespace}/{metric}"),
        CheckSource::Sim { metric } => format!("sim {}", metric.name()),
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;

    use super::*;
    use crate::checks::SourceError;
    use crate::model::CheckSource;
    use crate::testing::streaming;

    /// Answers `{{region}}`-rendered queries from a table; anything else is "no data".
    struct Table(BTreeMap<String, f64>);

    #[async_trait]
    impl MetricSource for Table {
        async fn fetch(&self, check: &Check, scope: &Scope<'_>) -> Result<f64, SourceError> {
            let CheckSource::Prometheus { query } = &check.source else {
                unreachable!()
            };
            let q = scope.render(query)?;
            self.0
                .get(&q)
                .copied()
                .ok_or_else(|| SourceError::new(format!("no data for {q}")))
        }
    }

    fn with_query(query: &str) -> Topology {
        let mut t = streaming();
        t.services.get_mut("edge-api").unwrap().load_query = Some(CheckSource::Prometheus {
            query: query.to_string(),
        });
        t
    }

    #[tokio::test]
    async fn reads_every_region_of_the_services_with_a_query() {
        let t = with_query("rps{service=\"{{service}}\",region=\"{{region}}\"}");
        let table = Table(
            t.services["edge-api"]
                .load
                .keys()
                .enumerate()
                .map(|(i, r)| {
                    (
                        format!("rps{{service=\"edge-api\",region=\"{r}\"}}"),
                        100.0 * (i + 1) as f64,
                    )
                })
                .collect(),
        );
        let load = live_load(&t, &table).await.unwrap();
        assert_eq!(load.len(), 1, "only edge-api has a load_query");
        let edge = &load["edge-api"];
        assert_eq!(edge.len(), t.services["edge-api"].load.len());
        assert!(edge.values().all(|f| f.source == FigureSource::Live));
        assert_eq!(edge.values().next().unwrap().value, 100.0);
    }

    #[tokio::test]
    async fn a_region_without_data_refuses_naming_it() {
        let t = with_query("rps{region=\"{{region}}\"}");
        let table = Table(BTreeMap::from([(
            "rps{region=\"us-east-1\"}".to_string(),
            5.0,
        )]));
        let err = live_load(&t, &table).await.unwrap_err();
        assert!(err.0.contains("edge-api in us-west-2"), "{err}");
        assert!(err.0.contains("nothing was changed"), "{err}");
    }

    /// Fails transiently (unreachable) `failures` times, then answers 42; counts calls.
    struct Flaky {
        failures: u32,
        calls: std::sync::atomic::AtomicU32,
        transient: bool,
    }

    #[async_trait]
    impl MetricSource for Flaky {
        async fn fetch(&self, _: &Check, _: &Scope<'_>) -> Result<f64, SourceError> {
            let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            match (n < self.failures, self.transient) {
                (false, _) => Ok(42.0),
                (true, true) => Err(SourceError::transient("cannot reach the server")),
                (true, false) => Err(SourceError::new("no data: the query returned no series")),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_transient_failure_is_retried_and_a_permanent_one_is_not() {
        let t = with_query("rps");
        let regions = t.services["edge-api"].load.len() as u32;
        let flaky = Flaky {
            failures: regions * 2,
            calls: Default::default(),
            transient: true,
        };
        let load = live_load(&t, &flaky)
            .await
            .expect("retried until it answered");
        assert!(load["edge-api"].values().all(|f| f.value == 42.0));
        assert!(
            flaky.calls.into_inner() > regions * 2,
            "every failure was retried"
        );

        let empty = Flaky {
            failures: u32::MAX,
            calls: Default::default(),
            transient: false,
        };
        let err = live_load(&t, &empty).await.unwrap_err();
        assert!(err.0.contains("no data"), "{err}");
        assert_eq!(
            empty.calls.into_inner(),
            regions,
            "one call per region, no retry"
        );
    }
}
