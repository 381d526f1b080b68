//! Topology and playbook: file formats, loading, validation with diagnostics, and the
//! validated types every other module consumes.
//!
//! Loading never panics on any input and reports every problem of a file at once, each at
//! its line and column.

mod abort;
mod decode;
mod dependencies;
mod diagnostic;
mod dials;
mod duration;
mod load;
mod node;
mod playbook;
mod schedule;
mod topology;
mod types;
mod vocab;
mod webhooks;

pub use abort::{Abort, AbortKind};
pub use diagnostic::{Diagnostic, Diagnostics};
pub use duration::{format_duration, parse_duration};
pub use load::{load_playbook, load_topology, parse_playbook, parse_topology};
pub use schedule::{
    DAYS, Freeze, Schedule, Window, Zone, day_name, fmt_minutes, parse_hours, weekday, zone,
};
pub use types::*;
pub use vocab::*;
pub use webhooks::{SecretUrl, Webhook, WebhookFormat, WebhookUrl};

#[cfg(test)]
mod tests;
