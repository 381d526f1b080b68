//! Running the `kong` binary against moto (or the fault proxy in front of it), in a scratch
//! directory holding the topology, the playbook and the state dir.

use std::path::PathBuf;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

/// A scratch directory and the endpoint kong is pointed at.
pub struct Kong {
    /// The scratch directory.
    pub dir: tempfile::TempDir,
    /// `--endpoint-url`.
    pub endpoint: String,
    /// `--route53-rate` (moto has no rate limit; tests keep runs short).
    pub route53_rate: String,
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

impl Kong {
    /// Writes `topology.yaml` and `playbook.yaml` into a new scratch directory.
    pub fn new(topology: &str, playbook: &str, endpoint: &str) -> Kong {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("topology.yaml"), topology).expect("write topology");
        std::fs::write(dir.path().join("playbook.yaml"), playbook).expect("write playbook");
        // Empty AWS config files: nothing of the developer's ~/.aws leaks in.
        std::fs::write(dir.path().join("aws-config"), "").expect("write aws config");
        std::fs::write(dir.path().join("aws-credentials"), "").expect("write aws credentials");
        Kong {
            dir,
            endpoint: endpoint.to_string(),
            route53_rate: "200".to_string(),
        }
    }

    /// A path in the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `kong ARGS` with the files, the state dir, the aws backend and test credentials; no
    /// AWS setting of the developer's environment leaks in.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("kong").expect("kong binary");
        cmd.current_dir(self.dir.path())
            .args(args)
            .args(["--topology", "topology.yaml", "--playbook", "playbook.yaml"])
            .args(["--state-dir", "state", "--backend", "aws"])
            .args(["--endpoint-url", &self.endpoint])
            .args(["--route53-rate", &self.route53_rate])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_CONFIG_FILE", self.path("aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.path("aws-credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true");
        for var in [
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_ENDPOINT_URL",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "KONG_SIM_FAIL_APPLIES",
            "KONG_SIM_FAILURE_RATE",
            "KONG_SIM_API_LATENCY_MS",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    /// Runs `kong ARGS` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().expect("run kong");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `kong runs --format json`.
    pub fn runs(&self) -> Vec<Value> {
        let out = self.run(&["runs", "--format", "json"]);
        assert_eq!(out.code, 0, "{}", out.text());
        let runs: Value = serde_json::from_str(&out.stdout).expect("runs JSON");
        runs.as_array().cloned().unwrap_or_default()
    }

    /// `kong plan OPERATION REGION --format json`.
    pub fn plan(&self, operation: &str, region: &str) -> Value {
        let out = self.run(&["plan", operation, region, "--format", "json"]);
        assert_eq!(out.code, 0, "{}", out.text());
        serde_json::from_str(&out.stdout).expect("plan JSON")
    }
}
