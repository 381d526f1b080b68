//! `kong dashboard` in a real browser: while a simulator drill runs in another kong
//! process, headless Chromium loads the page again and again and reads us-east-1's share
//! of every service from the DOM (`<td data-service data-region data-share>`): it falls to
//! 0 and comes back. A screenshot of the evacuated view is kept under the target dir.
//!
//! Needs Debian's `chromium` (ops/test.sh installs it).

pub mod support {
    pub mod chromium;
    pub mod kong;
}

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::chromium::headless;
use support::kong::{Kong, fast_playbook};

/// Bakes and hold long enough (at --time-scale 10: 1.5 s per step, 8 s evacuated) for a
/// page load to land in every phase.
fn playbook() -> String {
    fast_playbook(&[
        ("name", "drill"),
        ("steps", "[50, 100]"),
        ("bake", "10s"),
        ("propagation", "5s"),
        ("hold", "80s"),
    ])
}

/// A child process killed when dropped (a failed assertion leaves nothing running).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The page's DOM after its script ran.
fn dump_dom(profile: &Path, url: &str) -> String {
    let out = headless(profile)
        .args(["--virtual-time-budget=1000", "--dump-dom", url])
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium --dump-dom failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `service -> share` of `region`, read from the shares table's cells.
fn shares_in(dom: &str, region: &str) -> BTreeMap<String, f64> {
    let mut shares = BTreeMap::new();
    for cell in dom.split("<td data-service=\"").skip(1) {
        let attr = |name: &str| {
            let start = cell.find(&format!("{name}=\""))? + name.len() + 2;
            let len = cell[start..].find('"')?;
            Some(cell[start..start + len].to_string())
        };
        let service = cell[..cell.find('"').expect("closing quote")].to_string();
        if attr("data-region").as_deref() == Some(region) {
            let share: f64 = attr("data-share")
                .expect("data-share")
                .parse()
                .expect("a number");
            shares.insert(service, share);
        }
    }
    shares
}

#[test]
fn the_page_shows_us_east_1_falling_to_0_and_coming_back_while_another_process_drills() {
    let kong = Kong::streaming(&playbook());
    // The simulator's world exists before the dashboard reads it.
    let baseline = kong.status();
    let profile = tempfile::tempdir().expect("profile dir");

    let mut dashboard = Running(
        kong.command(&["dashboard", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn kong dashboard"),
    );
    let mut lines = BufReader::new(dashboard.0.stdout.take().expect("stdout"));
    let url = loop {
        let mut line = String::new();
        assert!(
            lines.read_line(&mut line).expect("read") > 0,
            "kong dashboard ended before printing its URL"
        );
        if let Some(rest) = line.trim().strip_prefix("dashboard on ") {
            break rest.split(' ').next().expect("url").to_string();
        }
    };

    let before = shares_in(&dump_dom(profile.path(), &url), "us-east-1");
    assert_eq!(
        before.len(),
        baseline["shares"].as_object().unwrap().len(),
        "one cell per service: {before:?}"
    );
    for (service, share) in &before {
        let live = baseline["shares"][service]["us-east-1"].as_f64().unwrap();
        assert!(
            (share - live).abs() < 1e-4,
            "{service}: page {share}, status {live}"
        );
    }
    assert!(before.values().any(|s| *s > 0.0), "{before:?}");

    let drill_log = kong.path("drill.log");
    let mut drill = Running(
        kong.command(&[
            "drill",
            "us-east-1",
            "--yes",
            "--approve",
            "--time-scale",
            "10",
        ])
        .stdout(std::fs::File::create(&drill_log).expect("log"))
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn kong drill"),
    );

    let screenshot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    let started = Instant::now();
    let mut samples: Vec<f64> = Vec::new();
    let mut shot = false;
    let code = loop {
        let status = drill.0.try_wait().expect("poll drill");
        let most = shares_in(&dump_dom(profile.path(), &url), "us-east-1")
            .values()
            .fold(0.0_f64, |a, b| a.max(*b));
        samples.push(most);
        if most == 0.0 && !shot {
            // The evacuated view: the artifact (and the README's picture).
            let out = headless(profile.path())
                .args([
                    "--virtual-time-budget=1000",
                    "--window-size=1200,800",
                    &format!("--screenshot={}", screenshot.display()),
                    &url,
                ])
                .output()
                .expect("chromium --screenshot");
            assert!(out.status.success(), "{out:?}");
            shot = true;
        }
        if let Some(status) = status {
            break status.code();
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "drill still running after 5 min; samples {samples:?}"
        );
    };
    let log = std::fs::read_to_string(&drill_log).unwrap_or_default();
    assert_eq!(code, Some(0), "drill failed:\n{log}");

    let zero = samples
        .iter()
        .position(|s| *s == 0.0)
        .unwrap_or_else(|| panic!("us-east-1 never at 0 on the page: {samples:?}"));
    // The sample taken once the drill had ended (the loop's last) shows the restore.
    let after = shares_in(&dump_dom(profile.path(), &url), "us-east-1");
    assert!(
        samples[zero..].iter().any(|s| *s > 0.0) || after.values().any(|s| *s > 0.0),
        "us-east-1 did not come back: {samples:?}"
    );
    for (service, share) in &before {
        assert!(
            (after[service] - share).abs() < 1e-4,
            "{service} back at {} not {share}",
            after[service]
        );
    }
    let png = std::fs::read(&screenshot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    eprintln!(
        "samples of us-east-1's largest share: {samples:?}\nscreenshot: {}",
        screenshot.display()
    );
}
