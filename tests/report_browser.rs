//! The example drill's HTML report in a real browser: Debian's `chromium`, headless
//! (installed by `ops/test.sh`). The page must hold the three kinds of chart as `<svg>`
//! elements, and its screenshot must not be blank. The screenshot is kept as a test artifact
//! (`$KONG_TEST_ARTIFACTS`, default `<target>/tmp/artifacts/`); with
//! `KONG_UPDATE_SCREENSHOT=1` it also replaces `docs/report.png`, the README's picture.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;

pub mod support {
    pub mod chromium;
}

use support::chromium::headless as headless_chromium;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs headless Chromium on `url` with `extra` flags; returns stdout.
fn headless(url: &str, profile: &Path, extra: &[&str]) -> String {
    let out = headless_chromium(profile)
        .stderr(std::process::Stdio::piped())
        .args(extra)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A PNG's width, height, and the distinct byte values of its decompressed image data.
fn png_summary(bytes: &[u8]) -> (u32, u32, usize) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG signature");
    let mut at = 8;
    let (mut width, mut height) = (0, 0);
    let mut idat = Vec::new();
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let kind = &bytes[at + 4..at + 8];
        let data = &bytes[at + 8..at + 8 + len];
        match kind {
            b"IHDR" => {
                width = u32::from_be_bytes(data[0..4].try_into().unwrap());
                height = u32::from_be_bytes(data[4..8].try_into().unwrap());
            }
            b"IDAT" => idat.extend_from_slice(data),
            _ => {}
        }
        at += 12 + len;
    }
    let mut pixels = Vec::new();
    flate2::read::ZlibDecoder::new(idat.as_slice())
        .read_to_end(&mut pixels)
        .expect("the image data inflates");
    let mut seen = [false; 256];
    for b in &pixels {
        seen[*b as usize] = true;
    }
    (width, height, seen.iter().filter(|s| **s).count())
}

#[test]
fn the_example_drills_html_report_renders_in_chromium_with_its_charts() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("kong")
        .unwrap()
        .current_dir(root())
        .args([
            "drill",
            "us-east-1",
            "--topology",
            "topology/streaming.yaml",
            "--playbook",
            "playbooks/sim.yaml",
            "--time-scale",
            "100",
            "--yes",
            "--state-dir",
        ])
        .arg(dir.path().join("state"))
        .env("KONG_PROGRESS", "plain")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the example drill runs:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = stdout
        .lines()
        .find_map(|l| l.strip_prefix("drill report: "))
        .and_then(|l| l.split(" (HTML: ").nth(1))
        .map(|p| PathBuf::from(p.trim_end_matches(')')))
        .unwrap_or_else(|| panic!("kong drill prints the report's path: {stdout}"));
    let text = std::fs::read_to_string(&html).unwrap();
    for asset in ["<script", "<link", "http://", "https://", "@import", "url("] {
        let outside_svg_ns = text.replace("http://www.w3.org/2000/svg", "");
        assert!(
            !outside_svg_ns.contains(asset),
            "the report is self-contained, yet it has `{asset}`"
        );
    }

    let url = format!("file://{}", html.display());
    let profile = dir.path().join("chromium-profile");
    let dom = headless(&url, &profile, &["--dump-dom"]);
    for chart in ["traffic", "utilization", "check-1", "timeline"] {
        assert!(
            dom.contains(&format!("<figure id=\"chart-{chart}\"><svg")),
            "the DOM holds the {chart} chart as an <svg> element"
        );
    }
    assert!(dom.contains("<h2>Steps</h2>"), "{dom}");

    let artifacts = std::env::var_os("KONG_TEST_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("artifacts"));
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("report.png");
    let _ = std::fs::remove_file(&shot);
    headless(
        &url,
        &profile,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,1600",
        ],
    );
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    let (width, height, distinct) = png_summary(&png);
    assert_eq!((width, height), (1200, 1600));
    assert!(
        distinct > 48,
        "the screenshot is not blank: {distinct} distinct byte values in its pixels"
    );
    if std::env::var_os("KONG_UPDATE_SCREENSHOT").is_some() {
        // The README's picture: the top of the page, small.
        let small = artifacts.join("report-small.png");
        headless(
            &url,
            &profile,
            &[
                &format!("--screenshot={}", small.display()),
                "--window-size=1000,900",
            ],
        );
        std::fs::copy(&small, root().join("docs/report.png")).unwrap();
    }
}
