//! Report tests: unit tests of the pieces, and golden snapshots of whole reports made from
//! fixed journals (`tests/fixtures/report/`): completed, aborted and rolled back, rollback
//! failed, paused.

use super::*;

#[test]
fn bounds_are_read_from_rendered_thresholds() {
    assert_eq!(
        bound("<= 250"),
        Some(Bound {
            max: true,
            limit: 250.0
        })
    );
    assert_eq!(
        bound(">= 0.99"),
        Some(Bound {
            max: false,
            limit: 0.99
        })
    );
    let ratio = bound(">= 0.95 x baseline 1000").unwrap();
    assert!(!ratio.max && (ratio.limit - 950.0).abs() < 1e-9);
    let rise = bound("<= baseline 0.001 + 0.01").unwrap();
    assert!(rise.max && (rise.limit - 0.011).abs() < 1e-12);
    assert_eq!(
        bound("<= 2 and >= 1"),
        Some(Bound {
            max: true,
            limit: 2.0
        })
    );
    assert_eq!(bound("whatever"), None);
    assert_eq!(bound(">= 0.95 x baseline (not measured)"), None);
}

#[test]
fn margin_is_the_room_left_as_a_fraction_of_the_limit() {
    let max = Bound {
        max: true,
        limit: 250.0,
    };
    assert!((max.margin(225.0) - 0.1).abs() < 1e-12);
    assert!(max.margin(300.0) < 0.0);
    let min = Bound {
        max: false,
        limit: 100.0,
    };
    assert!((min.margin(105.0) - 0.05).abs() < 1e-12);
}

#[test]
fn long_service_lists_are_cut_to_a_few_names() {
    let names: Vec<String> = (0..200).map(|i| format!("s{i:04}")).collect();
    assert_eq!(few(&names, 4), "200 services: s0000, s0001, s0002, … s0199");
    assert_eq!(few(&names[..3], 4), "s0000, s0001, s0002");
}

#[test]
fn durations_read_like_people_write_them() {
    assert_eq!(fmt_secs(4.25), "4.2s");
    assert_eq!(fmt_secs(185.0), "3m05s");
    assert_eq!(fmt_secs(3720.0), "1h02m");
}

mod golden {
    //! Whole reports from fixed journals, written by real runs of the simulator and
    //! committed (the rollback-failed case is the rolled-back journal with its last records
    //! replaced, as a rollback that could not restore a dial writes them).

    use std::path::{Path, PathBuf};

    use super::super::*;
    use crate::journal::{Record, RunLog};
    use crate::model::{load_playbook, load_topology};

    fn fixture(case: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/report")
            .join(case)
    }

    /// The journals of a case (`1-evacuate.jsonl`, `2-restore.jsonl`, in name order).
    fn logs(dir: &Path) -> Vec<RunLog> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| {
                let records: Vec<Record> = std::fs::read_to_string(f)
                    .unwrap()
                    .lines()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect();
                RunLog::from_records(records).unwrap()
            })
            .collect()
    }

    fn check_case(case: &str) -> String {
        let dir = fixture(case);
        let logs = logs(&dir);
        let topology = load_topology(&dir.join("topology.yaml")).unwrap();
        let playbook = load_playbook(&dir.join("playbook.yaml"), Some(&topology)).unwrap();
        let input = Input {
            logs: &logs,
            topology: Some(&topology),
            playbook: Some(&playbook),
        };
        let md = markdown(&input, Some("report-"));
        assert_eq!(
            md,
            markdown(&input, Some("report-")),
            "same journal, same bytes"
        );
        assert_eq!(html(&input), html(&input), "same journal, same bytes");
        let summary = md.split("\n## ").next().unwrap();
        assert!(
            summary.lines().count() <= 40,
            "{case}: the summary fits in 40 lines, it has {}",
            summary.lines().count()
        );
        let charts = charts(&input);
        let names: Vec<&str> = charts.iter().map(|c| c.name.as_str()).collect();
        for kind in ["traffic", "utilization", "timeline"] {
            assert!(names.contains(&kind), "{case}: {names:?}");
        }
        assert!(names.iter().any(|n| n.starts_with("check-")), "{names:?}");
        for chart in &charts {
            assert!(
                chart
                    .svg
                    .starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\"")
            );
            assert!(chart.svg.trim_end().ends_with("</svg>"));
            assert!(!chart.svg.contains("NaN"), "{}: {}", chart.name, chart.svg);
        }
        let page = html(&input);
        assert_eq!(page.matches("<svg ").count(), charts.len());
        insta::assert_snapshot!(format!("{case}_timeline_svg"), charts.last().unwrap().svg);
        md
    }

    #[test]
    fn completed_drill_with_a_hidden_dependency() {
        let md = check_case("completed");
        let head: Vec<&str> = md.lines().take(4).collect();
        assert!(head[2].starts_with("**Hypothesis:** "), "{head:?}");
        assert!(head[3].starts_with("**Verdict:** **held**"), "{head:?}");
        assert!(md.contains("**hidden dependency**"), "{md}");
        insta::assert_snapshot!("completed_markdown", md);
        let dir = fixture("completed");
        let logs = logs(&dir);
        let topology = load_topology(&dir.join("topology.yaml")).unwrap();
        let playbook = load_playbook(&dir.join("playbook.yaml"), Some(&topology)).unwrap();
        let input = Input {
            logs: &logs,
            topology: Some(&topology),
            playbook: Some(&playbook),
        };
        insta::assert_snapshot!("completed_html", html(&input));
    }

    #[test]
    fn aborted_and_rolled_back() {
        let md = check_case("rolled-back");
        assert!(md.contains("**Verdict:** **refuted** at step"), "{md}");
        assert!(md.contains("| abort | check failed"), "{md}");
        insta::assert_snapshot!("rolled_back_markdown", md);
    }

    #[test]
    fn rollback_failed() {
        let md = check_case("rollback-failed");
        assert!(md.contains("| rollback | **failed**"), "{md}");
        insta::assert_snapshot!("rollback_failed_markdown", md);
    }

    #[test]
    fn paused() {
        let md = check_case("paused");
        assert!(
            md.starts_with("# kong evacuate us-east-1: paused after an abort"),
            "{md}"
        );
        insta::assert_snapshot!("paused_markdown", md);
    }
}
