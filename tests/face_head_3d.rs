//! The voice page's optional 3D head (three.js + facecap.glb, installed by
//! `scripts/download_models.sh --with-optional`), in headless Chromium against the server's
//! real HTTP router.
//!
//! Checked: with the files installed and `?face=3d` the page loads the head, maps all 52 ARKit
//! blendshapes to its morph targets, and a face frame pushed through the page's own path
//! (decode → schedule → render) sets the morph influence and changes the drawn pixels where it
//! should (jawOpen below the head's middle, eyeBlinkLeft above it); without the files it keeps
//! the built-in face and says why; `auto` never picks the head on software WebGL.
//!
//! Needs Debian's chromium, playwright-core (scripts/setup_browser_tests.sh) and the optional
//! face files. SCREENSHOT=path saves the page with the jaw open.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use goassist_e2e::{models_dir, workspace_root};
use goassist_inference::config;
use goassist_inference::http::{AppState, VENDOR_DIR, router};
use goassist_protocol::arkit::CurveIndex;
use goassist_protocol::face_frame::FaceFrame;
use serde_json::Value;

/// Serves the real router for a configuration whose MODELS_DIR is `models_dir` (model paths
/// absolute, so the face files are the only thing that differs). Returns the page URL.
async fn serve(models_dir: &Path) -> String {
    let models = goassist_e2e::models_dir();
    let vars: BTreeMap<String, String> = [
        ("MODELS_DIR", models_dir.to_path_buf()),
        ("MAX_CONCURRENT_SESSIONS", "1".into()),
        (
            "LLM_MODEL_PATH",
            models.join("llm/qwen2.5-0.5b-instruct-q8.gguf"),
        ),
        ("ASR_MODEL_PATH", models.join("asr/moonshine-base-en")),
        ("TTS_ENGINE", "piper".into()),
        (
            "TTS_MODEL_PATH",
            models.join("tts/piper/en_US-joe-medium.onnx"),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.display().to_string()))
    .collect();
    let state = AppState::new(config::validate(&vars).config.expect("valid config"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(state)).await.unwrap() });
    url
}

/// An encoded frame holding one pose; epochs rise so each supersedes the one before.
fn frame(epoch: u32, set: &[(usize, f32)]) -> Vec<u8> {
    let mut f = FaceFrame::neutral(7, epoch, epoch, 48_000 * u64::from(epoch));
    for &(i, v) in set {
        f.values[i] = v;
    }
    f.encode().to_vec()
}

fn close(v: &Value, want: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - want).abs() < 1e-3)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_voice_page_renders_the_3d_head_from_face_frames() {
    let models = models_dir();
    let vendor = models.join(VENDOR_DIR);
    assert!(
        vendor.join("facecap.glb").is_file() && vendor.join("three/build").is_dir(),
        "the optional 3D head is not installed in {}: run scripts/download_models.sh --with-optional",
        vendor.display()
    );
    let browser = workspace_root().join("tests/browser");
    assert!(
        browser.join("node_modules/playwright-core").exists(),
        "playwright-core is missing: run scripts/setup_browser_tests.sh"
    );
    let empty = std::env::temp_dir().join(format!("goassist-no-head-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let with_head = serve(&models).await;
    let without_head = serve(&empty).await;

    let frames = serde_json::json!({
        "neutral": frame(1, &[]),
        "jaw": frame(2, &[(CurveIndex::JAW_OPEN, 0.7)]),
        "blink": frame(3, &[(CurveIndex::EYE_BLINK_LEFT, 1.0)]),
    });
    let id = std::process::id();
    let frames_path = std::env::temp_dir().join(format!("goassist-3d-frames-{id}.json"));
    let out = std::env::temp_dir().join(format!("goassist-3d-{id}.json"));
    std::fs::write(&frames_path, frames.to_string()).unwrap();
    let mut node = tokio::process::Command::new("node");
    node.current_dir(&browser)
        .arg("face_3d.mjs")
        .args([&with_head, &without_head])
        .args([&frames_path, &out]);
    if let Ok(shot) = std::env::var("SCREENSHOT") {
        node.arg(shot);
    }
    let status = tokio::time::timeout(Duration::from_secs(180), node.status())
        .await
        .expect("the browser driver finished within 180 s")
        .expect("run node (install nodejs)");
    assert!(status.success(), "browser driver failed");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&empty);
    println!("{}", serde_json::to_string_pretty(&r).unwrap());
    let errors = r["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .all(|e| e.as_str().unwrap().starts_with("missing: ")),
        "page errors: {errors:?}"
    );

    // Without the files: the built-in face, and the page says why.
    assert_eq!(r["missing"]["kind"], "2d");
    let why = r["missing"]["why"].as_str().unwrap_or("");
    assert!(why.contains("not installed"), "reason: {why}");

    // auto: the head on a GPU, never on a CPU renderer (it would cost whole cores there).
    let auto_why = r["auto"]["why"].as_str().unwrap_or("");
    assert!(
        r["auto"]["kind"] == "3d" || auto_why.contains("WebGL"),
        "auto chose {} ({auto_why})",
        r["auto"]["kind"]
    );

    // Forced: the head, with every ARKit blendshape mapped to a morph target.
    assert_eq!(r["forced"]["kind"], "3d", "forced: {}", r["forced"]);
    assert_eq!(r["head"]["mapped"], 52);

    // The frames reached the mesh through decode and schedule.
    let poses = &r["poses"];
    assert!(close(&poses["neutral"]["jawOpen"], 0.0), "{poses}");
    assert!(close(&poses["jaw"]["jawOpen"], 0.7), "{poses}");
    assert!(close(&poses["jaw"]["eyeBlinkLeft"], 0.0), "{poses}");
    assert!(close(&poses["blink"]["eyeBlinkLeft"], 1.0), "{poses}");
    assert!(close(&poses["blink"]["jawOpen"], 0.0), "{poses}");

    // And the drawn head changed where it should: the jaw in the lower half of the picture (image
    // y grows downwards, as a fraction of the height), the eyelid well above the jaw.
    let jaw = &r["jaw_vs_neutral"];
    let blink = &r["blink_vs_neutral"];
    let y = |v: &Value| v["centroid_y"].as_f64().unwrap_or(f64::NAN);
    assert!(
        jaw["coverage"].as_f64().unwrap() > 0.1,
        "head not drawn: {jaw}"
    );
    assert!(jaw["changed"].as_f64().unwrap() > 0.005, "jaw: {jaw}");
    assert!(y(jaw) > 0.5, "jaw: {jaw}");
    assert!(blink["changed"].as_f64().unwrap() > 0.001, "blink: {blink}");
    assert!(y(blink) < y(jaw) - 0.15, "blink: {blink}, jaw: {jaw}");
}
