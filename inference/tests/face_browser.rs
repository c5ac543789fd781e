//! The browser renderer (inference/web/face/face.js) in real headless Chromium: decoding the
//! 150-byte codec against Rust's encoder, scheduling by the playing RTP timestamp, the epoch
//! fence, the ease to neutral when frames stop, and the built-in 2D face's mouth following
//! jawOpen on the canvas.

mod chromium;

use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use goassist_protocol::{CurveIndex as C, FaceFrame};

const PAGE: &str = r#"<!doctype html><html><body><canvas id="c" width="200" height="200"></canvas>
<pre id="result">pending</pre>
<script type="module">
import { decodeFaceFrame, FaceScheduler, Face2D, PlayoutClock, attachFace, rtpDiff } from "/face/face.js";
const out = {};
try {
  const bytes = new Uint8Array(await (await fetch("/frames.bin")).arrayBuffer());
  const frames = [];
  for (let i = 0; i + 150 <= bytes.length; i += 150) frames.push(decodeFaceFrame(bytes.slice(i, i + 150).buffer));
  out.count = frames.length;
  out.first = { epoch: frames[0].epoch, seq: frames[0].seq, pos: frames[0].samplePos, session: String(frames[0].sessionId),
                jaw: frames[0].values[17], yaw: frames[0].values[52] };
  out.malformed = [decodeFaceFrame(new ArrayBuffer(10)), decodeFaceFrame(new Uint8Array(150).buffer), decodeFaceFrame(null)].map((x) => x === null);
  out.wrap = rtpDiff(5, 4294967290);

  // Scheduling by the playing RTP timestamp, through a fake receiver and a fake wall clock.
  let rtp = 0, wall = 0;
  const receiver = { getSynchronizationSources: () => [{ rtpTimestamp: rtp >>> 0, timestamp: wall }] };
  const clock = new PlayoutClock(receiver, { now: () => wall });
  const sched = new FaceScheduler({ slowFreezeMs: 200, stallMs: 100 });
  const speech = frames.filter((f) => f.epoch === 1);
  for (const f of speech) sched.push(f);
  out.sampled = [];
  const start = speech[0].samplePos;
  for (let k = 0; k < speech.length; k++) {
    rtp = start + k * 1600 + 800; wall += 1000 / 30;   // mid-way between frames k and k+1
    out.sampled.push(sched.poseAt(clock.position())[17]);
  }
  // Frames stop: the face eases to neutral rather than snapping.
  out.ease = [];
  for (let k = 0; k < 20; k++) { rtp += 1600; wall += 1000 / 30; out.ease.push(sched.poseAt(clock.position())[17]); }
  // Epoch fence: an old-epoch frame after a newer one is ignored.
  const fence = new FaceScheduler();
  const newer = frames.find((f) => f.epoch === 2);
  fence.push(newer);
  fence.push(speech[5]);
  out.fenceDropped = fence.stats.dropped;
  out.fenceJaw = fence.poseAt(newer.samplePos)[17];

  // The 2D face: count mouth-coloured pixels with the jaw closed and open.
  const canvas = document.getElementById("c");
  const face = new Face2D(canvas);
  const mouthPixels = (jaw) => {
    const w = new Float32Array(61); w[17] = jaw; face.render(w);
    const d = canvas.getContext("2d").getImageData(0, 0, 200, 200).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - 0x5b) < 12 && Math.abs(d[i + 1] - 0x1f) < 12 && Math.abs(d[i + 2] - 0x24) < 12) n++;
    return n;
  };
  out.mouth = [0, 0.3, 0.8].map(mouthPixels);

  // attachFace wiring: binary messages on the channel feed the scheduler; currentWeights() reads it.
  const channel = new EventTarget();
  const ctl = attachFace({ channel, canvas });
  channel.dispatchEvent(new MessageEvent("message", { data: bytes.slice(0, 150).buffer }));
  channel.dispatchEvent(new MessageEvent("message", { data: "{\"type\":\"transcript\"}" }));
  ctl.scheduler.poseAt(null);
  out.attached = ctl.currentWeights().jawOpen;
  out.windowApi = typeof ctl.jawOpen();
  ctl.stop();
} catch (e) { out.error = String(e) + " " + e.stack; }
document.getElementById("result").textContent = "RESULT " + JSON.stringify(out);
</script></body></html>"#;

/// Jaw curve of the epoch-1 frames: a slow sine, so interpolation and ordering are visible.
fn jaw_at(k: usize) -> f32 {
    0.4 + 0.35 * (k as f32 * 0.37).sin()
}

fn frames() -> Vec<u8> {
    let start = 4_294_960_000u64; // crosses the 32-bit RTP wrap during the run
    let mut bytes = Vec::new();
    for k in 0..40 {
        let mut f = FaceFrame::neutral(0xABCD, 1, k as u32, start + k as u64 * 1600);
        f.values[C::JAW_OPEN] = jaw_at(k);
        f.values[C::HEAD_YAW] = -0.25;
        bytes.extend_from_slice(&f.encode());
    }
    let mut newer = FaceFrame::neutral(0xABCD, 2, 100, start + 5 * 1600);
    newer.values[C::JAW_OPEN] = 0.9;
    bytes.extend_from_slice(&newer.encode());
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn face_js_decodes_schedules_eases_and_draws_in_chromium() {
    let browser = chromium::chromium();
    let js =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/web/face/face.js")).unwrap();
    let bin = frames();
    let app = Router::new()
        .route(
            "/",
            get(|| async { ([(header::CONTENT_TYPE, "text/html")], PAGE) }),
        )
        .route(
            "/face/face.js",
            get(move || {
                let js = js.clone();
                async move { ([(header::CONTENT_TYPE, "text/javascript")], js).into_response() }
            }),
        )
        .route(
            "/frames.bin",
            get(move || {
                let bin = bin.clone();
                async move { ([(header::CONTENT_TYPE, "application/octet-stream")], bin) }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let profile =
        std::env::temp_dir().join(format!("goassist-face-chromium-{}", std::process::id()));
    let output = tokio::time::timeout(
        Duration::from_secs(90),
        tokio::process::Command::new(&browser)
            .args(chromium::HEADLESS)
            .args(["--virtual-time-budget=10000", "--dump-dom"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(&url)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("chromium did not finish within 90 s")
    .unwrap();
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&output.stdout);
    let json = dom
        .split("RESULT ")
        .nth(1)
        .and_then(|s| s.split("</pre>").next())
        .unwrap_or_else(|| {
            panic!(
                "no result in the page: {dom}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    let json = json
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">");
    let r: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(r.get("error").is_none(), "page error: {}", r["error"]);

    // Decoding matches Rust's encoder.
    assert_eq!(r["count"], 41);
    assert_eq!(r["first"]["epoch"], 1);
    assert_eq!(r["first"]["session"], "43981");
    assert_eq!(r["first"]["pos"].as_u64(), Some(4_294_960_000));
    assert!((r["first"]["jaw"].as_f64().unwrap() - f64::from(jaw_at(0))).abs() < 1e-4);
    assert!((r["first"]["yaw"].as_f64().unwrap() + 0.25).abs() < 1e-4);
    assert_eq!(r["malformed"], serde_json::json!([true, true, true]));
    assert_eq!(r["wrap"], 11);

    // Scheduling: mid-way between frames k and k+1 the jaw is their average (despite the RTP wrap).
    let sampled: Vec<f64> = r["sampled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    for (k, jaw) in sampled.iter().enumerate().take(38) {
        let want = f64::from(jaw_at(k) + jaw_at(k + 1)) / 2.0;
        assert!((jaw - want).abs() < 0.01, "frame {k}: {jaw} vs {want}");
    }
    // Ease: held briefly, then monotonically down to neutral, never a snap.
    let ease: Vec<f64> = r["ease"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(ease.windows(2).all(|w| w[1] <= w[0] + 1e-9), "{ease:?}");
    assert!(ease.windows(2).all(|w| w[0] - w[1] < 0.3), "snap: {ease:?}");
    assert!(*ease.last().unwrap() < 1e-3, "{ease:?}");
    // Epoch fence.
    assert_eq!(r["fenceDropped"], 1);
    assert!((r["fenceJaw"].as_f64().unwrap() - 0.9).abs() < 1e-3);
    // The 2D mouth opens with the jaw.
    let mouth: Vec<u64> = r["mouth"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(
        mouth[0] < mouth[1] && mouth[1] < mouth[2],
        "mouth pixels {mouth:?}"
    );
    assert!(mouth[2] > 3 * mouth[0].max(1), "mouth pixels {mouth:?}");
    // Wiring.
    assert!((r["attached"].as_f64().unwrap() - f64::from(jaw_at(0))).abs() < 1e-4);
    assert_eq!(r["windowApi"], "number");
}
