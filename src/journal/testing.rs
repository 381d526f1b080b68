//! Fixtures for the journal's tests: a small plan, a header, one record of every kind.

use std::collections::BTreeMap;
use std::path::Path;

use crate::model::AbortKind;
use crate::plan::{Change, Operation, Plan, PlanStep, PreflightRow, Weights};

use super::{CheckResult, Journal, Record, RunHeader, RunState};

pub(crate) const AT: &str = "2026-11-23T09:03:12Z";

pub(crate) fn weights(dial: &str, members: &[(&str, u32)]) -> Weights {
    BTreeMap::from([(
        dial.to_string(),
        members.iter().map(|(m, w)| (m.to_string(), *w)).collect(),
    )])
}

pub(crate) fn plan() -> Plan {
    let baseline = weights("edge-api/dns", &[("use1", 100), ("usw2", 100)]);
    let target = weights("edge-api/dns", &[("use1", 0), ("usw2", 100)]);
    Plan {
        operation: Operation::Evacuate,
        region: "us-east-1".to_string(),
        topology: "demo".to_string(),
        playbook: "default".to_string(),
        topology_hash: "abc".to_string(),
        playbook_hash: "def".to_string(),
        waves: vec![vec!["edge-api".to_string()]],
        steps: vec![PlanStep {
            service: "edge-api".into(),
            wave: 0,
            percent: 100,
            changes: vec![Change {
                dial: "edge-api/dns".into(),
                member: "use1".into(),
                region: "us-east-1".into(),
                from: 100,
                to: 0,
            }],
            shares: BTreeMap::from([("us-east-1".into(), 0.0), ("us-west-2".into(), 1.0)]),
        }],
        final_shares: BTreeMap::from([(
            "edge-api".to_string(),
            BTreeMap::from([
                ("us-east-1".to_string(), 0.0),
                ("us-west-2".to_string(), 1.0),
            ]),
        )]),
        preflight: vec![PreflightRow {
            service: "edge-api".to_string(),
            region: "us-west-2".to_string(),
            projected_load: 9100.0,
            capacity: 14000.0,
            utilization: 0.65,
            max_utilization: 0.8,
            ok: true,
            load_source: Default::default(),
            capacity_source: Default::default(),
        }],
        baseline,
        target,
        notes: vec!["a note".to_string()],
        figures: Default::default(),
    }
}

pub(crate) fn header(id: &str, started_at: &str) -> RunHeader {
    RunHeader {
        id: id.to_string(),
        operation: Operation::Evacuate,
        region: "us-east-1".to_string(),
        command: "evacuate".to_string(),
        topology: "demo".to_string(),
        topology_path: "topology/demo.yaml".to_string(),
        playbook_path: "playbooks/default.yaml".to_string(),
        backend: "sim".to_string(),
        host: "host-a".to_string(),
        pid: 4242,
        started_at: started_at.to_string(),
        dry_run: false,
        operator: None,
        forced: None,
    }
}

pub(crate) fn run_started(id: &str, started_at: &str) -> Record {
    let plan = plan();
    Record::RunStarted {
        at: started_at.to_string(),
        run: header(id, started_at),
        baseline: plan.baseline.clone(),
        plan: Box::new(plan),
    }
}

pub(crate) fn intent(index: usize) -> Record {
    Record::StepIntent {
        at: AT.to_string(),
        index,
        wave: 0,
        percent: 100,
        services: vec!["edge-api".to_string()],
        weights: weights("edge-api/dns", &[("use1", 0), ("usw2", 100)]),
    }
}

pub(crate) fn applied(index: usize, api_calls: u32) -> Record {
    Record::StepApplied {
        at: AT.to_string(),
        index,
        api_calls,
        retries: 0,
    }
}

pub(crate) fn rollback_intent() -> Record {
    Record::RollbackIntent {
        at: AT.to_string(),
        weights: weights("edge-api/dns", &[("use1", 100), ("usw2", 100)]),
    }
}

pub(crate) fn finished(state: RunState) -> Record {
    Record::RunFinished {
        at: AT.to_string(),
        state,
    }
}

pub(crate) fn at() -> String {
    AT.to_string()
}

/// One record of every kind, `RunStarted` first.
pub(crate) fn every_record(id: &str) -> Vec<Record> {
    vec![
        run_started(id, AT),
        Record::ChecksBaseline {
            at: at(),
            values: BTreeMap::from([(
                "latency".to_string(),
                BTreeMap::from([("us-west-2".to_string(), 123.5), (String::new(), 7.0)]),
            )]),
        },
        Record::Approved {
            at: at(),
            percent: 50,
            by: "--approve".to_string(),
        },
        intent(0),
        applied(0, 3),
        Record::StepChecked {
            at: at(),
            index: 0,
            results: vec![
                CheckResult {
                    name: "latency".to_string(),
                    region: Some("us-west-2".to_string()),
                    service: None,
                    value: Some(250.5),
                    threshold: "<= 250".to_string(),
                    ok: false,
                    detail: Some("breach".to_string()),
                },
                CheckResult {
                    name: "errors".to_string(),
                    region: None,
                    service: None,
                    value: None,
                    threshold: ">= 95% of 1234.5".to_string(),
                    ok: false,
                    detail: Some("no data".to_string()),
                },
            ],
        },
        Record::Aborted {
            at: at(),
            reason: "check `latency` failed in us-west-2".to_string(),
            kind: Some(AbortKind::CheckFailed),
        },
        Record::Paused { at: at() },
        Record::Resumed {
            at: at(),
            host: "host-b".to_string(),
            pid: 7,
        },
        rollback_intent(),
        Record::RollbackFailed {
            at: at(),
            reason: "throttled".to_string(),
            left: vec!["edge-api/dns".to_string()],
        },
        Record::RollbackDone { at: at() },
        finished(RunState::RolledBack),
    ]
}

/// Creates a journal holding `records`.
pub(crate) fn write_run(state_dir: &Path, id: &str, records: &[Record]) -> Journal {
    let mut journal = Journal::create(state_dir, &id.to_string()).expect("create");
    for record in records {
        journal.append(record).expect("append");
    }
    journal
}
