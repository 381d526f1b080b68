//! `notify:` (playbook or topology): the webhooks runs are announced to.
//!
//! A webhook URL is a secret (a Slack incoming-webhook URL is a bearer token): it is never
//! printed, logged, serialized or put in a diagnostic's snippet. Everything names a webhook by
//! its host only ([`SecretUrl`]'s `Debug` and `Serialize` show the host).

use std::time::Duration;

use serde::Serialize;

use super::decode::Ctx;
use super::node::{Node, shorten};

const WEBHOOK_KEYS: &[&str] = &["url", "url_env", "format", "timeout"];
const FORMATS: &[&str] = &["slack", "json"];

/// One webhook to announce runs to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Webhook {
    /// The body's shape.
    pub format: WebhookFormat,
    /// Where to post.
    pub url: WebhookUrl,
    /// How long one delivery may take before it is given up (default 5 s).
    #[serde(serialize_with = "secs")]
    pub timeout: Duration,
}

impl Webhook {
    /// The default delivery timeout.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

    /// The webhook's name in output: its host, or the environment variable holding its URL.
    pub fn name(&self) -> String {
        match &self.url {
            WebhookUrl::Literal(url) => url.host().to_string(),
            WebhookUrl::Env(var) => format!("${var}"),
        }
    }
}

/// The body's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// Slack-compatible: `{"text": "..."}` (Slack, Mattermost, Rocket.Chat, Teams workflows).
    Slack,
    /// The event as a JSON object.
    Json,
}

/// Where a webhook's URL comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookUrl {
    /// Written in the file (`url:`).
    Literal(SecretUrl),
    /// Read from this environment variable when a run starts (`url_env:`), e.g. set from a
    /// Kubernetes Secret, so the URL stays out of the files.
    Env(String),
}

/// An http(s) URL that is shown by its host only.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl {
    url: String,
    host: String,
}

impl SecretUrl {
    /// Checks that `url` is an absolute http or https URL with a host; the error never
    /// repeats the URL.
    pub fn parse(url: &str) -> Result<SecretUrl, String> {
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or("expected an http:// or https:// URL")?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host_port = authority.rsplit('@').next().unwrap_or("");
        let host = match host_port.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => host_port.split(':').next().unwrap_or(""),
        };
        if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("expected an http:// or https:// URL with a host".to_string());
        }
        Ok(SecretUrl {
            url: url.to_string(),
            host: host.to_string(),
        })
    }

    /// The host, the only part ever shown.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The whole URL, for the HTTP client only.
    pub fn expose(&self) -> &str {
        &self.url
    }
}

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretUrl({})", self.host)
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.host)
    }
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Decodes `notify: [{url | url_env, format, timeout}, ...]`.
pub(crate) fn decode(ctx: &mut Ctx, node: &Node) -> Option<Vec<Webhook>> {
    let items = ctx.list(node, "notify")?;
    let decoded: Vec<Option<Webhook>> = items
        .iter()
        .enumerate()
        .map(|(i, item)| webhook(ctx, item, i))
        .collect();
    decoded.into_iter().collect()
}

fn webhook(ctx: &mut Ctx, node: &Node, index: usize) -> Option<Webhook> {
    let what = format!("notify webhook #{}", index + 1);
    let fields = ctx.fields(node, node.pos, &what, WEBHOOK_KEYS)?;
    let url = match (fields.get("url"), fields.get("url_env")) {
        (Some(n), None) => {
            // The snippet under a diagnostic would print the URL: hide its line.
            ctx.hide_line(n.pos);
            let text = ctx.non_empty(n, &format!("url of {what}"))?;
            match SecretUrl::parse(text.trim()) {
                Ok(url) => Some(WebhookUrl::Literal(url)),
                Err(e) => {
                    ctx.error(n.pos, format!("invalid url of {what} (not shown): {e}"));
                    None
                }
            }
        }
        (None, Some(n)) => {
            let var = ctx.non_empty(n, &format!("url_env of {what}"))?;
            let valid = var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !var.starts_with(|c: char| c.is_ascii_digit());
            if valid {
                Some(WebhookUrl::Env(var))
            } else {
                ctx.error(
                    n.pos,
                    format!(
                        "invalid url_env `{}` of {what}: expected an environment variable name like SLACK_WEBHOOK_URL",
                        shorten(&var)
                    ),
                );
                None
            }
        }
        (Some(n), Some(_)) => {
            ctx.hide_line(n.pos);
            ctx.error(
                n.pos,
                format!("{what} sets both `url` and `url_env`: keep one"),
            );
            None
        }
        (None, None) => {
            ctx.error(
                fields.anchor,
                format!("missing key `url` (or `url_env`) in {what}"),
            );
            None
        }
    };
    let format = match fields.get("format") {
        Some(n) => ctx
            .string(n, &format!("format of {what}"))
            .and_then(|s| match s.as_str() {
                "slack" => Some(WebhookFormat::Slack),
                "json" => Some(WebhookFormat::Json),
                other => {
                    let hint = ctx.suggest(other, FORMATS.iter().copied());
                    ctx.error(
                        n.pos,
                        format!(
                            "unknown format `{}` of {what}, expected one of: {}{hint}",
                            shorten(other),
                            FORMATS.join(", ")
                        ),
                    );
                    None
                }
            }),
        None => Some(WebhookFormat::Json),
    };
    let timeout = match fields.get("timeout") {
        Some(n) => ctx.positive_duration(n, &format!("timeout of {what}"), ", e.g. 5s"),
        None => Some(Webhook::DEFAULT_TIMEOUT),
    };
    Some(Webhook {
        format: format?,
        url: url?,
        timeout: timeout?,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::{parse_playbook, parse_topology};

    const BASE: &str = "name: p\nsteps: [50, 100]\n";

    #[test]
    fn webhooks_decode_with_defaults() {
        let p = parse_playbook(
            "p.yaml",
            &format!(
                "{BASE}notify:
  - {{url: \"https://hooks.slack.com/services/T0/B0/SECRET\", format: slack}}
  - {{url_env: OPS_HOOK, timeout: 2s}}
"
            ),
            None,
        )
        .unwrap();
        assert_eq!(p.notify.len(), 2);
        assert_eq!(p.notify[0].format, WebhookFormat::Slack);
        assert_eq!(p.notify[0].name(), "hooks.slack.com");
        assert_eq!(p.notify[0].timeout, Webhook::DEFAULT_TIMEOUT);
        assert_eq!(p.notify[1].format, WebhookFormat::Json);
        assert_eq!(p.notify[1].name(), "$OPS_HOOK");
        assert_eq!(p.notify[1].timeout, Duration::from_secs(2));
        // Debug output (logs, panics) names the host only.
        assert!(!format!("{:?}", p.notify).contains("SECRET"));
    }

    #[test]
    fn a_bad_webhook_is_an_error_that_never_shows_the_url() {
        let text = format!(
            "{BASE}notify:
  - {{url: \"hxxps://hooks.example.com/SECRET\", format: slak}}
  - {{format: json}}
  - {{url: \"https://a.example.com/SECRET\", url_env: X}}
  - {{url_env: \"1BAD\", timeout: 0s}}
"
        );
        let d = parse_playbook("p.yaml", &text, None).unwrap_err();
        let messages: Vec<String> = d.0.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "p.yaml:4:11: invalid url of notify webhook #1 (not shown): expected an http:// or https:// URL",
                "p.yaml:4:55: unknown format `slak` of notify webhook #1, expected one of: slack, json (did you mean `slack`?)",
                "p.yaml:5:5: missing key `url` (or `url_env`) in notify webhook #2",
                "p.yaml:6:11: notify webhook #3 sets both `url` and `url_env`: keep one",
                "p.yaml:7:15: invalid url_env `1BAD` of notify webhook #4: expected an environment variable name like SLACK_WEBHOOK_URL",
                "p.yaml:7:32: timeout of notify webhook #4 is 0s: expected a positive duration, e.g. 5s",
            ]
        );
        let rendered = d.to_string();
        assert!(!rendered.contains("SECRET"), "{rendered}");
    }

    #[test]
    fn the_topology_may_list_webhooks_too() {
        let t = parse_topology(
            "t.yaml",
            "name: t
regions: [a, b]
max_utilization: 0.8
notify: [{url: \"http://10.0.0.1:8080/kong\"}]
services:
  s:
    capacity: {a: 10, b: 10}
    load: {a: 1, b: 1}
    dials: [{id: d, sim: {}}]
",
        )
        .unwrap();
        assert_eq!(t.notify[0].name(), "10.0.0.1");
    }
}
