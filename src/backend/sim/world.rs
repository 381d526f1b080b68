//! The simulator's world: the weights of every dial, persisted in the state dir.
//!
//! Capacity and load are not stored: they come from the topology every time, so editing the
//! topology changes the simulated regions; only a region bound to an Auto Scaling group takes
//! its capacity from the group's in-service instances, which the world holds.
//!
//! The file `<state_dir>/sim/<topology>.json` is replaced atomically (temp file, fsync,
//! rename, fsync of the directory): a process killed at any instant leaves either the old
//! world or the new one on disk, never a torn file.
//! Existing weights are never reset silently; a world is only reconciled with the dials and
//! members the topology gained or lost since it was written.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::{Topology, Weights};
use crate::plan::initial_weights;

/// The version of the file format written by this kong.
pub const WORLD_FORMAT: u32 = 1;

/// The simulated world of one topology.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimWorld {
    /// File format version ([`WORLD_FORMAT`]).
    pub format: u32,
    /// The topology this world simulates.
    pub topology_name: String,
    /// Current weights of every dial: `service/dial` -> member -> weight.
    pub weights: Weights,
    /// Number of successful `apply` calls since the world was created.
    pub api_calls: u64,
    /// Auto Scaling groups the topology binds, by `region/group` (absent in worlds written
    /// before groups were simulated: reconciling adds them).
    #[serde(default)]
    pub groups: BTreeMap<String, SimGroup>,
}

/// A simulated Auto Scaling group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimGroup {
    /// Desired capacity.
    pub desired: u32,
    /// Minimum size.
    pub min: u32,
    /// Maximum size.
    pub max: u32,
    /// Instances in service.
    pub in_service: u32,
}

impl SimGroup {
    /// A group sized for the declared capacity: `ceil(capacity / per_instance)` instances in
    /// service (at least 1), room for twice as many.
    pub fn for_capacity(capacity: f64, per_instance: f64) -> SimGroup {
        let n = if per_instance > 0.0 && capacity.is_finite() {
            (capacity / per_instance).ceil().max(1.0) as u32
        } else {
            1
        };
        SimGroup {
            desired: n,
            min: 1.min(n),
            max: n.saturating_mul(2),
            in_service: n,
        }
    }
}

/// `region/group`, the key of a group in [`SimWorld::groups`].
pub fn group_key(region: &str, group: &str) -> String {
    format!("{region}/{group}")
}

/// The groups a fresh world starts with: one per `autoscaling` binding of the topology.
pub fn initial_groups(topology: &Topology) -> BTreeMap<String, SimGroup> {
    let mut out = BTreeMap::new();
    for service in topology.services.values() {
        for (region, binding) in &service.autoscaling {
            let capacity = service.capacity.get(region).copied().unwrap_or(0.0);
            out.entry(group_key(region, &binding.group))
                .or_insert_with(|| SimGroup::for_capacity(capacity, binding.per_instance));
        }
    }
    out
}

/// Why the world could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    /// The file exists but cannot be read.
    #[error("cannot read simulator state {}: {source}", path.display())]
    Read {
        /// The state file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file is not a simulator world.
    #[error(
        "simulator state {} is corrupt ({source}); move it aside to restart the simulator \
         from the topology's initial weights",
        path.display()
    )]
    Corrupt {
        /// The state file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The file was written by a newer kong, or for another topology.
    #[error("simulator state {} does not fit: {message}", path.display())]
    Mismatch {
        /// The state file.
        path: PathBuf,
        /// What does not fit.
        message: String,
    },
    /// The file cannot be written.
    #[error("cannot write simulator state {}: {source}", path.display())]
    Write {
        /// The state file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

impl SimWorld {
    /// A fresh world: the topology's initial weights (SPEC "Backends").
    pub fn initial(topology: &Topology) -> SimWorld {
        SimWorld {
            format: WORLD_FORMAT,
            topology_name: topology.name.clone(),
            weights: initial_weights(topology),
            api_calls: 0,
            groups: initial_groups(topology),
        }
    }

    /// A fresh world that is never written to disk (tests, benches).
    pub fn in_memory(topology: &Topology) -> SimWorld {
        SimWorld::initial(topology)
    }

    /// Where the world of `topology_name` lives under `state_dir`.
    pub fn path(state_dir: &Path, topology_name: &str) -> PathBuf {
        let file: String = topology_name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        state_dir.join("sim").join(format!("{file}.json"))
    }

    /// Loads the world at `path`; `Ok(None)` when there is no file.
    pub fn load(path: &Path, topology: &Topology) -> Result<Option<SimWorld>, WorldError> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(WorldError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let world: SimWorld =
            serde_json::from_slice(&bytes).map_err(|source| WorldError::Corrupt {
                path: path.to_path_buf(),
                source,
            })?;
        if world.format > WORLD_FORMAT {
            return Err(WorldError::Mismatch {
                path: path.to_path_buf(),
                message: format!(
                    "format {} was written by a newer kong (this one reads {WORLD_FORMAT})",
                    world.format
                ),
            });
        }
        if world.topology_name != topology.name {
            return Err(WorldError::Mismatch {
                path: path.to_path_buf(),
                message: format!(
                    "it simulates topology `{}`, not `{}`",
                    world.topology_name, topology.name
                ),
            });
        }
        Ok(Some(world))
    }

    /// Loads the world of `topology` from `state_dir` and reconciles it with the topology
    /// (logging what changed), or starts from the initial weights when there is none.
    /// Writes nothing.
    pub fn load_or_init(state_dir: &Path, topology: &Topology) -> Result<SimWorld, WorldError> {
        let path = SimWorld::path(state_dir, &topology.name);
        match SimWorld::load(&path, topology)? {
            Some(mut world) => {
                for note in world.reconcile(topology) {
                    tracing::warn!(path = %path.display(), "simulator: {note}");
                }
                Ok(world)
            }
            None => Ok(SimWorld::initial(topology)),
        }
    }

    /// Brings the world in line with the topology's dials and members, keeping every
    /// existing weight: a dial or member the topology gained gets its initial weight, one it
    /// lost is dropped. Returns what changed, for people.
    pub fn reconcile(&mut self, topology: &Topology) -> Vec<String> {
        let initial = initial_weights(topology);
        let mut notes = Vec::new();
        let groups = initial_groups(topology);
        self.groups.retain(|key, _| {
            let keep = groups.contains_key(key);
            if !keep {
                notes.push(format!(
                    "dropped Auto Scaling group {key}: no longer in the topology"
                ));
            }
            keep
        });
        for (key, group) in groups {
            if let std::collections::btree_map::Entry::Vacant(slot) = self.groups.entry(key) {
                notes.push(format!(
                    "added Auto Scaling group {} with {} instances",
                    slot.key(),
                    group.desired
                ));
                slot.insert(group);
            }
        }
        let known = crate::backend::all_dials(topology);
        self.weights.retain(|dial, _| {
            let keep = known.contains(dial);
            if !keep {
                notes.push(format!("dropped dial {dial}: no longer in the topology"));
            }
            keep
        });
        for (dial, start) in initial {
            match self.weights.get_mut(&dial) {
                None => {
                    notes.push(format!("added dial {dial} with its initial weights"));
                    self.weights.insert(dial, start);
                }
                Some(current) => {
                    current.retain(|member, _| {
                        let keep = start.contains_key(member);
                        if !keep {
                            notes.push(format!(
                                "dropped member {member} of dial {dial}: no longer in the topology"
                            ));
                        }
                        keep
                    });
                    for (member, weight) in start {
                        if let std::collections::btree_map::Entry::Vacant(slot) =
                            current.entry(member)
                        {
                            notes.push(format!(
                                "added member {} of dial {dial} with initial weight {weight}",
                                slot.key()
                            ));
                            slot.insert(weight);
                        }
                    }
                    if !current.is_empty() && current.values().all(|w| *w == 0) {
                        notes.push(format!(
                            "dial {dial} has every member at 0: traffic spreads evenly over them"
                        ));
                    }
                }
            }
        }
        notes
    }

    /// `topology` as the simulator serves it: the capacity of every region bound to an Auto
    /// Scaling group is the group's in-service instances x `per_instance`, so that scaling a
    /// group changes what its region can take.
    pub fn serving<'t>(&self, topology: &'t Topology) -> std::borrow::Cow<'t, Topology> {
        if self.groups.is_empty() {
            return std::borrow::Cow::Borrowed(topology);
        }
        let mut out = topology.clone();
        for service in out.services.values_mut() {
            for (region, binding) in &service.autoscaling {
                if let Some(group) = self.groups.get(&group_key(region, &binding.group)) {
                    service.capacity.insert(
                        region.clone(),
                        f64::from(group.in_service) * binding.per_instance,
                    );
                }
            }
        }
        std::borrow::Cow::Owned(out)
    }

    /// Writes the world to `path` atomically; see the module docs.
    pub fn save(&self, path: &Path) -> Result<(), WorldError> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| WorldError::Write {
            path: path.to_path_buf(),
            source: io::Error::other(e),
        })?;
        crate::fsutil::write_atomic(path, &bytes).map_err(|source| WorldError::Write {
            path: path.to_path_buf(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Dial, DialKind};
    use crate::testing::streaming;

    #[test]
    fn load_or_init_starts_from_initial_weights_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let topology = streaming();
        let world = SimWorld::load_or_init(dir.path(), &topology).unwrap();
        assert_eq!(world, SimWorld::initial(&topology));
        assert!(!SimWorld::path(dir.path(), "streaming").exists());
    }

    #[test]
    fn saved_world_loads_back_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let topology = streaming();
        let mut world = SimWorld::initial(&topology);
        world
            .weights
            .get_mut("edge-api/dns")
            .unwrap()
            .insert("use1".into(), 0);
        world.api_calls = 7;
        let path = SimWorld::path(dir.path(), &topology.name);
        world.save(&path).unwrap();
        assert_eq!(path, dir.path().join("sim/streaming.json"));
        assert_eq!(
            SimWorld::load_or_init(dir.path(), &topology).unwrap(),
            world
        );
        // No temp file is left behind.
        let entries: Vec<_> = fs::read_dir(dir.path().join("sim")).unwrap().collect();
        assert_eq!(entries.len(), 1);
    }

    #[test]
    fn reconcile_keeps_existing_weights_and_follows_topology_changes() {
        let mut topology = streaming();
        let mut world = SimWorld::initial(&topology);
        world
            .weights
            .get_mut("edge-api/dns")
            .unwrap()
            .insert("use1".into(), 0);

        // The topology loses a dial and a member, and gains a dial and a member.
        let edge = topology.services.get_mut("edge-api").unwrap();
        edge.dials.retain(|d| d.id != "alb-use1");
        edge.dials[0].members.remove("euw1");
        edge.dials[0]
            .members
            .insert("usw2b".into(), "us-west-2".into());
        let catalog = topology.services.get_mut("catalog").unwrap();
        catalog.dials.push(Dial {
            id: "extra".into(),
            kind: DialKind::Sim,
            members: [("a".to_string(), "us-east-1".to_string())].into(),
        });

        let notes = world.reconcile(&topology);
        assert_eq!(notes.len(), 4, "{notes:?}");
        assert!(!world.weights.contains_key("edge-api/alb-use1"));
        let dns = &world.weights["edge-api/dns"];
        assert_eq!(dns.get("use1"), Some(&0), "existing weight kept");
        assert!(!dns.contains_key("euw1"));
        assert_eq!(
            dns.get("usw2b"),
            initial_weights(&topology)["edge-api/dns"].get("usw2b")
        );
        assert!(world.weights.contains_key("catalog/extra"));
        assert!(
            world.reconcile(&topology).is_empty(),
            "reconcile is idempotent"
        );
    }

    #[test]
    fn corrupt_file_is_an_error_not_a_reset() {
        let dir = tempfile::tempdir().unwrap();
        let topology = streaming();
        let path = SimWorld::path(dir.path(), &topology.name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, b"{\"format\": 1, \"topol").unwrap();
        let err = SimWorld::load_or_init(dir.path(), &topology).unwrap_err();
        assert!(matches!(err, WorldError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("move it aside"));
    }

    #[test]
    fn world_of_another_topology_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let topology = streaming();
        let mut other = SimWorld::initial(&topology);
        other.topology_name = "other".into();
        other
            .save(&SimWorld::path(dir.path(), &topology.name))
            .unwrap();
        let err = SimWorld::load_or_init(dir.path(), &topology).unwrap_err();
        assert!(matches!(err, WorldError::Mismatch { .. }), "{err}");
    }
}
