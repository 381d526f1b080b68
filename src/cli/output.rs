//! Output helpers shared by the commands and the progress display.

use crate::journal::CheckResult;

/// One check result for people, without its verdict: `p99 @us-west-2 for api: 212.0000 vs
/// <= 250 (detail)`; the progress line and the report put `ok`/`FAILED` or a mark before it.
pub fn check_line(c: &CheckResult) -> String {
    let value = c
        .value
        .map(|v| format!("{v:.4}"))
        .unwrap_or_else(|| "no data".to_string());
    let mut scope = c
        .region
        .as_deref()
        .map(|r| format!(" @{r}"))
        .unwrap_or_default();
    if let Some(service) = &c.service {
        scope.push_str(&format!(" for {service}"));
    }
    let detail = c
        .detail
        .as_deref()
        .map(|d| format!(" ({d})"))
        .unwrap_or_default();
    format!("{}{scope}: {value} vs {}{detail}", c.name, c.threshold)
}
