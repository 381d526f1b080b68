//! The ops files parse and say what the runbook says: the CronJob runs `kong drill REGION
//! --if-due --yes --approve` hourly against the shared DynamoDB state, never two at once, never
//! retried; its region is a topology region; the systemd units run the same command.

use std::path::PathBuf;

use serde::Deserialize;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CronJob {
    kind: String,
    api_version: String,
    spec: CronSpec,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CronSpec {
    schedule: String,
    concurrency_policy: String,
    job_template: JobTemplate,
}

#[derive(Debug, Deserialize)]
struct JobTemplate {
    spec: JobSpec,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobSpec {
    backoff_limit: u32,
    template: PodTemplate,
}

#[derive(Debug, Deserialize)]
struct PodTemplate {
    spec: PodSpec,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodSpec {
    service_account_name: String,
    restart_policy: String,
    containers: Vec<Container>,
    volumes: Vec<Volume>,
}

#[derive(Debug, Deserialize)]
struct Container {
    command: Vec<String>,
    args: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Volume {
    name: String,
    config_map: Option<ConfigMapRef>,
}

#[derive(Debug, Deserialize)]
struct ConfigMapRef {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Named {
    kind: String,
    metadata: Metadata,
}

/// The value following `flag` in `args`.
fn flag<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

#[test]
fn cronjob_runs_an_hourly_if_due_drill_never_concurrently_against_dynamodb_state() {
    let job: CronJob = serde_saphyr::from_str(&read("ops/k8s/cronjob.yaml")).unwrap();
    assert_eq!(job.kind, "CronJob");
    assert_eq!(job.api_version, "batch/v1");
    // Hourly: minute fixed, every hour, day, month and weekday.
    let fields: Vec<&str> = job.spec.schedule.split_whitespace().collect();
    assert_eq!(fields.len(), 5, "{}", job.spec.schedule);
    assert!(
        fields[0].parse::<u8>().is_ok_and(|m| m < 60),
        "{}",
        job.spec.schedule
    );
    assert_eq!(&fields[1..], ["*", "*", "*", "*"]);
    assert_eq!(job.spec.concurrency_policy, "Forbid");

    let spec = &job.spec.job_template.spec;
    assert_eq!(spec.backoff_limit, 0, "a failed drill is never retried");
    let pod = &spec.template.spec;
    assert_eq!(pod.restart_policy, "Never");
    assert_eq!(pod.service_account_name, "kong-drill");
    let [container] = pod.containers.as_slice() else {
        panic!("one container expected: {:?}", pod.containers);
    };
    assert_eq!(container.command, ["/usr/local/bin/kong"]);
    let args = &container.args;
    assert_eq!(args[0], "drill");
    let region = &args[1];
    for f in ["--if-due", "--yes", "--approve"] {
        assert!(args.iter().any(|a| a == f), "{f} missing from {args:?}");
    }
    assert!(!args.iter().any(|a| a == "--force"));
    let state = flag(args, "--state").expect("--state");
    assert!(
        state.starts_with("dynamodb://kong-state?region="),
        "{state}"
    );
    assert_eq!(flag(args, "--backend"), Some("aws"));

    // The files come from the ConfigMap the repository defines, mounted where the flags say.
    let files = pod
        .volumes
        .iter()
        .find(|v| v.config_map.is_some())
        .expect("a configMap volume");
    let configmap: Named = serde_saphyr::from_str(&read("ops/k8s/configmap.yaml")).unwrap();
    assert_eq!(configmap.kind, "ConfigMap");
    assert_eq!(
        files.config_map.as_ref().map(|c| c.name.as_str()),
        Some(configmap.metadata.name.as_str())
    );
    assert!(flag(args, "--topology").unwrap().starts_with("/etc/kong/"));
    assert!(flag(args, "--playbook").unwrap().starts_with("/etc/kong/"));
    let _ = &files.name;

    // The service account it runs as is defined, for IRSA.
    let sa: Named = serde_saphyr::from_str(&read("ops/k8s/serviceaccount.yaml")).unwrap();
    assert_eq!(sa.kind, "ServiceAccount");
    assert_eq!(sa.metadata.name, pod.service_account_name);
    assert!(read("ops/k8s/serviceaccount.yaml").contains("eks.amazonaws.com/role-arn"));

    // The region drilled is one the example topology declares.
    assert!(
        read("topology/streaming.yaml").contains(region.as_str()),
        "{region} is not a region of topology/streaming.yaml"
    );
}

#[test]
fn systemd_units_run_the_same_if_due_drill_hourly() {
    let service = read("ops/systemd/kong-drill@.service");
    let exec = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let args: Vec<&str> = exec.split_whitespace().collect();
    assert_eq!(&args[..3], ["/usr/local/bin/kong", "drill", "%i"]);
    for f in ["--if-due", "--yes", "--approve", "--state"] {
        assert!(args.contains(&f), "{f} missing from {exec}");
    }
    assert!(service.lines().any(|l| l == "KillSignal=SIGINT"));
    let timer = read("ops/systemd/kong-drill@.timer");
    assert!(timer.lines().any(|l| l == "OnCalendar=hourly"));
}
