//! The `prometheus` metric source: one instant query (`GET /api/v1/query`) per fetch.
//!
//! The query is the check's `query:` with `{{region}}` and `{{service}}` filled in. It must
//! come back as exactly one finite number: a scalar, or a vector of one sample. Anything else
//! (no series, several series, NaN, an error status, an unreachable server, a timeout) is an
//! error naming the check, the query and the server, never a default value: no data is not a
//! pass. Parsing the response is a pure function ([`parse_response`]) so it is tested
//! without a server.

use async_trait::async_trait;
use serde_json::Value;

use crate::model::{Check, CheckSource};

use super::sim::source_name;
use super::{MetricSource, Scope, SourceError};

/// Reads `prometheus` checks from one Prometheus server.
#[derive(Clone)]
pub struct Prometheus {
    /// The server's base URL, without a trailing slash.
    url: String,
    client: reqwest::Client,
}

impl Prometheus {
    /// A source querying the server at `url` (e.g. `http://127.0.0.1:9090`).
    pub fn new(url: &str) -> Result<Prometheus, SourceError> {
        let client = reqwest::Client::builder().build().map_err(|e| {
            SourceError::new(format!("cannot build an HTTP client for Prometheus: {e}"))
        })?;
        Ok(Prometheus {
            url: url.trim_end_matches('/').to_string(),
            client,
        })
    }

    /// The server's base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs one instant query; the value, or why there is none (without the check's name)
    /// and whether another try may answer (unreachable, timed out, 5xx or 429).
    async fn query(
        &self,
        query: &str,
        timeout: std::time::Duration,
    ) -> Result<f64, (String, bool)> {
        let endpoint = format!("{}/api/v1/query", self.url);
        let url = reqwest::Url::parse_with_params(&endpoint, [("query", query)])
            .map_err(|e| (format!("invalid Prometheus URL `{endpoint}`: {e}"), false))?;
        let response = self
            .client
            .get(url)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| {
                let why = if e.is_timeout() {
                    format!("no answer within {timeout:?} (the check's `timeout`)")
                } else {
                    format!("cannot reach the server: {}", error_chain(&e))
                };
                (why, true)
            })?;
        let status = response.status();
        let body = response.text().await.map_err(|e| {
            let why = format!("reading the response (HTTP {status}): {}", error_chain(&e));
            (why, true)
        })?;
        let transient =
            status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
        parse_response(status.as_u16(), &body).map_err(|why| (why, transient))
    }
}

#[async_trait]
impl MetricSource for Prometheus {
    async fn fetch(&self, check: &Check, scope: &Scope<'_>) -> Result<f64, SourceError> {
        let CheckSource::Prometheus { query } = &check.source else {
            return Err(SourceError::new(format!(
                "check `{}` reads {}, not Prometheus",
                check.name,
                source_name(&check.source)
            )));
        };
        let rendered = scope
            .render(query)
            .map_err(|e| SourceError::new(format!("check `{}`: {e}", check.name)))?;
        self.query(&rendered, check.timeout)
            .await
            .map_err(|(why, transient)| {
                let message = format!(
                    "check `{}`: prometheus query `{rendered}` on {}: {why}",
                    check.name, self.url
                );
                if transient {
                    SourceError::transient(message)
                } else {
                    SourceError::new(message)
                }
            })
    }
}

/// The value of an instant query's response (HTTP status and body), or why there is none.
pub fn parse_response(status: u16, body: &str) -> Result<f64, String> {
    let json: Result<Value, _> = serde_json::from_str(body);
    let Ok(json) = json else {
        return Err(format!(
            "HTTP {status}, not a Prometheus API response: {}",
            snippet(body)
        ));
    };
    let field = |key: &str| json.get(key).and_then(Value::as_str).unwrap_or("");
    if status != 200 || field("status") != "success" {
        let error = match (field("errorType"), field("error")) {
            ("", "") => snippet(body),
            ("", e) => e.to_string(),
            (t, e) => format!("{t}: {e}"),
        };
        return Err(format!("HTTP {status}, Prometheus says: {error}"));
    }
    let data = json.get("data").ok_or("the response has no `data`")?;
    let result = data
        .get("result")
        .ok_or("the response has no `data.result`")?;
    let sample = match data.get("resultType").and_then(Value::as_str) {
        Some("scalar") => result,
        Some("vector") => {
            let series = result.as_array().ok_or("`data.result` is not a list")?;
            match series.as_slice() {
                [] => return Err("no data: the query returned no series".to_string()),
                [one] => one.get("value").ok_or("the sample has no `value`")?,
                several => {
                    return Err(format!(
                        "the query returned {} series ({}, ...): aggregate it to one, e.g. `sum(...)` or `max(...)`",
                        several.len(),
                        labels(&several[0])
                    ));
                }
            }
        }
        Some(other) => {
            return Err(format!(
                "the query returned a {other}, expected a scalar or a vector of one series"
            ));
        }
        None => return Err("the response has no `data.resultType`".to_string()),
    };
    // A sample is `[timestamp, "value"]`; Prometheus writes values as strings.
    let text = sample
        .get(1)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("malformed sample {sample}"))?;
    let value: f64 = text
        .parse()
        .map_err(|_| format!("the sample value `{text}` is not a number"))?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(format!(
            "the query returned {text}: not a usable value (a division by zero or an empty rate?)"
        ))
    }
}

/// `{__name__="x", region="y"}` of one series, for error messages.
fn labels(series: &Value) -> String {
    let Some(metric) = series.get("metric").and_then(Value::as_object) else {
        return "{}".to_string();
    };
    let pairs: Vec<String> = metric
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                v.as_str()
                    .map_or_else(|| v.to_string(), |s| format!("\"{s}\""))
            )
        })
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

fn snippet(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(200) {
        Some((i, _)) => format!("{}...", &body[..i]),
        None if body.is_empty() => "(empty body)".to_string(),
        None => body.to_string(),
    }
}

/// An error and its sources: reqwest's own message alone says only "error sending request".
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(&format!(": {e}"));
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(samples: &str) -> String {
        format!(r#"{{"status":"success","data":{{"resultType":"vector","result":[{samples}]}}}}"#)
    }

    const SAMPLE: &str = r#"{"metric":{"region":"us-west-2"},"value":[1700000000.5,"0.25"]}"#;

    #[test]
    fn one_sample_vector_gives_its_value() {
        assert_eq!(parse_response(200, &vector(SAMPLE)), Ok(0.25));
    }

    #[test]
    fn scalar_gives_its_value() {
        let body =
            r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"42"]}}"#;
        assert_eq!(parse_response(200, body), Ok(42.0));
    }

    #[test]
    fn empty_vector_is_no_data() {
        let err = parse_response(200, &vector("")).unwrap_err();
        assert_eq!(err, "no data: the query returned no series");
    }

    #[test]
    fn several_series_ask_to_aggregate() {
        let two = format!(
            "{SAMPLE},{}",
            r#"{"metric":{"region":"eu-west-1"},"value":[1700000000.5,"0.5"]}"#
        );
        let err = parse_response(200, &vector(&two)).unwrap_err();
        assert!(err.contains("2 series"), "{err}");
        assert!(err.contains("sum(...)"), "{err}");
        assert!(err.contains(r#"region="us-west-2""#), "{err}");
    }

    #[test]
    fn nan_and_infinities_are_errors() {
        for v in ["NaN", "+Inf", "-Inf"] {
            let body = vector(&format!(r#"{{"metric":{{}},"value":[1,"{v}"]}}"#));
            let err = parse_response(200, &body).unwrap_err();
            assert!(err.contains(v), "{v}: {err}");
        }
    }

    #[test]
    fn error_status_carries_prometheus_error_text() {
        let body = r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error"}"#;
        let err = parse_response(400, body).unwrap_err();
        assert!(err.contains("HTTP 400"), "{err}");
        assert!(err.contains("bad_data: invalid parameter"), "{err}");
        // Even with HTTP 200, a non-success status is an error.
        let err = parse_response(200, r#"{"status":"error","error":"boom"}"#).unwrap_err();
        assert!(err.contains("boom"), "{err}");
    }

    #[test]
    fn non_json_and_odd_results_are_errors() {
        let err = parse_response(502, "<html>Bad Gateway</html>").unwrap_err();
        assert!(
            err.contains("HTTP 502") && err.contains("Bad Gateway"),
            "{err}"
        );
        let matrix = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert!(parse_response(200, matrix).unwrap_err().contains("matrix"));
        let text = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"abc"]}]}}"#;
        assert!(parse_response(200, text).unwrap_err().contains("abc"));
    }

    #[tokio::test]
    async fn server_that_does_not_answer_times_out_after_the_check_timeout() {
        // The kernel accepts the connection into the backlog; nothing ever answers.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", silent.local_addr().unwrap());
        let err = Prometheus::new(&url)
            .unwrap()
            .query("up", std::time::Duration::from_millis(200))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            (
                "no answer within 200ms (the check's `timeout`)".into(),
                true
            )
        );
    }

    #[tokio::test]
    async fn unreachable_server_is_an_error_naming_check_query_and_server() {
        // A port nothing listens on: bind, take the port, drop the listener.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let source = Prometheus::new(&url).unwrap();
        let check = Check {
            name: "p99".to_string(),
            source: CheckSource::Prometheus {
                query: "max(p99{region=\"{{region}}\"})".to_string(),
            },
            service: None,
            per: crate::model::Per::Destination,
            threshold: crate::model::Threshold::default(),
            consecutive: 1,
            interval: std::time::Duration::from_secs(1),
            timeout: std::time::Duration::from_secs(2),
        };
        let err = source
            .fetch(&check, &Scope::region(Some("eu-west-1")))
            .await
            .unwrap_err();
        assert!(err.message.contains("check `p99`"), "{err}");
        assert!(err.message.contains(r#"p99{region="eu-west-1"}"#), "{err}");
        assert!(err.message.contains(&url), "{err}");
        assert!(err.message.contains("cannot reach"), "{err}");
        assert!(
            err.transient,
            "an unreachable server may answer on another try"
        );
        // An unbound placeholder is refused before any request.
        let err = source.fetch(&check, &Scope::default()).await.unwrap_err();
        assert!(err.message.contains("{{region}}"), "{err}");
    }
}
