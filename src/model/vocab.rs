//! The vocabulary every layer shares: dial names, weights, shares and the operation.
//!
//! Defined once here, below the planner, the backends, the journal and the executor, so that
//! none of them has to import another for a type.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Dial, MemberId, Region, Service, Topology};

/// Member weights of one dial: member -> weight.
pub type DialWeights = BTreeMap<MemberId, u32>;

/// Weights of dials: `service/dial` -> member -> weight.
pub type Weights = BTreeMap<String, DialWeights>;

/// Served shares: service -> region -> share in [0, 1].
pub type Shares = BTreeMap<String, BTreeMap<Region, f64>>;

/// What a plan does to its region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// Move traffic away from the region.
    Evacuate,
    /// Bring traffic back to the region's baseline.
    Restore,
}

impl Operation {
    /// `evacuate` or `restore`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Evacuate => "evacuate",
            Operation::Restore => "restore",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name of one dial: its service and its id, written `service/dial` everywhere in
/// output and state (e.g. `edge-api/dns`). Serialized as that string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DialRef {
    /// The service the dial belongs to.
    pub service: String,
    /// The dial's id within the service.
    pub dial: String,
}

impl DialRef {
    /// The dial `dial` of `service`.
    pub fn new(service: impl Into<String>, dial: impl Into<String>) -> Self {
        DialRef {
            service: service.into(),
            dial: dial.into(),
        }
    }

    /// Splits `service/dial` at its first `/`; `None` without one.
    pub fn parse(s: &str) -> Option<Self> {
        s.split_once('/')
            .map(|(service, dial)| DialRef::new(service, dial))
    }
}

impl fmt::Display for DialRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.service, self.dial)
    }
}

/// A string that is not `service/dial`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a dial name (expected service/dial)")]
pub struct NotADialRef(pub String);

impl FromStr for DialRef {
    type Err = NotADialRef;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DialRef::parse(s).ok_or_else(|| NotADialRef(s.to_string()))
    }
}

impl Serialize for DialRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DialRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// `service/dial`, the name of a dial everywhere in output and state (e.g. `edge-api/dns`).
pub fn dial_ref(service: &str, dial: &str) -> String {
    DialRef::new(service, dial).to_string()
}

impl Topology {
    /// The service and dial a `service/dial` name designates, if the topology has them.
    pub fn find_dial(&self, dial_ref: &str) -> Option<(&Service, &Dial)> {
        let DialRef { service, dial } = DialRef::parse(dial_ref)?;
        let service = self.services.get(&service)?;
        let dial = service.dials.iter().find(|d| d.id == dial)?;
        Some((service, dial))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dial_ref_reads_and_writes_service_slash_dial() {
        let r: DialRef = "edge-api/dns".parse().unwrap();
        assert_eq!(r, DialRef::new("edge-api", "dns"));
        assert_eq!(r.to_string(), "edge-api/dns");
        assert_eq!(dial_ref("edge-api", "dns"), "edge-api/dns");
        assert_eq!(
            "no-slash".parse::<DialRef>(),
            Err(NotADialRef("no-slash".to_string()))
        );
    }

    #[test]
    fn a_dial_ref_is_the_same_string_in_json() {
        let r = DialRef::new("svc", "lb");
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, r#""svc/lb""#);
        assert_eq!(serde_json::from_str::<DialRef>(&json).unwrap(), r);
        assert!(serde_json::from_str::<DialRef>(r#""svc""#).is_err());
    }
}
