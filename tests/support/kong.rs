//! The one `kong` runner of the integration tests: the real binary in a scratch directory
//! holding the topology, the playbook and the state, on the simulator or on AWS (moto or the
//! fault proxy in front of it), with one clean environment.
//!
//! Every command gets its own arguments first, then the runner's flags: the files, the
//! state, the backend and endpoint when set, and any flag added with [`Kong::arg`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

/// The example topology of SPEC.md, as shipped in `topology/streaming.yaml`.
pub const STREAMING: &str = include_str!("../../topology/streaming.yaml");

/// Variables removed from every command's environment, so nothing of the developer's shell
/// (an AWS profile, a simulator fault, a log filter, an OTLP collector, a default file)
/// changes what a test sees. The simulator's own list comes from the crate, so it cannot
/// fall behind the variables the simulator reads.
const CLEARED: [&str; 14] = [
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "KONG_TOPOLOGY",
    "KONG_PLAYBOOK",
    "KONG_STATE_DIR",
    "KONG_LOG",
    "RUST_LOG",
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "KONG_PROGRESS",
];

/// A scratch directory and the flags and environment every command run in it gets.
pub struct Kong {
    /// The scratch directory.
    pub dir: tempfile::TempDir,
    /// `--state-dir` (`state` unless [`Kong::state_dir`] changes it).
    state_dir: String,
    /// `--backend`, when set; otherwise the topology's choice (the simulator by default).
    backend: Option<String>,
    /// `--endpoint-url`, when set.
    endpoint: Option<String>,
    /// `--route53-rate`, when set.
    route53_rate: Option<String>,
    /// Further flags for every command.
    flags: Vec<String>,
    /// Variables set for every command (after the clean-up).
    envs: Vec<(String, String)>,
}

/// What a command did.
#[derive(Debug)]
pub struct Output {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// Both streams, for assertion messages.
    pub fn text(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl From<std::process::Output> for Output {
    fn from(out: std::process::Output) -> Output {
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Kong {
    /// An empty scratch directory (but for empty AWS config files: nothing of the
    /// developer's ~/.aws leaks in).
    pub fn scratch() -> Kong {
        let kong = Kong {
            dir: tempfile::tempdir().expect("tempdir"),
            state_dir: "state".to_string(),
            backend: None,
            endpoint: None,
            route53_rate: None,
            flags: Vec::new(),
            envs: Vec::new(),
        };
        kong.write("aws-config", "");
        kong.write("aws-credentials", "");
        kong
    }

    /// Writes `topology.yaml` and `playbook.yaml` into a new scratch directory; the backend
    /// is the topology's choice (the simulator unless it names one).
    pub fn new(topology: &str, playbook: &str) -> Kong {
        let kong = Kong::scratch();
        kong.write("topology.yaml", topology);
        kong.write("playbook.yaml", playbook);
        kong
    }

    /// [`Kong::new`] with SPEC.md's example topology.
    pub fn streaming(playbook: &str) -> Kong {
        Kong::new(STREAMING, playbook)
    }

    /// [`Kong::new`] on `--backend aws` at `endpoint`, with a Route 53 rate moto can take
    /// quickly (it has no rate limit; tests keep runs short).
    pub fn aws(topology: &str, playbook: &str, endpoint: &str) -> Kong {
        Kong::new(topology, playbook)
            .backend("aws")
            .endpoint(endpoint)
            .route53_rate(200.0)
    }

    /// `--backend NAME` on every command.
    pub fn backend(mut self, name: &str) -> Kong {
        self.backend = Some(name.to_string());
        self
    }

    /// `--endpoint-url URL` on every command (replacing an earlier one).
    pub fn endpoint(mut self, url: &str) -> Kong {
        self.endpoint = Some(url.to_string());
        self
    }

    /// `--route53-rate N` on every command (replacing an earlier one).
    pub fn route53_rate(mut self, rate: f64) -> Kong {
        self.route53_rate = Some(rate.to_string());
        self
    }

    /// The state directory every command uses, relative to the scratch directory or
    /// absolute (default `state`).
    pub fn state_dir(mut self, path: &str) -> Kong {
        self.state_dir = path.to_string();
        self
    }

    /// One more flag for every command.
    pub fn arg(mut self, flag: &str) -> Kong {
        self.flags.push(flag.to_string());
        self
    }

    /// A variable set for every command.
    pub fn env(mut self, name: &str, value: &str) -> Kong {
        self.envs.push((name.to_string(), value.to_string()));
        self
    }

    /// A path in the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `text` to `name` in the scratch directory (making its folders); returns the
    /// path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("make folder");
        }
        std::fs::write(&path, text).expect("write scratch file");
        path
    }

    /// `kong ARGS` in the scratch directory with the clean environment and test AWS
    /// credentials, and none of the runner's flags (for tests that name every file).
    pub fn bare(&self, args: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("kong").expect("kong binary");
        cmd.current_dir(self.dir.path()).args(args);
        for var in CLEARED.iter().chain(&::kong::backend::sim::ENV_VARS) {
            cmd.env_remove(var);
        }
        cmd.env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_CONFIG_FILE", self.path("aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.path("aws-credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true");
        for (name, value) in &self.envs {
            cmd.env(name, value);
        }
        cmd
    }

    /// `kong ARGS` with the files, the state, the backend and the runner's flags.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.bare(args);
        cmd.args(["--topology", "topology.yaml", "--playbook", "playbook.yaml"])
            .args(["--state-dir", &self.state_dir]);
        if let Some(backend) = &self.backend {
            cmd.args(["--backend", backend]);
        }
        if let Some(endpoint) = &self.endpoint {
            cmd.args(["--endpoint-url", endpoint]);
        }
        if let Some(rate) = &self.route53_rate {
            cmd.args(["--route53-rate", rate]);
        }
        cmd.args(&self.flags);
        cmd
    }

    /// Runs `kong ARGS` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run kong").into()
    }

    /// Runs `kong ARGS`, which must exit 0, and parses its standard output as JSON.
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert_eq!(out.code, 0, "{args:?} failed: {}", out.text());
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {}", out.stdout))
    }

    /// `kong status --format json`.
    pub fn status(&self) -> Value {
        self.json(&["status", "--format", "json"])
    }

    /// Live weights of every dial, by dial (from `kong status`).
    pub fn weights(&self) -> BTreeMap<String, Value> {
        self.status()["dials"]
            .as_array()
            .expect("dials")
            .iter()
            .map(|d| {
                (
                    d["dial"].as_str().expect("dial id").to_string(),
                    d["weights"].clone(),
                )
            })
            .collect()
    }

    /// `kong runs --format json`.
    pub fn runs(&self) -> Vec<Value> {
        self.json(&["runs", "--format", "json"])
            .as_array()
            .expect("runs is a JSON array")
            .clone()
    }

    /// `kong plan OPERATION REGION --format json`.
    pub fn plan(&self, operation: &str, region: &str) -> Value {
        self.json(&["plan", operation, region, "--format", "json"])
    }

    /// The journal records of every run in the state directory, oldest run first, each with
    /// its run directory's name (the run id).
    pub fn journals(&self) -> Vec<(String, Vec<Value>)> {
        let mut runs: Vec<PathBuf> = std::fs::read_dir(self.path(&self.state_dir).join("runs"))
            .expect("runs dir")
            .map(|e| e.expect("runs dir entry").path())
            .filter(|p| p.join("journal.jsonl").exists())
            .collect();
        runs.sort();
        runs.into_iter()
            .map(|run| {
                let text = std::fs::read_to_string(run.join("journal.jsonl")).expect("journal");
                let records = text
                    .lines()
                    .map(|l| serde_json::from_str(l).expect("journal record"))
                    .collect();
                let name = run.file_name().expect("run dir name");
                (name.to_string_lossy().into_owned(), records)
            })
            .collect()
    }
}
