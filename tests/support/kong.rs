//! The one `kong` runner of the integration tests: the real binary in a scratch directory
//! holding the topology, the playbook and the state, on the simulator or on AWS (moto or the
//! fault proxy in front of it), with one clean environment.
//!
//! Every command gets its own arguments first, then the runner's flags: the files, the
//! state, the backend and endpoint when set, and any flag added with [`Kong::arg`].
//!
//! Each runner is one "machine": its own cwd, HOME and state dir. The state is a parameter
//! ([`State`], applied with [`Kong::on`]): the local state dir, or a table of its own in
//! DynamoDB (moto). The helpers that read runs and journals ([`Kong::runs`],
//! [`Kong::records`], [`Kong::journals`]) go through `kong`, so they read either.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

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

/// Where a test's runs keep their lock and journal: the parameter of the tests that run on
/// both states.
#[derive(Debug, Clone)]
pub enum State {
    /// The local state dir (the default).
    Local,
    /// A table of its own in DynamoDB at `endpoint` (moto), created by `kong state init`,
    /// with a lock lease of `lease` (e.g. `30s`; shorter where a killed holder's lock must
    /// expire quickly).
    DynamoDb {
        /// moto's URL.
        endpoint: String,
        /// `--lock-lease`.
        lease: &'static str,
    },
}

impl State {
    /// A table of its own at `endpoint`, with the default lease (30 s).
    pub fn dynamodb(endpoint: String) -> State {
        State::DynamoDb {
            endpoint,
            lease: "30s",
        }
    }
}

/// A DynamoDB table name no other test of this run uses (nextest runs each test in a
/// process of its own; a test may make several).
pub fn new_table_name(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "kong-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
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

/// [`FAST_PLAYBOOK`] with `settings` changed: each `(key, value)` replaces the line of that
/// top-level key, or is added before `checks:` when the playbook has none.
pub fn fast_playbook(settings: &[(&str, &str)]) -> String {
    let mut lines: Vec<String> = FAST_PLAYBOOK.lines().map(String::from).collect();
    for (key, value) in settings {
        let line = format!("{key}: {value}");
        match lines.iter().position(|l| l.starts_with(&format!("{key}:"))) {
            Some(i) => lines[i] = line,
            None => {
                let at = lines
                    .iter()
                    .position(|l| l == "checks:")
                    .unwrap_or(lines.len());
                lines.insert(at, line);
            }
        }
    }
    lines.join("\n") + "\n"
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
        std::fs::create_dir(kong.path("home")).expect("make HOME");
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

    /// The shared state in DynamoDB (`--state dynamodb://TABLE?region=R`) at `endpoint`
    /// (moto), with a lock lease of `lease` (e.g. `2s`) so a killed holder's lock expires
    /// quickly.
    pub fn shared_state(self, state: &str, endpoint: &str, lease: &str) -> Kong {
        self.arg("--state")
            .arg(state)
            .endpoint(endpoint)
            .arg("--lock-lease")
            .arg(lease)
    }

    /// The state `state`: the local state dir as it is, or a new table of its own (created
    /// with `kong state init`, which must succeed).
    pub fn on(self, state: &State) -> Kong {
        match state {
            State::Local => self,
            State::DynamoDb { endpoint, lease } => {
                let table = format!("dynamodb://{}?region=us-east-1", new_table_name("t"));
                let kong = self.shared_state(&table, endpoint, lease);
                let init = kong.run(&["state", "init"]);
                assert_eq!(init.code, 0, "kong state init: {}", init.text());
                kong
            }
        }
    }

    /// Another "machine" on the same state: a new scratch directory (its own cwd, HOME and
    /// state dir) with copies of this one's topology and playbook, and the same backend,
    /// endpoint, flags and environment. On the local state it shares nothing with this one;
    /// on DynamoDB it shares the table (and the lock).
    pub fn another_machine(&self) -> Kong {
        let other = Kong::scratch();
        for name in ["topology.yaml", "playbook.yaml"] {
            if let Ok(text) = std::fs::read_to_string(self.path(name)) {
                other.write(name, &text);
            }
        }
        Kong {
            state_dir: self.state_dir.clone(),
            backend: self.backend.clone(),
            endpoint: self.endpoint.clone(),
            route53_rate: self.route53_rate.clone(),
            flags: self.flags.clone(),
            envs: self.envs.clone(),
            ..other
        }
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

    /// `kong ARGS` in the scratch directory with the clean environment, its own HOME and
    /// test AWS credentials, and none of the runner's flags (for tests that name every file).
    pub fn bare(&self, args: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("kong").expect("kong binary");
        cmd.current_dir(self.dir.path()).args(args);
        for var in CLEARED.iter().chain(&::kong::backend::sim::ENV_VARS) {
            cmd.env_remove(var);
        }
        cmd.env("HOME", self.path("home"))
            .env("AWS_ACCESS_KEY_ID", "testing")
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

    /// Starts `kong ARGS` with its output captured (`wait_with_output` gives it; converts
    /// into [`Output`]).
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start kong")
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

    /// Run `id`'s journal records, through `kong state export` (the local journal's lines,
    /// or the table's items).
    pub fn records(&self, id: &str) -> Vec<Value> {
        let out = self.run(&["state", "export", id]);
        assert_eq!(out.code, 0, "kong state export {id}: {}", out.text());
        out.stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("journal record"))
            .collect()
    }

    /// The journal records of every run, oldest run first, each with its run id (through
    /// `kong runs` and `kong state export`, whatever the state).
    pub fn journals(&self) -> Vec<(String, Vec<Value>)> {
        self.runs()
            .iter()
            .map(|run| {
                let id = run["id"].as_str().expect("run id").to_string();
                let records = self.records(&id);
                (id, records)
            })
            .collect()
    }
}
