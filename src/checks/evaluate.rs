//! Whether a fetched value satisfies a check's threshold: a pure predicate, no I/O.
//!
//! No data (a source error, NaN, infinity) fails. A ratio bound without a usable baseline
//! (not measured, 0, not finite) fails too: a check that cannot be evaluated never passes.

use super::CheckResult;
use crate::model::{Check, Threshold};

use super::{Scope, SourceError};

/// Evaluates `check` for `region` (`None`: global) on the value fetched, with the value
/// measured before the run as `baseline` (needed by ratio bounds only). Every bound set
/// must hold.
pub fn evaluate(
    check: &Check,
    scope: &Scope<'_>,
    value: Result<f64, SourceError>,
    baseline: Option<f64>,
) -> CheckResult {
    let threshold = &check.threshold;
    let mut result = CheckResult {
        name: check.name.clone(),
        region: scope.region.map(str::to_string),
        service: scope.service.map(str::to_string),
        value: None,
        threshold: render_threshold(threshold, baseline),
        ok: false,
        detail: None,
    };
    let value = match value {
        Ok(v) if v.is_finite() => v,
        Ok(v) => {
            result.detail = Some(format!("no data: the source returned {v}"));
            return result;
        }
        Err(e) => {
            result.detail = Some(format!("no data: {e}"));
            return result;
        }
    };
    result.value = Some(value);

    let mut breaches = Vec::new();
    if let Some(max) = threshold.max
        && value > max
    {
        breaches.push(format!("{} is above the maximum {max}", num(value)));
    }
    if let Some(min) = threshold.min
        && value < min
    {
        breaches.push(format!("{} is below the minimum {min}", num(value)));
    }
    if let Some(rise) = threshold.max_increase {
        match baseline {
            Some(base) if base.is_finite() => {
                if value - base > rise {
                    breaches.push(format!(
                        "{} rose {} above baseline {}, more than {rise}",
                        num(value),
                        num(value - base),
                        num(base)
                    ));
                }
            }
            _ => breaches.push("no baseline: the value before the run was not measured".into()),
        }
    }
    if threshold.min_ratio_to_baseline.is_some() || threshold.max_ratio_to_baseline.is_some() {
        match usable_baseline(baseline) {
            Err(why) => breaches.push(why),
            Ok(base) => {
                let ratio = value / base;
                if let Some(min) = threshold.min_ratio_to_baseline
                    && ratio < min
                {
                    breaches.push(format!(
                        "{} is {} x baseline {}, below {min}",
                        num(value),
                        num(ratio),
                        num(base)
                    ));
                }
                if let Some(max) = threshold.max_ratio_to_baseline
                    && ratio > max
                {
                    breaches.push(format!(
                        "{} is {} x baseline {}, above {max}",
                        num(value),
                        num(ratio),
                        num(base)
                    ));
                }
            }
        }
    }
    if breaches.is_empty() {
        result.ok = true;
    } else {
        result.detail = Some(breaches.join("; "));
    }
    result
}

fn usable_baseline(baseline: Option<f64>) -> Result<f64, String> {
    match baseline {
        None => Err("no baseline: the value before the run was not measured".to_string()),
        Some(b) if !b.is_finite() => Err(format!("no baseline: the value before the run was {b}")),
        Some(0.0) => {
            Err("baseline is 0: a ratio to the value before the run is undefined".to_string())
        }
        Some(b) => Ok(b),
    }
}

/// The threshold as people read it, e.g. `<= 250`, `>= 0.95 x baseline 1234.5`; bounds
/// joined by ` and `.
pub fn render_threshold(threshold: &Threshold, baseline: Option<f64>) -> String {
    let base = match baseline {
        Some(b) => num(b),
        None => "(not measured)".to_string(),
    };
    let mut parts = Vec::new();
    if let Some(max) = threshold.max {
        parts.push(format!("<= {max}"));
    }
    if let Some(min) = threshold.min {
        parts.push(format!(">= {min}"));
    }
    if let Some(r) = threshold.min_ratio_to_baseline {
        parts.push(format!(">= {r} x baseline {base}"));
    }
    if let Some(r) = threshold.max_ratio_to_baseline {
        parts.push(format!("<= {r} x baseline {base}"));
    }
    if let Some(r) = threshold.max_increase {
        parts.push(format!("<= baseline {base} + {r}"));
    }
    parts.join(" and ")
}

/// A measured number, short: integers as such, others with at most four decimals (or in
/// scientific notation when smaller than that shows).
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{v}");
    }
    if v.abs() < 1e-3 {
        return format!("{v:.3e}");
    }
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::{CheckSource, Per, SimMetric};

    fn check(threshold: Threshold) -> Check {
        Check {
            name: "p99".to_string(),
            source: CheckSource::Sim {
                metric: SimMetric::P99LatencyMs,
            },
            service: None,
            per: Per::Destination,
            threshold,
            consecutive: 1,
            interval: Duration::from_secs(10),
            timeout: std::time::Duration::from_secs(10),
        }
    }

    /// One bound of a threshold: how to set it, a (value, baseline) that passes and one that
    /// fails, and the threshold and detail the failure renders.
    struct Bound {
        set: fn(&mut Threshold),
        passes: (f64, Option<f64>),
        fails: (f64, Option<f64>),
        threshold: &'static str,
        detail: &'static str,
    }

    fn max(v: f64) -> Threshold {
        Threshold {
            max: Some(v),
            ..Threshold::default()
        }
    }

    #[test]
    fn max_passes_at_and_below_and_fails_above() {
        let c = check(max(250.0));
        let ok = evaluate(&c, &Scope::region(Some("us-west-2")), Ok(250.0), None);
        assert!(ok.ok);
        assert_eq!(ok.threshold, "<= 250");
        assert_eq!(ok.region.as_deref(), Some("us-west-2"));
        assert_eq!(ok.value, Some(250.0));
        assert_eq!(ok.detail, None);
        let bad = evaluate(&c, &Scope::region(Some("us-west-2")), Ok(320.5), None);
        assert!(!bad.ok);
        assert_eq!(
            bad.detail.as_deref(),
            Some("320.5 is above the maximum 250")
        );
    }

    #[test]
    fn each_bound_passes_inside_and_fails_outside() {
        // max_increase is an absolute rise over the baseline, even from zero.
        let cases: [Bound; 4] = [
            Bound {
                set: |t| t.max_increase = Some(0.01),
                passes: (0.005, Some(0.0)),
                fails: (0.02, Some(0.001)),
                threshold: "<= baseline 0.001 + 0.01",
                detail: "0.02 rose 0.019 above baseline 0.001, more than 0.01",
            },
            Bound {
                set: |t| t.min = Some(0.99),
                passes: (0.995, None),
                fails: (0.9, None),
                threshold: ">= 0.99",
                detail: "0.9 is below the minimum 0.99",
            },
            Bound {
                set: |t| t.min_ratio_to_baseline = Some(0.95),
                passes: (1200.0, Some(1234.5)),
                fails: (1000.0, Some(1234.5)),
                threshold: ">= 0.95 x baseline 1234.5",
                detail: "1000 is 0.81 x baseline 1234.5, below 0.95",
            },
            Bound {
                set: |t| t.max_ratio_to_baseline = Some(1.5),
                passes: (140.0, Some(100.0)),
                fails: (160.0, Some(100.0)),
                threshold: "<= 1.5 x baseline 100",
                detail: "160 is 1.6 x baseline 100, above 1.5",
            },
        ];
        for bound in cases {
            let mut t = Threshold::default();
            (bound.set)(&mut t);
            let c = check(t);
            let (value, baseline) = bound.passes;
            let passed = evaluate(&c, &Scope::default(), Ok(value), baseline);
            assert!(passed.ok, "{passed:?}");
            if baseline == bound.fails.1 {
                assert_eq!(passed.threshold, bound.threshold);
            }
            let (value, baseline) = bound.fails;
            let failed = evaluate(&c, &Scope::default(), Ok(value), baseline);
            assert!(!failed.ok, "{failed:?}");
            assert_eq!(failed.threshold, bound.threshold);
            assert_eq!(failed.region, None);
            assert_eq!(failed.detail.as_deref(), Some(bound.detail));
        }
        // Without a baseline a rise cannot be measured.
        let c = check(Threshold {
            max_increase: Some(0.01),
            ..Threshold::default()
        });
        assert!(!evaluate(&c, &Scope::default(), Ok(0.0), None).ok);
    }

    #[test]
    fn every_bound_must_hold() {
        let c = check(Threshold {
            max: Some(10.0),
            min: Some(5.0),
            ..Threshold::default()
        });
        assert_eq!(
            evaluate(&c, &Scope::default(), Ok(7.0), None).threshold,
            "<= 10 and >= 5"
        );
        assert!(evaluate(&c, &Scope::default(), Ok(7.0), None).ok);
        assert!(!evaluate(&c, &Scope::default(), Ok(4.0), None).ok);
        assert!(!evaluate(&c, &Scope::default(), Ok(11.0), None).ok);
    }

    #[test]
    fn ratio_without_usable_baseline_fails() {
        let c = check(Threshold {
            min_ratio_to_baseline: Some(0.95),
            ..Threshold::default()
        });
        let none = evaluate(&c, &Scope::default(), Ok(1.0), None);
        assert!(!none.ok);
        assert_eq!(none.threshold, ">= 0.95 x baseline (not measured)");
        assert!(none.detail.unwrap().contains("not measured"));
        let zero = evaluate(&c, &Scope::default(), Ok(1.0), Some(0.0));
        assert!(!zero.ok);
        assert!(zero.detail.unwrap().contains("baseline is 0"));
        assert!(!evaluate(&c, &Scope::default(), Ok(1.0), Some(f64::NAN)).ok);
    }

    #[test]
    fn no_data_is_not_a_pass() {
        let c = check(max(250.0));
        let err = evaluate(
            &c,
            &Scope::default(),
            Err(SourceError::new("connection refused")),
            None,
        );
        assert!(!err.ok);
        assert_eq!(err.value, None);
        assert_eq!(err.detail.as_deref(), Some("no data: connection refused"));
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let r = evaluate(&c, &Scope::default(), Ok(v), None);
            assert!(!r.ok);
            assert_eq!(r.value, None);
            assert!(r.detail.unwrap().starts_with("no data"));
        }
    }

    #[test]
    fn numbers_render_short() {
        assert_eq!(num(1234.5), "1234.5");
        assert_eq!(num(250.0), "250");
        assert_eq!(num(0.81000001), "0.81");
        assert_eq!(num(0.0001234), "1.234e-4");
    }
}
