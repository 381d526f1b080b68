//! Debian's `chromium`, headless, for the tests that read a page's DOM or take its
//! screenshot (ops/test.sh installs it).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The browser's path.
pub fn chromium() -> PathBuf {
    for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(candidate).exists() {
            return candidate.into();
        }
    }
    panic!(
        "Debian's chromium is not installed (no /usr/bin/chromium): run ops/test.sh, or `apt-get install -y chromium`"
    );
}

/// Headless Chromium on a closed network: no background connections, a fresh profile in
/// `profile`, stdin and stderr closed; the caller adds its flags and the URL.
pub fn headless(profile: &Path) -> Command {
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .stdin(Stdio::null())
    .stderr(Stdio::null());
    cmd
}
