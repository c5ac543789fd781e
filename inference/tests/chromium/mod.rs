//! Finding and starting Debian's headless Chromium for the browser tests of this crate.

use std::process::Command;

/// Flags every test run needs: headless, no sandbox (CI runs as root), no GPU, and none of
/// Chromium's own network traffic (updates, sync, QUIC probes) leaving loopback.
pub const HEADLESS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// The browser to run: `CHROMIUM` if set, else the first of the usual names that runs. Fails
/// with the install command when there is none.
pub fn chromium() -> String {
    let candidates = match std::env::var("CHROMIUM") {
        Ok(chosen) => vec![chosen],
        Err(_) => vec![
            "chromium".into(),
            "chromium-browser".into(),
            "google-chrome".into(),
        ],
    };
    for candidate in &candidates {
        if Command::new(candidate)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return candidate.clone();
        }
    }
    panic!(
        "no runnable Chromium ({candidates:?}): install Debian's chromium (scripts/setup.sh does: apt-get install -y chromium) or set CHROMIUM"
    );
}
