//! A real browser against the endpoint: headless Debian Chromium with a fake microphone playing
//! a 440 Hz WAV offers audio and the two data channels over WHIP; the server must hear 440 Hz,
//! the browser must hear the server's 880 Hz (decoded samples read from the remote track),
//! events must round-trip on "events" and binary frames arrive on "face".

#[path = "../../tests/chromium/mod.rs"]
mod chromium;
mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use common::*;
use goassist_client::encode_wav_i16;
use goassist_inference::webrtc::{Peer, PeerEvent, WebRtcEndpoint};
use tokio::sync::{Mutex, mpsc};

const PAGE: &str = include_str!("assets/webrtc_probe.html");

#[derive(Clone)]
struct App {
    endpoint: WebRtcEndpoint,
    peers: mpsc::Sender<Peer>,
    results: mpsc::Sender<String>,
    sessions: Arc<Mutex<u32>>,
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

async fn whip(State(app): State<App>, headers: HeaderMap, body: String) -> impl IntoResponse {
    let is_sdp = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/sdp"));
    if !is_sdp {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            HeaderMap::new(),
            String::new(),
        );
    }
    match app.endpoint.accept_offer(&body).await {
        Ok((answer, peer)) => {
            let mut n = app.sessions.lock().await;
            *n += 1;
            let _ = app.peers.send(peer).await;
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, "application/sdp".parse().unwrap());
            h.insert(header::LOCATION, format!("/whip/{n}").parse().unwrap());
            (StatusCode::CREATED, h, answer)
        }
        Err(e) => (StatusCode::BAD_REQUEST, HeaderMap::new(), e.to_string()),
    }
}

async fn result(State(app): State<App>, body: String) -> StatusCode {
    let _ = app.results.send(body).await;
    StatusCode::NO_CONTENT
}

/// Kills the browser (our own child, by handle) however the test ends.
struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_chromium_exchanges_audio_and_data() {
    let chromium = chromium::chromium();

    let dir = std::env::temp_dir().join(format!("goassist-webrtc-chromium-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mic_wav = dir.join("mic_440hz.wav");
    std::fs::write(
        &mic_wav,
        encode_wav_i16(&tone(440.0, 0.5, 48_000 * 6, 0), 48_000),
    )
    .unwrap();

    // Bind on every interface, as in production (loopback included).
    let mut settings = loopback_settings(20);
    settings.bind_ip = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let endpoint = WebRtcEndpoint::new(settings);
    let (peers_tx, mut peers_rx) = mpsc::channel(4);
    let (results_tx, mut results_rx) = mpsc::channel(1);
    let app = App {
        endpoint,
        peers: peers_tx,
        results: results_tx,
        sessions: Arc::new(Mutex::new(0)),
    };
    let router = Router::new()
        .route("/", get(page))
        .route("/whip", post(whip))
        .route("/result", post(result))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });

    let log = std::fs::File::create(dir.join("chromium.log")).unwrap();
    let child = Command::new(&chromium)
        .args(chromium::HEADLESS)
        .args([
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            "--autoplay-policy=no-user-gesture-required",
            "--allow-loopback-in-peer-connection",
            "--disable-features=WebRtcHideLocalIpsWithMdns",
        ])
        .arg(format!(
            "--use-file-for-fake-audio-capture={}",
            mic_wav.display()
        ))
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("http://127.0.0.1:{http_port}/"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start chromium");
    let browser = Browser(child);
    let chromium_log = || std::fs::read_to_string(dir.join("chromium.log")).unwrap_or_default();

    let mut peer = match tokio::time::timeout(Duration::from_secs(40), peers_rx.recv()).await {
        Ok(Some(peer)) => peer,
        _ => panic!(
            "the browser never POSTed an offer; chromium log:\n{}",
            chromium_log()
        ),
    };

    // Serve the session until the page reports.
    let mut heard = Vec::new();
    let mut echoes = Vec::new();
    let mut connected = false;
    let mut face_task = None;
    let mut paced = None;
    let report = loop {
        tokio::select! {
            report = results_rx.recv() => break report.expect("report"),
            event = peer.events.recv() => match event {
                Some(PeerEvent::Connected) => {
                    connected = true;
                    let (sender, _sent) = pace(&peer, 5);
                    sender.push_audio(1, 1, tone(880.0, 0.5, 48_000 * 6, 0));
                    paced = Some(sender);
                    peer.handle.send_event(r#"{"type":"ping"}"#.into());
                    let handle = peer.handle.clone();
                    face_task = Some(tokio::spawn(async move {
                        for i in 0..300u32 {
                            handle.send_face(i.to_le_bytes().repeat(16));
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }));
                }
                Some(PeerEvent::AudioIn { samples_48k, .. }) => heard.extend(samples_48k),
                Some(PeerEvent::DataText { channel, text }) => echoes.push((channel, text)),
                Some(PeerEvent::Disconnected { reason }) => panic!("browser peer disconnected: {reason}"),
                Some(_) => {}
                None => panic!("peer events ended"),
            },
            () = tokio::time::sleep(Duration::from_secs(60)) => panic!("no report from the page; chromium log:\n{}", chromium_log()),
        }
    };
    drop(paced); // the assistant audio stops with the report
    if let Some(t) = face_task {
        t.abort();
    }
    drop(browser);
    let report: serde_json::Value = serde_json::from_str(&report).expect("JSON report");
    eprintln!("page report: {report}");
    assert_eq!(
        report["ok"],
        true,
        "page failed: {report}\nchromium log:\n{}",
        chromium_log()
    );
    assert!(connected);
    assert_eq!(report["whipStatus"], 201);

    // The browser decoded the server's 880 Hz tone.
    let hz = report["heard"]["hz"].as_f64().unwrap();
    let level = report["heard"]["rms"].as_f64().unwrap();
    assert!(
        (hz - 880.0).abs() < 10.0 && level > 0.2,
        "browser heard {hz} Hz at rms {level}: {report}"
    );
    assert!(
        report["inbound"]["packetsReceived"].as_u64().unwrap() > 100,
        "{report}"
    );

    // The server decoded the browser's fake microphone (440 Hz WAV).
    let (a, b) = loud_span(&heard, 0.1).expect("server heard the browser microphone");
    let f = zero_crossing_freq(&heard[a + 4800..b - 4800]);
    assert!((f - 440.0).abs() < 10.0, "server heard {f} Hz");

    // Events both ways and face frames to the browser.
    assert!(
        report["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == r#"{"type":"ping"}"#),
        "{report}"
    );
    assert!(
        echoes
            .iter()
            .any(|(c, t)| c == "events" && t.contains("echo")),
        "{echoes:?}"
    );
    assert!(report["faceCount"].as_u64().unwrap() > 10, "{report}");
    assert_eq!(report["faceBytes"], 64);
    let _ = std::fs::remove_dir_all(&dir);
}
