//! The Profile C talk page as the proxy serves it, and its decisions in virtual time.
//!
//! - The built bundle (scripts/setup_pixelstream_frontend.sh) is served at `/talk/` (and
//!   `/talk`) with its script and stylesheet, beside Epic's stock player at `/`.
//! - `frontend/test/talk_logic.test.mjs` (node:test): when the video counts as live, lost and
//!   back (the stall and resume rules), and what the network help says, with virtual time.
//!
//! The page in a real browser with the real servers: tests/profile_c_browser.rs and
//! tests/network_help_browser.rs in the workspace `tests/` crate.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{Proxy, http_get};
use goassist_pixelstream_proxy::Frontend;

const SETUP: &str = "scripts/setup_pixelstream_frontend.sh";

fn frontend_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("frontend")
}

#[tokio::test]
async fn the_talk_page_is_served_beside_the_player() {
    let dist = frontend_dir().join("dist");
    let frontend = Frontend::load(&dist)
        .unwrap_or_else(|e| panic!("{e}\nrun {SETUP} first (it bundles both pages)"));
    let proxy = Proxy::start(&[], frontend).await;
    for path in ["/talk/", "/talk"] {
        let (status, page) = http_get(proxy.player, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            page.contains("/talk/talk.js") && page.contains("/talk/talk.css"),
            "{path} is not the talk page:\n{page}"
        );
        assert!(
            page.contains("id=\"network-help\""),
            "{path} has no help box"
        );
    }
    let (status, script) = http_get(proxy.player, "/talk/talk.js").await;
    assert_eq!(status, 200);
    // The bundle carries Epic's library, the face renderer and the network help.
    for marker in ["listStreamers", "mouthSmileLeft", "WEBRTC_PUBLIC_IPS"] {
        assert!(script.contains(marker), "talk.js lacks {marker}");
    }
    assert_eq!(http_get(proxy.player, "/talk/talk.css").await.0, 200);
    let (status, player) = http_get(proxy.player, "/").await;
    assert_eq!(status, 200);
    assert!(player.contains("player.js"), "the stock player moved");
}

#[test]
fn the_talk_page_logic_passes_its_virtual_time_tests() {
    let output = Command::new("node")
        .current_dir(frontend_dir())
        .args(["--test", "test/"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): install node >= 18"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "node --test failed:\n{text}");
    let passed = text
        .lines()
        .find_map(|l| l.strip_prefix("# pass "))
        .and_then(|n| n.trim().parse::<u32>().ok())
        .unwrap_or(0);
    assert!(
        passed >= 8,
        "expected the talk page's tests to run:\n{text}"
    );
}
