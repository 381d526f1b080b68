//! Tracing and OpenTelemetry set-up: the only module that names OpenTelemetry (its crates are
//! 0.x and break often, so the rest of kong speaks `tracing` only).
//!
//! Two outputs, each with its own filter, so a verbose one never costs the other:
//! - **Logs** on stderr, filtered by `KONG_LOG`, else `RUST_LOG`, else [`DEFAULT_LOG`]
//!   (warnings): normal output (stdout, and stderr's error messages) stays clean unless asked.
//! - **Spans** exported with OTLP over HTTP/protobuf when `OTEL_EXPORTER_OTLP_ENDPOINT` is set
//!   (the standard `OTEL_EXPORTER_OTLP_*` variables configure the exporter; `service.name` is
//!   `kong`). Only kong's own spans and events at `info` and above are exported (`run`, `wave`,
//!   `step`, `check`, with the run id): never the HTTP client's own, which would feed back.
//!
//! Telemetry never fails a command: a bad filter or endpoint is reported on stderr and that
//! output is left off. The [`TelemetryGuard`] flushes the spans when dropped, so it must be
//! dropped before `std::process::exit`.

use std::io::IsTerminal;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanExporter};
use tracing::Subscriber;
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

/// `KONG_LOG`: the stderr log filter (`RUST_LOG` syntax); wins over `RUST_LOG`.
pub const ENV_LOG: &str = "KONG_LOG";
/// `OTEL_EXPORTER_OTLP_ENDPOINT`: export spans there (e.g. `http://127.0.0.1:4318`).
pub const ENV_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The log filter when neither `KONG_LOG` nor `RUST_LOG` is set: warnings, except the
/// executor's (retries, refusals, aborts), which are progress events the CLI already prints;
/// a log line in between would only repeat them and break the live display.
pub const DEFAULT_LOG: &str = "warn,kong::exec=error";
/// `service.name` of the exported spans.
pub const SERVICE_NAME: &str = "kong";

/// How long dropping the guard may wait for the last spans to be sent.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Keeps span export alive; dropping it flushes and shuts the exporter down.
#[must_use = "dropping the guard stops span export"]
#[derive(Debug, Default)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Sends every span ended so far to the exporter.
    pub fn flush(&self) {
        if let Some(provider) = &self.provider
            && let Err(e) = provider.force_flush()
        {
            eprintln!("kong: could not flush telemetry: {e}");
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT)
        {
            eprintln!("kong: could not send the last telemetry spans: {e}");
        }
    }
}

/// Installs the global subscriber: logs on stderr, and OTLP span export when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Call once, first thing in `main`.
pub fn init() -> TelemetryGuard {
    let (filter, bad_filter) = log_filter(|var| std::env::var(var).ok());
    let provider = match std::env::var(ENV_OTLP_ENDPOINT) {
        Ok(endpoint) if !endpoint.trim().is_empty() => match otlp_provider() {
            Ok(provider) => Some(provider),
            Err(e) => {
                eprintln!(
                    "kong: {ENV_OTLP_ENDPOINT}={endpoint:?}: cannot export spans ({e}); continuing without"
                );
                None
            }
        },
        _ => None,
    };
    let subscriber = Registry::default()
        .with(log_layer(filter, std::io::stderr().is_terminal()))
        .with(provider.as_ref().map(span_layer));
    if let Err(e) = subscriber.try_init() {
        eprintln!("kong: telemetry not set up: {e}");
    }
    if let Some(problem) = bad_filter {
        tracing::warn!("{problem}; logging at {DEFAULT_LOG}");
    }
    TelemetryGuard { provider }
}

/// A subscriber that exports kong's spans to `exporter` as each one ends (no batching), and
/// logs nothing: for tests, with `tracing::subscriber::set_default` or `with_default`.
/// `flush` the guard (or drop it) before reading the exporter.
pub fn with_exporter<E>(exporter: E) -> (impl Subscriber + Send + Sync, TelemetryGuard)
where
    E: SpanExporter + 'static,
{
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .with_resource(resource())
        .build();
    let subscriber = Registry::default().with(span_layer(&provider));
    (
        subscriber,
        TelemetryGuard {
            provider: Some(provider),
        },
    )
}

fn resource() -> Resource {
    Resource::builder().with_service_name(SERVICE_NAME).build()
}

/// The OTLP/HTTP exporter, configured by the `OTEL_EXPORTER_OTLP_*` variables, batched on
/// the SDK's own thread (so export never blocks the executor's runtime).
fn otlp_provider() -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    use opentelemetry_otlp::WithExportConfig as _;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .build()?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource())
        .build())
}

/// kong's spans and events at `info` and above, into `provider`.
fn span_layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + use<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(SERVICE_NAME))
        .with_filter(Targets::new().with_target("kong", LevelFilter::INFO))
}

/// Human-readable logs on stderr; colours only on a terminal.
fn log_layer<S>(filter: EnvFilter, ansi: bool) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_filter(filter)
}

/// The stderr filter from `KONG_LOG`, else `RUST_LOG`, else [`DEFAULT_LOG`]; an unusable
/// value falls back to the default and says why.
fn log_filter(lookup: impl Fn(&str) -> Option<String>) -> (EnvFilter, Option<String>) {
    let chosen = [ENV_LOG, "RUST_LOG"].into_iter().find_map(|var| {
        lookup(var)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (var, v))
    });
    let Some((var, value)) = chosen else {
        return (EnvFilter::new(DEFAULT_LOG), None);
    };
    match EnvFilter::try_new(&value) {
        Ok(filter) => (filter, None),
        Err(e) => (
            EnvFilter::new(DEFAULT_LOG),
            Some(format!("{var}={value:?} is not a log filter ({e})")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(x, _)| *x == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn log_filter_defaults_to_warnings() {
        let (filter, problem) = log_filter(vars(&[]));
        assert_eq!(filter.to_string(), EnvFilter::new(DEFAULT_LOG).to_string());
        assert_eq!(problem, None);
    }

    #[test]
    fn kong_log_wins_over_rust_log() {
        let (filter, _) = log_filter(vars(&[("RUST_LOG", "debug"), (ENV_LOG, "kong=info")]));
        assert_eq!(filter.to_string(), "kong=info");
        let (filter, _) = log_filter(vars(&[("RUST_LOG", "debug")]));
        assert_eq!(filter.to_string(), "debug");
    }

    #[test]
    fn a_bad_filter_falls_back_to_warn_and_names_the_variable() {
        let (filter, problem) = log_filter(vars(&[(ENV_LOG, "kong=loud")]));
        assert_eq!(filter.to_string(), EnvFilter::new(DEFAULT_LOG).to_string());
        assert!(problem.unwrap().contains("KONG_LOG"));
    }
}
