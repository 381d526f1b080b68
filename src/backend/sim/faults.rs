//! Faults the simulator can inject, so tests and benches exercise slow, failing and
//! contended backends.
//!
//! Environment variables (read by [`SimFaults::from_env`]):
//! - `KONG_SIM_API_LATENCY_MS`: latency of every `apply`, in milliseconds.
//! - `KONG_SIM_READ_LATENCY_MS`: latency of every `read` and `wait_propagated`.
//! - `KONG_SIM_FAILURE_RATE`: probability in [0, 1] that an `apply` fails (transient).
//! - `KONG_SIM_FAIL_APPLIES`: the first N `apply` calls of the process fail (transient).
//! - `KONG_SIM_SEED`: seed of the failure draws (default 0), for reproducible runs.
//! - `KONG_SIM_IN_SERVICE_DELAY_MS`: time a raised Auto Scaling group takes to bring its new
//!   instances in service (default: at once).

use std::time::Duration;

use crate::model::MemberId;

/// `KONG_SIM_API_LATENCY_MS`.
pub const ENV_API_LATENCY_MS: &str = "KONG_SIM_API_LATENCY_MS";
/// `KONG_SIM_READ_LATENCY_MS`.
pub const ENV_READ_LATENCY_MS: &str = "KONG_SIM_READ_LATENCY_MS";
/// `KONG_SIM_FAILURE_RATE`.
pub const ENV_FAILURE_RATE: &str = "KONG_SIM_FAILURE_RATE";
/// `KONG_SIM_FAIL_APPLIES`.
pub const ENV_FAIL_APPLIES: &str = "KONG_SIM_FAIL_APPLIES";
/// `KONG_SIM_SEED`.
pub const ENV_SEED: &str = "KONG_SIM_SEED";
/// `KONG_SIM_IN_SERVICE_DELAY_MS`.
pub const ENV_IN_SERVICE_DELAY_MS: &str = "KONG_SIM_IN_SERVICE_DELAY_MS";

/// Every variable the simulator reads, so a test harness can clear them all and its list
/// never falls behind this module.
pub const ENV_VARS: [&str; 6] = [
    ENV_API_LATENCY_MS,
    ENV_READ_LATENCY_MS,
    ENV_FAILURE_RATE,
    ENV_FAIL_APPLIES,
    ENV_SEED,
    ENV_IN_SERVICE_DELAY_MS,
];

/// What the simulator injects. The default injects nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimFaults {
    /// Time every `apply` takes (slept on tokio's clock, so paused-time tests are instant).
    /// Only applies pay it by default, so a step costs one call's latency, as the bench
    /// assumes; set `read_latency` to make reads slow too.
    pub api_latency: Duration,
    /// Time every `read` and `wait_propagated` takes.
    pub read_latency: Duration,
    /// Probability that an `apply` fails with a transient error, changing nothing.
    pub failure_rate: f64,
    /// The first N `apply` calls fail with a transient error, changing nothing.
    pub fail_first_n_applies: u32,
    /// Seed of the failure draws.
    pub seed: u64,
    /// Someone else moves a dial right after kong applied it (read-back must catch it).
    pub tamper_after_apply: Option<Tamper>,
    /// Time a raised Auto Scaling group takes to bring its new instances in service.
    pub in_service_delay: Duration,
}

/// After an apply that touches `dial`, set `member` to `weight`, as another operator or
/// automation moving the same dial would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tamper {
    /// `service/dial`.
    pub dial: String,
    /// The member overwritten.
    pub member: MemberId,
    /// The weight it is set to (not validated: the other actor is not kong).
    pub weight: u32,
    /// How many applies of the dial are tampered with; then the tamper is spent.
    pub times: u32,
}

impl Tamper {
    /// Tampers with the next apply of `dial` only.
    pub fn once(dial: &str, member: &str, weight: u32) -> Tamper {
        Tamper {
            dial: dial.to_string(),
            member: member.to_string(),
            weight,
            times: 1,
        }
    }
}

/// An environment variable with a value the simulator cannot use.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{var}={value:?}: {expected}")]
pub struct FaultsError {
    /// The variable.
    pub var: &'static str,
    /// Its value.
    pub value: String,
    /// What was expected instead.
    pub expected: &'static str,
}

impl SimFaults {
    /// Faults configured by the `KONG_SIM_*` environment variables; unset means none.
    pub fn from_env() -> Result<SimFaults, FaultsError> {
        SimFaults::from_vars(|var| std::env::var(var).ok())
    }

    /// Faults from a variable lookup (testable without touching the process environment).
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<SimFaults, FaultsError> {
        fn parse<T: std::str::FromStr>(
            lookup: &impl Fn(&str) -> Option<String>,
            var: &'static str,
            expected: &'static str,
        ) -> Result<Option<T>, FaultsError> {
            match lookup(var) {
                None => Ok(None),
                Some(value) if value.trim().is_empty() => Ok(None),
                Some(value) => value.trim().parse().map(Some).map_err(|_| FaultsError {
                    var,
                    value,
                    expected,
                }),
            }
        }
        let ms = "a whole number of milliseconds";
        let mut faults = SimFaults::default();
        if let Some(v) = parse::<u64>(&lookup, ENV_API_LATENCY_MS, ms)? {
            faults.api_latency = Duration::from_millis(v);
        }
        if let Some(v) = parse::<u64>(&lookup, ENV_READ_LATENCY_MS, ms)? {
            faults.read_latency = Duration::from_millis(v);
        }
        if let Some(v) = parse::<u64>(&lookup, ENV_IN_SERVICE_DELAY_MS, ms)? {
            faults.in_service_delay = Duration::from_millis(v);
        }
        let rate = "a probability between 0 and 1";
        if let Some(v) = parse::<f64>(&lookup, ENV_FAILURE_RATE, rate)? {
            if !(0.0..=1.0).contains(&v) {
                return Err(FaultsError {
                    var: ENV_FAILURE_RATE,
                    value: v.to_string(),
                    expected: rate,
                });
            }
            faults.failure_rate = v;
        }
        let count = "a whole number of calls";
        if let Some(v) = parse::<u32>(&lookup, ENV_FAIL_APPLIES, count)? {
            faults.fail_first_n_applies = v;
        }
        if let Some(v) = parse::<u64>(&lookup, ENV_SEED, "a whole number")? {
            faults.seed = v;
        }
        Ok(faults)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| pairs.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn env_vars_lists_every_variable_the_simulator_reads() {
        let asked = std::sync::Mutex::new(Vec::new());
        SimFaults::from_vars(|var| {
            asked.lock().unwrap().push(var.to_string());
            None
        })
        .unwrap();
        let mut asked = asked.into_inner().unwrap();
        asked.sort();
        let mut listed = ENV_VARS.map(str::to_string).to_vec();
        listed.sort();
        assert_eq!(asked, listed);
    }

    #[test]
    fn unset_environment_injects_nothing() {
        assert_eq!(SimFaults::from_vars(vars(&[])), Ok(SimFaults::default()));
    }

    #[test]
    fn environment_sets_every_fault() {
        let faults = SimFaults::from_vars(vars(&[
            (ENV_API_LATENCY_MS, "20"),
            (ENV_READ_LATENCY_MS, "5"),
            (ENV_FAILURE_RATE, "0.25"),
            (ENV_FAIL_APPLIES, "3"),
            (ENV_SEED, "42"),
        ]))
        .unwrap();
        assert_eq!(faults.api_latency, Duration::from_millis(20));
        assert_eq!(faults.read_latency, Duration::from_millis(5));
        assert_eq!(faults.failure_rate, 0.25);
        assert_eq!(faults.fail_first_n_applies, 3);
        assert_eq!(faults.seed, 42);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = SimFaults::from_vars(vars(&[(ENV_FAILURE_RATE, "1.5")])).unwrap_err();
        assert_eq!(err.var, ENV_FAILURE_RATE);
        let err = SimFaults::from_vars(vars(&[(ENV_API_LATENCY_MS, "20ms")])).unwrap_err();
        assert!(err.to_string().contains("KONG_SIM_API_LATENCY_MS"), "{err}");
    }
}
