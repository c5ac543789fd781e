//! End to end in a real browser: headless Chromium loads the player page (Epic's frontend,
//! bundled by scripts/setup_pixelstream_frontend.sh) from the proxy and receives real WebRTC
//! video from a test streamer page that speaks the streamer side of the protocol and sends a
//! canvas track. Success is `framesReceived > 0` in the frontend's inbound video stats.
//! Unreal cannot run here; the test streamer page stands in for it (named as such).

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::{Proxy, metric};
use goassist_pixelstream_proxy::Frontend;
use goassist_pixelstream_proxy::auth::{Audience, issue_token};

const SETUP: &str = "scripts/setup_pixelstream_frontend.sh";

fn frontend_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("frontend")
}

fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "{} not found: install Debian's chromium (apt-get install chromium) or set CHROMIUM",
        path.display()
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_plays_video_through_the_proxy() {
    let dir = frontend_dir();
    let frontend = Frontend::load(&dir.join("dist")).unwrap_or_else(|e| {
        panic!("{e}\nrun {SETUP} first (it installs the npm packages and bundles the page)")
    });
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "playwright-core missing in {}: run {SETUP}",
        dir.display()
    );
    let secret = "e2e-player-token-secret-0123";
    let streamer_secret = "e2e-streamer-secret-0123";
    let proxy = Proxy::start(
        &[
            ("PS_PLAYER_TOKEN_SECRET", secret),
            ("PS_STREAMER_SECRET", streamer_secret),
        ],
        frontend,
    )
    .await;
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 300;
    let token = issue_token(
        Audience::PixelStreamingPlayer,
        secret,
        "TestStreamer",
        expires,
    );
    // The page connects its signalling socket to its own origin, carrying the page's token.
    let page = format!(
        "http://{}/?token={token}&AutoConnect=true&AutoPlayVideo=true&StartVideoMuted=true",
        proxy.player
    );
    let signalling = format!("ws://{}/?secret={streamer_secret}", proxy.streamer);

    let child = tokio::process::Command::new("node")
        .arg(dir.join("e2e/e2e.mjs"))
        .args([&page, &signalling])
        .arg(chromium())
        .arg("60000")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): install node >= 18 and run {SETUP}"));
    let output = tokio::time::timeout(Duration::from_secs(90), child.wait_with_output())
        .await
        .expect("browser test finishes within 90 s")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let result: serde_json::Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no result from e2e.mjs\nstdout:\n{stdout}\nstderr:\n{stderr}"));
    assert_eq!(result["ok"], true, "{result:#}\nstderr:\n{stderr}");
    let frames = result["framesReceived"].as_u64().unwrap_or(0);
    assert!(frames > 0, "{result:#}");
    eprintln!("browser received {frames} video frames through the proxy");

    // The WebRTC negotiation went through the proxy's relay.
    let (_, text) = proxy.admin_get("/metrics").await;
    assert!(
        metric(
            &text,
            r#"goassist_pixelstream_messages_relayed_total{type="offer"}"#
        ) >= 1.0
    );
    assert!(
        metric(
            &text,
            r#"goassist_pixelstream_messages_relayed_total{type="answer"}"#
        ) >= 1.0
    );
    assert!(
        metric(
            &text,
            r#"goassist_pixelstream_messages_relayed_total{type="iceCandidate"}"#
        ) >= 1.0
    );
}
