//! "The network is in the way", in a real browser, on both pages: the voice page (served by
//! the inference server) and the Profile C talk page (served by the Pixel Streaming proxy,
//! voice session on the inference server). Real server with the embedded models, real proxy,
//! headless Chromium whose launch flags create the conditions.
//!
//! Checked, on each page: opened over plain http:// from a host that is not localhost (the
//! browser then has no `navigator.mediaDevices`), the page says the microphone needs HTTPS and
//! disables "Connect"; from localhost it shows no help; with no UDP path to the server (the
//! browser forbidden any non-proxied UDP, as a network that blocks it), the connection fails
//! and the page says so and names what the operator sets (WEBRTC_PUBLIC_IPS, the UDP media
//! ports, TURN). The talk page also says why the avatar video cannot connect (PS_STUN_SERVER,
//! PS_TURN_SERVER) when Pixel Streaming's ICE finds no path (a stand-in streamer, Unreal cannot
//! run here, that announces only an unroutable address, as an unreachable render pod would).
//!
//! Needs Debian's chromium, playwright-core (scripts/setup_browser_tests.sh), the pages
//! (scripts/setup_pixelstream_frontend.sh) and the workspace binaries.

use std::process::Command;
use std::time::Duration;

use goassist_e2e::{PixelStreamProxy, Server, browser_test_dir, tail};
use serde_json::{Value, json};

/// Hosts that resolve to loopback in the browser but are not "localhost": no secure context.
const VOICE_HOST: &str = "goassist-voice.test";
const AVATAR_HOST: &str = "goassist-avatar.test";
/// Chromium's policy that leaves WebRTC no UDP path without a proxy: ICE cannot succeed.
const NO_UDP: &str = "--webrtc-ip-handling-policy=disable_non_proxied_udp";

#[test]
fn both_pages_say_what_is_wrong_and_what_the_operator_sets() {
    let browser = browser_test_dir();
    let streamer_secret = "network-help-streamer-secret-01";
    let proxy = PixelStreamProxy::start(&[("PS_STREAMER_SECRET", streamer_secret.into())]);
    let mut server = Server::start(&[]);
    server.wait_ready(Duration::from_secs(240));
    let (voice, avatar) = (server.port, proxy.player_port);
    let resolve =
        format!("--host-resolver-rules=MAP {VOICE_HOST} 127.0.0.1, MAP {AVATAR_HOST} 127.0.0.1");
    let standin = json!([
        format!(
            "ws://127.0.0.1:{}/?secret={streamer_secret}",
            proxy.streamer_port
        ),
        "Avatar-1",
        goassist_e2e::free_port().to_string(),
        "unreachable",
    ]);
    let cases = json!([
        { "name": "voice page over http from a named host", "url": format!("http://{VOICE_HOST}:{voice}/"),
          "flags": [resolve], "expect": "insecure-origin", "within_ms": 10000 },
        { "name": "talk page over http from a named host",
          "url": format!("http://{AVATAR_HOST}:{avatar}/talk/?voice=http://{VOICE_HOST}:{voice}&face=2d"),
          "flags": [resolve], "expect": "insecure-origin", "within_ms": 10000 },
        { "name": "voice page from localhost", "url": format!("http://127.0.0.1:{voice}/"),
          "flags": [], "expect": null, "within_ms": 2000 },
        { "name": "talk page from localhost",
          "url": format!("http://127.0.0.1:{avatar}/talk/?voice=http://127.0.0.1:{voice}&face=2d"),
          "flags": [], "expect": null, "within_ms": 2000 },
        { "name": "voice page without a UDP path", "url": format!("http://127.0.0.1:{voice}/"),
          "flags": [NO_UDP], "click": "#connect", "expect": "voice-ice-failed", "within_ms": 45000 },
        { "name": "talk page without a UDP path",
          "url": format!("http://127.0.0.1:{avatar}/talk/?voice=http://127.0.0.1:{voice}&face=2d"),
          "flags": [NO_UDP], "click": "#connect", "expect": "voice-ice-failed", "within_ms": 45000,
          "standin": standin, "talk_help": "video", "expect_talk": "video-ice-failed" },
    ]);
    let out =
        std::env::temp_dir().join(format!("goassist-network-help-{}.json", std::process::id()));
    let status = Command::new("node")
        .current_dir(&browser)
        .args([
            "network_help.mjs",
            out.to_str().unwrap(),
            &cases.to_string(),
        ])
        .status()
        .expect("run node (install nodejs)");
    assert!(status.success(), "the browser driver failed");
    let reports: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("driver output")).expect("JSON");
    let report = |name: &str| -> &Value {
        let r = reports
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no report for {name}"));
        println!("{name}: {r}");
        assert!(
            r["error"].is_null(),
            "{name}: {}\nserver log tail:\n{}",
            r["error"],
            tail(&server.logs(), 20)
        );
        r
    };
    let text = |r: &Value| r["text"].as_str().unwrap_or("").to_string();

    for name in [
        "voice page over http from a named host",
        "talk page over http from a named host",
    ] {
        let r = report(name);
        assert_eq!(r["problem"], "insecure-origin", "{name}");
        assert_eq!(r["visible"], true, "{name}");
        assert!(
            text(r).contains("HTTPS") && text(r).contains("http://"),
            "{name}: {}",
            text(r)
        );
        assert_eq!(
            r["connect_disabled"], true,
            "{name}: Connect stays enabled without a microphone"
        );
    }
    for name in ["voice page from localhost", "talk page from localhost"] {
        let r = report(name);
        assert_eq!(
            r["problem"],
            Value::Null,
            "{name}: help shown on a healthy page"
        );
        assert_eq!(r["visible"], false, "{name}");
        assert_eq!(r["connect_disabled"], false, "{name}");
    }
    for name in [
        "voice page without a UDP path",
        "talk page without a UDP path",
    ] {
        let r = report(name);
        assert_eq!(r["problem"], "voice-ice-failed", "{name}");
        let t = text(r);
        for setting in [
            "WEBRTC_PUBLIC_IPS",
            "WEBRTC_UDP_PORT_MIN",
            "WEBRTC_TURN_SERVER",
        ] {
            assert!(t.contains(setting), "{name} does not name {setting}: {t}");
        }
        println!("{name}: help after {} ms", r["after_ms"]);
    }
    let video = &report("talk page without a UDP path")["talk_help"];
    let fixes = video["fix"].to_string();
    assert!(
        fixes.contains("PS_TURN_SERVER") && fixes.contains("PS_STUN_SERVER"),
        "the video help does not name the proxy's ICE settings: {video}"
    );
}
