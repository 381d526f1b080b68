//! One AWS call seen from kong: a tracing span (service, operation, target, dials, attempt,
//! latency, request id, outcome), a count per operation, and the error sorted into
//! transient or permanent for the executor's retry policy.
//!
//! The SDK makes one attempt per call (see [`super::config`]), so `attempt` here is the
//! executor's: the number of consecutive failed calls of the same operation on the same
//! target, plus one.

use std::collections::{BTreeMap, HashMap};
use std::error::Error as StdError;
use std::future::Future;
use std::sync::Mutex;

use aws_sdk_route53::config::http::HttpResponse;
use aws_sdk_route53::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_route53::operation::RequestId;
use tracing::Instrument;

use crate::backend::BackendError;

/// Error codes that say "try again later", from Route 53, ELBv2 and the SDK's own list.
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "PriorRequestNotComplete",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalError",
    "InternalServiceError",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Error codes that mean the credentials are missing, wrong, expired or not allowed.
const CREDENTIAL_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "InvalidAccessKeyId",
    "ExpiredToken",
    "ExpiredTokenException",
];

/// What a call is, for its span and its error message.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// `route53` or `elasticloadbalancing`.
    pub service: &'static str,
    /// The API operation, e.g. `ChangeResourceRecordSets`.
    pub operation: &'static str,
    /// What it is applied to (hosted zone, listener or rule ARN, change id).
    pub target: &'a str,
    /// The kong dials concerned, comma-separated (may be empty).
    pub dials: &'a str,
}

/// Counts and observes every call of one backend.
#[derive(Debug, Default)]
pub struct CallLog {
    counts: Mutex<BTreeMap<String, u64>>,
    failing: Mutex<HashMap<String, u32>>,
    credentials: String,
}

impl CallLog {
    /// A log whose credential errors name `credentials` (a profile, or the default chain).
    pub fn new(credentials: String) -> CallLog {
        CallLog {
            credentials,
            ..CallLog::default()
        }
    }

    /// Calls made so far, per `service:operation`.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        lock(&self.counts).clone()
    }

    /// Awaits one SDK call inside its span, counts it and classifies its error.
    pub async fn run<T, E, Fut>(&self, call: Call<'_>, fut: Fut) -> Result<T, BackendError>
    where
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        T: RequestId,
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let key = format!("{}:{}:{}", call.service, call.operation, call.target);
        let attempt = 1 + lock(&self.failing).get(&key).copied().unwrap_or(0);
        let span = tracing::info_span!(
            "aws_call",
            service = call.service,
            operation = call.operation,
            target = call.target,
            dials = call.dials,
            attempt,
            latency_ms = tracing::field::Empty,
            request_id = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        let start = tokio::time::Instant::now();
        let result = fut.instrument(span.clone()).await;
        span.record("latency_ms", start.elapsed().as_millis() as u64);
        *lock(&self.counts)
            .entry(format!("{}:{}", call.service, call.operation))
            .or_default() += 1;
        match result {
            Ok(out) => {
                if let Some(id) = out.request_id() {
                    span.record("request_id", id);
                }
                span.record("outcome", "ok");
                // One line per call on stderr with KONG_LOG=kong::backend::aws=debug (the
                // span's fields ride along); exporters get the span itself.
                span.in_scope(|| tracing::debug!("aws call"));
                lock(&self.failing).remove(&key);
                Ok(out)
            }
            Err(err) => {
                if let Some(id) = err.request_id() {
                    span.record("request_id", id);
                }
                let error = classify(&call, &err, &self.credentials);
                span.record(
                    "outcome",
                    if error.is_transient() {
                        "transient error"
                    } else {
                        "error"
                    },
                );
                span.in_scope(|| tracing::debug!(%error, "aws call"));
                *lock(&self.failing).entry(key).or_default() += 1;
                Err(error)
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Sorts an SDK error into transient (throttling, 5xx, timeouts, connection failures) or
/// permanent (anything the same request will meet again), with a message naming the call and,
/// for credential problems, where the credentials came from.
pub fn classify<E>(
    call: &Call<'_>,
    err: &SdkError<E, HttpResponse>,
    credentials: &str,
) -> BackendError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let transient = |message: String| BackendError::transient(call.operation, call.target, message);
    let permanent = |message: String| BackendError::permanent(call.operation, call.target, message);
    match err {
        SdkError::ServiceError(ctx) => {
            let code = ctx.err().code().unwrap_or("");
            let message = ctx.err().message().unwrap_or("");
            let status = ctx.raw().status().as_u16();
            let text = if code.is_empty() {
                format!("HTTP {status}: {message}")
            } else {
                format!("{code} (HTTP {status}): {message}")
            };
            if TRANSIENT_CODES.contains(&code) || status >= 500 || status == 429 {
                transient(text)
            } else if CREDENTIAL_CODES.contains(&code) || status == 403 {
                permanent(format!(
                    "{text}; the credentials from {credentials} are missing, invalid or lack \
                     {}:{} (see ops/iam-policy.json)",
                    iam_prefix(call.service),
                    call.operation
                ))
            } else {
                permanent(text)
            }
        }
        SdkError::TimeoutError(_) => transient(format!("timed out: {}", chain(err))),
        SdkError::ResponseError(_) => transient(format!("unreadable response: {}", chain(err))),
        SdkError::DispatchFailure(failure) => {
            let text = chain(err);
            // Credential resolution fails before anything is sent, and surfaces here.
            if failure.is_other() && text.to_ascii_lowercase().contains("credential") {
                permanent(format!(
                    "no usable AWS credentials from {credentials}: {text}"
                ))
            } else {
                transient(format!("request not delivered: {text}"))
            }
        }
        _ => permanent(DisplayErrorContext(err).to_string()),
    }
}

/// An error and its sources, one sentence (the SDK's `Debug` forms are for developers).
fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

/// The IAM action prefix of a service.
fn iam_prefix(service: &str) -> &str {
    match service {
        "route53" => "route53",
        "autoscaling" => "autoscaling",
        "dynamodb" => "dynamodb",
        _ => "elasticloadbalancing",
    }
}

/// The values of concurrent calls, or one error naming every failure: permanent if any
/// failure is (retrying cannot help then), transient otherwise.
///
/// Concurrent calls are all awaited rather than cancelled at the first error, so that a retry
/// of the whole read repeats the same calls and the error names every target that failed.
pub fn all_ok<T>(results: Vec<Result<T, BackendError>>) -> Result<Vec<T>, BackendError> {
    let mut values = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(v) => values.push(v),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        return Ok(values);
    }
    let pick = errors.iter().position(|e| !e.is_transient()).unwrap_or(0);
    let mut first = errors.swap_remove(pick);
    if errors.is_empty() {
        return Err(first);
    }
    let others = errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    let (BackendError::Transient { message, .. } | BackendError::Permanent { message, .. }) =
        &mut first;
    message.push_str("; also: ");
    message.push_str(&others);
    Err(first)
}

#[cfg(test)]
mod tests {
    use aws_sdk_route53::operation::list_resource_record_sets::ListResourceRecordSetsError;
    use aws_smithy_runtime_api::client::result::{ConnectorError, SdkError as RawSdkError};
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    const CALL: Call<'static> = Call {
        service: "route53",
        operation: "ListResourceRecordSets",
        target: "hosted zone Z1",
        dials: "svc/dns",
    };

    fn service_error(
        code: &str,
        status: u16,
    ) -> SdkError<ListResourceRecordSetsError, HttpResponse> {
        let err = ListResourceRecordSetsError::generic(
            ErrorMetadata::builder().code(code).message("m").build(),
        );
        let raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        RawSdkError::service_error(err, raw)
    }

    #[test]
    fn throttling_and_server_errors_are_transient() {
        for (code, status) in [
            ("Throttling", 400),
            ("PriorRequestNotComplete", 400),
            ("InternalFailure", 500),
            ("", 503),
            ("SlowDown", 429),
        ] {
            let e = classify(&CALL, &service_error(code, status), "the default chain");
            assert!(e.is_transient(), "{code} {status}: {e}");
        }
    }

    #[test]
    fn missing_resources_and_bad_requests_are_permanent() {
        for code in ["NoSuchHostedZone", "InvalidChangeBatch", "InvalidInput"] {
            let e = classify(&CALL, &service_error(code, 400), "the default chain");
            assert!(!e.is_transient(), "{code}: {e}");
            assert!(
                e.to_string().contains(code) && e.to_string().contains("Z1"),
                "{e}"
            );
        }
    }

    #[test]
    fn access_denied_names_the_profile_and_the_permission() {
        let e = classify(&CALL, &service_error("AccessDenied", 403), "profile `prod`");
        assert!(!e.is_transient());
        let text = e.to_string();
        assert!(text.contains("profile `prod`"), "{text}");
        assert!(text.contains("route53:ListResourceRecordSets"), "{text}");
    }

    #[test]
    fn undelivered_requests_are_transient_but_missing_credentials_are_not() {
        let io: SdkError<ListResourceRecordSetsError, HttpResponse> =
            RawSdkError::dispatch_failure(ConnectorError::io("connection reset".into()));
        assert!(classify(&CALL, &io, "x").is_transient());
        let creds: SdkError<ListResourceRecordSetsError, HttpResponse> =
            RawSdkError::dispatch_failure(ConnectorError::other(
                "no providers in chain provided credentials".into(),
                None,
            ));
        let e = classify(&CALL, &creds, "profile `nosuch`");
        assert!(!e.is_transient(), "{e}");
        assert!(e.to_string().contains("profile `nosuch`"), "{e}");
    }

    #[test]
    fn all_ok_reports_every_failure_and_prefers_permanent() {
        let t = |m: &str| BackendError::Transient {
            operation: "op".into(),
            target: m.into(),
            message: m.into(),
        };
        let p = BackendError::Permanent {
            operation: "op".into(),
            target: "p".into(),
            message: "gone".into(),
        };
        assert_eq!(all_ok(vec![Ok(1), Ok(2)]).unwrap(), [1, 2]);
        let e = all_ok::<u8>(vec![Err(t("a")), Err(t("b"))]).unwrap_err();
        assert!(
            e.is_transient() && e.to_string().contains("also: op on b"),
            "{e}"
        );
        let e = all_ok::<u8>(vec![Err(t("a")), Err(p)]).unwrap_err();
        assert!(!e.is_transient() && e.to_string().contains("gone"), "{e}");
    }
}
