//! The simulator's world: the weights of every dial, persisted in the state dir.
//!
//! Capacity and load are not stored: they come from the topology every time, so editing the
//! topology changes the simulated regions; only a region bound to an Auto Scaling group takes
//! its capacity from the group's in-service instances, which the world holds.
//!
//! The world is persisted as a snapshot, `<state_dir>/sim/<topology>.json`, and a change log
//! beside it, `<topology>.changes`: one JSON line per change, with the absolute weights of
//! the dials it set, every Auto Scaling group, the apply count and a sequence number. A
//! change costs one appended line and an fsync, whatever the size of the world. The
//! snapshot counts the changes it holds (`changes`); reading applies, in order, the lines
//! numbered after it.
//! - The snapshot is replaced atomically (temp file, fsync, rename, fsync of the directory)
//!   and the log emptied after it: a crash in between leaves lines the snapshot already
//!   holds, which reading skips.
//! - A line is complete once its newline is written; a torn last line (a process killed
//!   while appending) was never acknowledged, and reading ignores it.
//!
//! So a process killed at any instant leaves the world as of its last acknowledged change.
//! A backend rewrites the snapshot on its first change (so a torn line never has a line
//! appended after it) and whenever the log outgrows the snapshot.
//! Existing weights are never reset silently; a world is only reconciled with the dials and
//! members the topology gained or lost since it was written.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
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
    /// Number of changes persisted since the world was created (the change log's sequence;
    /// absent in worlds written before the log: 0).
    #[serde(default)]
    pub changes: u64,
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
            changes: 0,
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

    /// Loads the world at `path` with its change log applied; `Ok(None)` when there is no
    /// snapshot.
    pub fn load(path: &Path, topology: &Topology) -> Result<Option<SimWorld>, WorldError> {
        let mut reader = WorldReader::default();
        reader.read(path, topology)?;
        Ok(reader.world)
    }

    /// The change log beside the snapshot at `path`.
    pub fn log_path(path: &Path) -> PathBuf {
        path.with_extension("changes")
    }

    /// The world in `bytes`, read from `path` (named in errors), if it fits `topology`.
    pub fn parse(path: &Path, bytes: &[u8], topology: &Topology) -> Result<SimWorld, WorldError> {
        let world: SimWorld =
            serde_json::from_slice(bytes).map_err(|source| WorldError::Corrupt {
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
        Ok(world)
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
        let known: std::collections::BTreeSet<String> =
            crate::backend::all_dials(topology).into_iter().collect();
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

    /// Writes the world to `path` atomically as a snapshot and empties its change log;
    /// see the module docs. Returns the snapshot's size.
    pub fn save(&self, path: &Path) -> Result<u64, WorldError> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| WorldError::Write {
            path: path.to_path_buf(),
            source: io::Error::other(e),
        })?;
        write_snapshot(path, &bytes).map_err(|source| WorldError::Write {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(bytes.len() as u64)
    }

    /// The line that persists a change of `dials` (and of any group) made to this world,
    /// numbered `self.changes` (already counted), newline included.
    pub fn change_line<'a>(&self, dials: impl IntoIterator<Item = &'a String>) -> Vec<u8> {
        let change = ChangeRef {
            seq: self.changes,
            api_calls: self.api_calls,
            weights: dials
                .into_iter()
                .filter_map(|d| self.weights.get(d).map(|w| (d, w)))
                .collect(),
            groups: &self.groups,
        };
        let mut line = serde_json::to_vec(&change).expect("a change serializes");
        line.push(b'\n');
        line
    }

    /// Applies one change read from the log (see the module docs): `Ok(false)` when the
    /// snapshot already holds it, an error when changes are missing before it.
    fn apply_change(&mut self, change: Change) -> Result<bool, Gap> {
        if change.seq <= self.changes {
            return Ok(false);
        }
        if change.seq != self.changes + 1 {
            return Err(Gap);
        }
        self.changes = change.seq;
        self.api_calls = change.api_calls;
        self.weights.extend(change.weights);
        self.groups = change.groups;
        Ok(true)
    }
}

/// One line of the change log, as written.
#[derive(Serialize)]
struct ChangeRef<'a> {
    seq: u64,
    api_calls: u64,
    weights: BTreeMap<&'a String, &'a crate::backend::DialWeights>,
    groups: &'a BTreeMap<String, SimGroup>,
}

/// One line of the change log, as read.
#[derive(Deserialize)]
struct Change {
    seq: u64,
    api_calls: u64,
    weights: Weights,
    #[serde(default)]
    groups: BTreeMap<String, SimGroup>,
}

/// A log line numbered past the next change: the log was emptied (after a new snapshot)
/// while it was being read.
struct Gap;

/// What changed in the world since a [`WorldReader`]'s last read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delta {
    /// Nothing.
    Unchanged,
    /// Changes were appended to the log: these dials were set (groups unchanged).
    Appended(std::collections::BTreeSet<String>),
    /// Anything else (first read, a new snapshot, groups changed, the file went away).
    Reloaded,
}

/// Reads a world (snapshot and change log), keeping what it read so that reading again
/// parses only what was appended since: the same snapshot and a log that only grew.
#[derive(Default)]
pub struct WorldReader {
    snapshot: Option<Vec<u8>>,
    /// The log's complete lines applied so far.
    log: Vec<u8>,
    world: Option<SimWorld>,
}

impl WorldReader {
    /// Reads the world at `path` (`None`: no snapshot) and says what changed since the last
    /// read.
    pub fn read(
        &mut self,
        path: &Path,
        topology: &Topology,
    ) -> Result<(Option<&SimWorld>, Delta), WorldError> {
        let log_path = SimWorld::log_path(path);
        let mut attempts = 0;
        loop {
            attempts += 1;
            // The log before the snapshot: a snapshot newer than the log read holds every
            // line of it (lines it already holds are skipped), never the other way round.
            let log = read_optional(&log_path)?.unwrap_or_default();
            let snapshot = read_optional(path)?;
            match self.update(path, &log_path, snapshot, log, topology) {
                Ok(changed) => return Ok((self.world.as_ref(), changed)),
                Err(Retry::Gap) if attempts < 5 => {
                    *self = WorldReader::default();
                }
                Err(Retry::Gap) => {
                    return Err(WorldError::Read {
                        path: log_path,
                        source: io::Error::other("the change log kept changing while read"),
                    });
                }
                Err(Retry::Error(e)) => return Err(e),
            }
        }
    }

    fn update(
        &mut self,
        path: &Path,
        log_path: &Path,
        snapshot: Option<Vec<u8>>,
        log: Vec<u8>,
        topology: &Topology,
    ) -> Result<Delta, Retry> {
        let Some(bytes) = snapshot else {
            let changed = self.world.is_some();
            *self = WorldReader::default();
            return Ok(if changed {
                Delta::Reloaded
            } else {
                Delta::Unchanged
            });
        };
        let incremental = self.world.is_some()
            && self.snapshot.as_deref() == Some(&bytes[..])
            && log.starts_with(&self.log);
        if !incremental {
            self.world = Some(SimWorld::parse(path, &bytes, topology).map_err(Retry::Error)?);
            self.snapshot = Some(bytes);
            self.log.clear();
        }
        let world = self.world.as_mut().expect("parsed above");
        let mut reloaded = !incremental;
        let mut dials = std::collections::BTreeSet::new();
        let mut consumed = self.log.len();
        // Complete lines only: a torn last line was never acknowledged.
        while let Some(end) = log[consumed..].iter().position(|b| *b == b'\n') {
            let line = &log[consumed..consumed + end];
            let change: Change = serde_json::from_slice(line).map_err(|source| {
                Retry::Error(WorldError::Corrupt {
                    path: log_path.to_path_buf(),
                    source,
                })
            })?;
            let set: Vec<String> = change.weights.keys().cloned().collect();
            let groups_before = world.groups.clone();
            if world.apply_change(change).map_err(|Gap| Retry::Gap)? {
                reloaded |= world.groups != groups_before;
                dials.extend(set);
            }
            consumed += end + 1;
        }
        self.log = log;
        self.log.truncate(consumed);
        Ok(if reloaded {
            Delta::Reloaded
        } else if dials.is_empty() {
            Delta::Unchanged
        } else {
            Delta::Appended(dials)
        })
    }
}

enum Retry {
    Gap,
    Error(WorldError),
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, WorldError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(WorldError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Replaces the snapshot at `path` atomically, then empties its change log (see the
/// module docs for why this order is safe).
pub fn write_snapshot(path: &Path, bytes: &[u8]) -> io::Result<()> {
    crate::fsutil::write_atomic(path, bytes)?;
    let log = SimWorld::log_path(path);
    match OpenOptions::new().write(true).open(&log) {
        Ok(file) => {
            file.set_len(0)?;
            file.sync_all()
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Appends `line` (one complete change, newline included) to the change log of the
/// snapshot at `path`, durably: written, then fsynced (and the directory, when this
/// created the log). A failed append is cut back off, as far as possible.
pub fn append_change(path: &Path, line: &[u8]) -> io::Result<()> {
    let log = SimWorld::log_path(path);
    let created = !log.exists();
    let mut file = OpenOptions::new().append(true).create(true).open(&log)?;
    let before = file.metadata()?.len();
    let written = file.write_all(line).and_then(|()| file.sync_data());
    if let Err(e) = written {
        let _ = file.set_len(before);
        return Err(e);
    }
    if created && let Some(dir) = log.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
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

    /// A world changed by `n` appended log lines after its snapshot.
    fn world_with_log(dir: &Path, n: u64) -> (PathBuf, SimWorld) {
        let topology = streaming();
        let path = SimWorld::path(dir, &topology.name);
        let mut world = SimWorld::initial(&topology);
        world.save(&path).unwrap();
        for i in 0..n {
            world.changes += 1;
            world.api_calls += 1;
            world
                .weights
                .get_mut("edge-api/dns")
                .unwrap()
                .insert("use1".into(), 90 - i as u32);
            append_change(
                &path,
                &world.change_line(["edge-api/dns".to_string()].iter()),
            )
            .unwrap();
        }
        (path, world)
    }

    #[test]
    fn change_log_lines_apply_in_order_and_a_torn_last_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let topology = streaming();
        let (path, world) = world_with_log(dir.path(), 3);
        assert_eq!(
            SimWorld::load(&path, &topology).unwrap(),
            Some(world.clone())
        );
        // A process killed while appending leaves a line without its newline.
        let log = SimWorld::log_path(&path);
        let mut file = OpenOptions::new().append(true).open(&log).unwrap();
        file.write_all(b"{\"seq\":4,\"api_calls\":9,\"weights\":{\"edge-api/dns\":{\"use1\"")
            .unwrap();
        assert_eq!(SimWorld::load(&path, &topology).unwrap(), Some(world));
        // A corrupt complete line is an error, not a reset.
        file.write_all(b"\n").unwrap();
        let err = SimWorld::load(&path, &topology).unwrap_err();
        assert!(matches!(err, WorldError::Corrupt { .. }), "{err}");
    }

    #[test]
    fn lines_the_snapshot_holds_are_skipped_and_saving_empties_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let topology = streaming();
        let (path, world) = world_with_log(dir.path(), 3);
        // As after a crash between writing a snapshot and emptying the log.
        let log = SimWorld::log_path(&path);
        let lines = fs::read(&log).unwrap();
        world.save(&path).unwrap();
        assert_eq!(fs::metadata(&log).unwrap().len(), 0);
        fs::write(&log, &lines).unwrap();
        assert_eq!(SimWorld::load(&path, &topology).unwrap(), Some(world));
    }

    #[test]
    fn a_reader_parses_only_what_was_appended_and_sees_a_new_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let topology = streaming();
        let (path, mut world) = world_with_log(dir.path(), 2);
        let mut reader = WorldReader::default();
        let (read, changed) = reader.read(&path, &topology).unwrap();
        assert_eq!((read, changed), (Some(&world), Delta::Reloaded));
        assert_eq!(
            reader.read(&path, &topology).unwrap(),
            (Some(&world), Delta::Unchanged)
        );
        world.changes += 1;
        world.api_calls += 1;
        world
            .weights
            .get_mut("edge-api/dns")
            .unwrap()
            .insert("usw2".into(), 1);
        append_change(
            &path,
            &world.change_line(["edge-api/dns".to_string()].iter()),
        )
        .unwrap();
        let appended = Delta::Appended(["edge-api/dns".to_string()].into());
        assert_eq!(
            reader.read(&path, &topology).unwrap(),
            (Some(&world), appended)
        );
        world.api_calls = 42;
        world.save(&path).unwrap();
        assert_eq!(
            reader.read(&path, &topology).unwrap(),
            (Some(&world), Delta::Reloaded)
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
