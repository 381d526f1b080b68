//! A scratch directory holding the example topology (`topology/streaming.yaml`), a fast
//! playbook and a state dir, and the `kong` binary run in it on the simulator.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch dir with the example topology and a fast playbook written into it.
pub struct World {
    /// The scratch directory.
    pub dir: tempfile::TempDir,
}

/// Short waits and a latency check, for runs of a second or two at `--time-scale 100`.
pub const FAST_PLAYBOOK: &str = "name: fast
steps: [10, 25, 50, 100]
bake: 1s
propagation: 1s
hold: 1s
on_abort: rollback
checks:
  - name: destination p99
    source: sim
    metric: p99_latency_ms
    per: destination
    max: 250
";

impl World {
    /// Writes the topology and the playbook into a new scratch directory.
    pub fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            root().join("topology/streaming.yaml"),
            dir.path().join("topology.yaml"),
        )
        .unwrap();
        std::fs::write(dir.path().join("playbook.yaml"), FAST_PLAYBOOK).unwrap();
        World { dir }
    }

    /// A path in the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file into the scratch directory.
    pub fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).unwrap();
    }

    /// `kong ARGS` on the files and the state dir of the scratch directory.
    pub fn kong(&self, args: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("kong").unwrap();
        cmd.current_dir(self.dir.path())
            .args(args)
            .args([
                "--topology",
                "topology.yaml",
                "--playbook",
                "playbook.yaml",
                "--state-dir",
                "state",
            ])
            .env_remove("KONG_SIM_FAIL_APPLIES")
            .env_remove("KONG_SIM_FAILURE_RATE")
            .env_remove("KONG_SIM_API_LATENCY_MS");
        cmd
    }

    /// Runs `kong ARGS`: exit code, stdout, stderr.
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.kong(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `kong status --format json`.
    pub fn status(&self) -> Value {
        let (code, out, err) = self.run(&["status", "--format", "json"]);
        assert_eq!(code, 0, "status failed: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("status is not JSON ({e}): {out}"))
    }

    /// The live weights of every dial, from `kong status --format json`.
    pub fn weights(&self) -> BTreeMap<String, Value> {
        self.status()["dials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["dial"].as_str().unwrap().to_string(),
                    d["weights"].clone(),
                )
            })
            .collect()
    }
}
