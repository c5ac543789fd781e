//! Cross-checks with decoders nobody here wrote: PyPI `pylivelinkface` reads the bridge's Live
//! Link Face packets, a PyPI `python-osc` server receives its VMC bundles. Needs python3 with
//! `pip install pylivelinkface==0.1 python-osc` (scripts/setup.sh installs them).

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use common::*;
use goassist_protocol::FaceFrame;
use goassist_protocol::arkit::{BLENDSHAPE_COUNT, UNREAL_NAMES};
use goassist_render_bridge::{Bridge, replay};
use serde_json::Value;

/// The Python the tests use: `GOASSIST_PYTHON`, else the workspace's `.venv` (scripts/setup.sh
/// installs the test packages there; PEP 668 keeps them out of the system Python), else
/// `python3` on PATH.
fn python() -> std::path::PathBuf {
    if let Some(python) = std::env::var_os("GOASSIST_PYTHON") {
        return python.into();
    }
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python3");
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}

const SETUP: &str = "python3 with `pip install pylivelinkface==0.1 python-osc` (scripts/setup.sh)";

/// Starts a receiver script; returns the child, its stdout lines and the port it bound.
fn start(script: &str, count: usize) -> (Child, std::io::Lines<BufReader<ChildStdout>>, u16) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let mut child = Command::new(python())
        .arg(&path)
        .arg(count.to_string())
        .arg("3")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}); this test needs {SETUP}"));
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines
        .next()
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("{script} printed nothing; this test needs {SETUP}"));
    assert!(
        !first.starts_with("MISSING-MODULE"),
        "{first}: this test needs {SETUP}"
    );
    let port = first.trim().parse().expect("port on the first line");
    (child, lines, port)
}

fn frames() -> Vec<FaceFrame> {
    (0..5)
        .map(|seq| replay::synthetic_frame(2, 0x77, 1, seq * 7, 60))
        .collect()
}

#[test]
fn pylivelinkface_decodes_the_same_61_values() {
    let sent = frames();
    let (mut child, lines, port) = start("livelink_receiver.py", sent.len());
    // pylivelinkface only frames its header correctly with a 36-character device id (it reads
    // the low byte of the length, 36 = '$', as the first character of its uuid).
    let device_id = "0123456789abcdef0123456789abcdef-gaX";
    assert_eq!(device_id.len(), 36);
    let cfg = config(&[
        ("BRIDGE_LIVELINK_ADDRS", format!("127.0.0.1:{port}")),
        ("BRIDGE_DEVICE_ID", device_id.into()),
        ("BRIDGE_STALL_MS", "5000".into()),
    ]);
    let bridge = Bridge::bind(cfg).unwrap().spawn().unwrap();
    let sender = listener(Duration::from_secs(1));
    for f in &sent {
        send(&sender, bridge.ingest_addr, 2, f, None);
        std::thread::sleep(Duration::from_millis(5));
    }
    let decoded: Vec<Value> = lines
        .take(sent.len())
        .map(|l| serde_json::from_str(&l.expect("line")).expect("json"))
        .collect();
    let _ = child.wait();
    bridge.stop().unwrap();
    assert_eq!(decoded.len(), sent.len(), "pylivelinkface got every packet");
    for (f, d) in sent.iter().zip(&decoded) {
        // What the bridge forwards is what it decoded from the wire (16-bit quantized).
        let want = FaceFrame::decode(&f.encode()).unwrap().values;
        assert_eq!(d["ok"], true, "{d}");
        assert_eq!(d["subject"], "GoAssist_2");
        assert_eq!(d["device"], format!("${device_id}"));
        assert_eq!(d["fps"], 60);
        let got: Vec<f32> = d["values"]
            .as_array()
            .expect("values")
            .iter()
            .map(|v| v.as_f64().expect("number") as f32)
            .collect();
        assert_eq!(got, want.to_vec(), "all 61 values, bit for bit");
        assert_eq!(d["jaw_open"].as_f64().unwrap() as f32, want[17]);
    }
    assert!(
        decoded
            .iter()
            .any(|d| d["jaw_open"].as_f64().unwrap() > 0.1),
        "the test moves the jaw"
    );
}

#[test]
fn python_osc_receives_the_vmc_bundles() {
    let sent = frames();
    let (mut child, lines, port) = start("vmc_receiver.py", sent.len());
    let cfg = config(&[
        ("BRIDGE_LIVELINK_ADDRS", "off".into()),
        ("BRIDGE_VMC_ADDR", format!("127.0.0.1:{port}")),
        ("BRIDGE_STALL_MS", "5000".into()),
    ]);
    let bridge = Bridge::bind(cfg).unwrap().spawn().unwrap();
    let sender = listener(Duration::from_secs(1));
    for f in &sent {
        send(&sender, bridge.ingest_addr, 0, f, None);
        std::thread::sleep(Duration::from_millis(5));
    }
    let received: Vec<Value> = lines
        .take(sent.len())
        .map(|l| serde_json::from_str(&l.expect("line")).expect("json"))
        .collect();
    let _ = child.wait();
    bridge.stop().unwrap();
    assert_eq!(received.len(), sent.len(), "one apply per frame");
    for (f, r) in sent.iter().zip(&received) {
        let want = FaceFrame::decode(&f.encode()).unwrap().values;
        let blend = r["blend"].as_object().expect("blend map");
        assert_eq!(blend.len(), BLENDSHAPE_COUNT, "{r}");
        for (i, name) in UNREAL_NAMES.iter().enumerate().take(BLENDSHAPE_COUNT) {
            let got = blend[*name].as_f64().expect("value") as f32;
            assert_eq!(got, want[i], "{name}");
        }
        let t = r["time"].as_f64().expect("time");
        assert!((t - f.sample_pos as f64 / 48_000.0).abs() < 1e-3);
        assert_eq!(r["head"].as_array().map(Vec::len), Some(7));
        assert_eq!(r["ok"], serde_json::json!([1]));
    }
}
