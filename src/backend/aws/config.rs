//! AWS settings from the command line, and the SDK configuration built from them.
//!
//! Credentials come from the standard chain (environment, profile, SSO, IMDS) through
//! `aws-config`. The SDK's own retries are disabled: the executor retries transient errors
//! with its back-off policy and counts every attempt as an API call, and retrying inside the
//! SDK as well would multiply the attempts (3 × 5) and hide them from the journal.

use std::time::Duration;

use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

/// Route 53 is a global service whose API lives in us-east-1.
pub const ROUTE53_REGION: &str = "us-east-1";

/// What the command line says about reaching AWS.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsSettings {
    /// One endpoint for every service (a local emulator such as moto); `None` for AWS.
    pub endpoint_url: Option<String>,
    /// The named profile of the shared config files; `None` for the default chain.
    pub profile: Option<String>,
    /// Region used when neither the environment nor the profile names one.
    pub default_region: String,
    /// Client-side ceiling of Route 53 requests per second (the account's API rate).
    pub route53_rate: f64,
    /// Time allowed for one attempt of one call (connect, send, answer).
    pub call_timeout: Duration,
    /// How long `GetChange` is polled for `INSYNC` before giving up.
    pub sync_timeout: Duration,
}

impl Default for AwsSettings {
    fn default() -> Self {
        AwsSettings {
            endpoint_url: None,
            profile: None,
            default_region: "us-east-1".to_string(),
            route53_rate: 5.0,
            call_timeout: Duration::from_secs(20),
            sync_timeout: Duration::from_secs(600),
        }
    }
}

impl AwsSettings {
    /// How the credentials are found, for error messages: the profile or the default chain.
    pub fn credentials_hint(&self) -> String {
        match &self.profile {
            Some(p) => format!("profile `{p}`"),
            None => {
                "the default credential chain (AWS_PROFILE, environment, SSO, IMDS)".to_string()
            }
        }
    }
}

/// Loads the shared SDK configuration: region, credentials, endpoint, timeouts, no retries.
pub async fn load(settings: &AwsSettings) -> SdkConfig {
    let mut profile_region = aws_config::profile::ProfileFileRegionProvider::builder();
    if let Some(profile) = &settings.profile {
        profile_region = profile_region.profile_name(profile);
    }
    // No IMDS lookup for the region: Route 53 is global and every ALB dial names its own
    // region, so the default only matters for the credential chain; a laptop should not wait
    // for an instance-metadata timeout.
    let region = RegionProviderChain::first_try(
        aws_config::environment::EnvironmentVariableRegionProvider::new(),
    )
    .or_else(profile_region.build())
    .or_else(Region::new(settings.default_region.clone()));
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5).min(settings.call_timeout))
                .operation_attempt_timeout(settings.call_timeout)
                .build(),
        );
    if let Some(profile) = &settings.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}
