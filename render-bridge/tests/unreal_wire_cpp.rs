//! The Unreal plugin's engine-free decoder (unreal-plugin/.../GoAssistWire.h), compiled with
//! g++ (address and undefined-behaviour sanitizers on) and run against golden vectors that the
//! Rust encoders write here: both sides must decode the same bytes to the same numbers and
//! reject the same malformed packets. Needs g++ (Debian `g++`, scripts/setup.sh).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use goassist_protocol::FaceFrame;
use goassist_protocol::bridge_stream::{self, BridgeDatagram, BridgeStreamError};
use goassist_protocol::face_frame::FaceFrameError;
use goassist_protocol::livelink::{FrameTime, LiveLinkError, LiveLinkPacket};
use goassist_render_bridge::replay::synthetic_frame;

struct Vectors {
    dir: PathBuf,
    names: Vec<String>,
}

impl Vectors {
    fn add(&mut self, name: &str, bytes: &[u8], expect: String) {
        std::fs::write(self.dir.join(format!("{name}.bin")), bytes).unwrap();
        std::fs::write(self.dir.join(format!("{name}.expect")), expect).unwrap();
        self.names.push(name.to_string());
    }

    fn bridge(&mut self, name: &str, bytes: &[u8]) {
        let d = BridgeDatagram::decode(bytes).expect("valid vector");
        let mut e = String::from("kind bridge\nstatus ok\n");
        let f = &d.frame;
        writeln!(
            e,
            "avatar {}\nsession {}\nepoch {}",
            d.avatar_id, f.session_id, f.epoch
        )
        .unwrap();
        writeln!(e, "seq {}\nsample_pos {}", f.seq, f.sample_pos).unwrap();
        e.push_str(&values_line(&f.values));
        e.push_str("audio");
        for s in d.audio.unwrap_or_default() {
            write!(e, " {s}").unwrap();
        }
        e.push('\n');
        writeln!(e, "subject {}", d.subject.as_deref().unwrap_or("-")).unwrap();
        self.add(name, bytes, e);
    }

    fn livelink(&mut self, name: &str, bytes: &[u8]) {
        let p = LiveLinkPacket::decode(bytes).expect("valid vector");
        let mut e = String::from("kind livelink\nstatus ok\n");
        writeln!(e, "device_id {}\nsubject {}", p.device_id, p.subject).unwrap();
        writeln!(
            e,
            "frame {}\nsub_frame {:?}",
            p.time.frame, p.time.sub_frame
        )
        .unwrap();
        writeln!(
            e,
            "rate_numerator {}\nrate_denominator {}",
            p.time.rate_numerator, p.time.rate_denominator
        )
        .unwrap();
        e.push_str(&values_line(&p.values));
        self.add(name, bytes, e);
    }

    fn rejected(&mut self, name: &str, kind: &str, bytes: &[u8], status: &str) {
        self.add(name, bytes, format!("kind {kind}\nstatus {status}\n"));
    }
}

fn values_line(values: &[f32]) -> String {
    let mut line = String::from("values");
    for v in values {
        // `{:?}` is the shortest text that reads back to the same f32.
        write!(line, " {v:?}").unwrap();
    }
    line.push('\n');
    line
}

fn write_vectors(dir: &Path) -> usize {
    let mut v = Vectors {
        dir: dir.to_path_buf(),
        names: Vec::new(),
    };
    let mut golden = FaceFrame::neutral(0x0102_0304_0506_0708, 7, 42, 144_960);
    golden.values[17] = 0.5;
    golden.values[0] = 1.0;
    golden.values[52] = -0.25;
    v.bridge(
        "bridge_face_only",
        &bridge_stream::encode(3, &golden, None).unwrap(),
    );
    let audio = [1, -1, 0x1234, i16::MIN, i16::MAX];
    let with_audio = bridge_stream::encode(0x0A0B_0C0D, &golden, Some(&audio)).unwrap();
    v.bridge("bridge_with_audio", &with_audio);
    // Routed avatars: the subject name rides at the end (flag bit 1), after any audio.
    let mut with_subject = Vec::new();
    bridge_stream::encode_routed_into(3, &golden, None, Some("Ada"), &mut with_subject).unwrap();
    v.bridge("bridge_with_subject", &with_subject);
    let mut audio_subject = Vec::new();
    let longest = "Ä".repeat(32); // 64 bytes of two-byte UTF-8
    bridge_stream::encode_routed_into(9, &golden, Some(&audio), Some(&longest), &mut audio_subject)
        .unwrap();
    v.bridge("bridge_audio_and_subject", &audio_subject);
    for k in 0..4u32 {
        let mut f = synthetic_frame(k, u64::MAX - u64::from(k), u32::MAX - k, k * 13 + 1, 60);
        for (i, x) in f.values.iter_mut().enumerate() {
            // Cover the whole range of both encodings, negative rotations included.
            *x += ((i as f32 * 0.37 + k as f32).sin()).abs() * if i < 52 { 1.0 } else { -1.0 };
        }
        let bytes = bridge_stream::encode(k, &f, None).unwrap();
        v.bridge(&format!("bridge_synthetic_{k}"), &bytes);
    }
    let packet = LiveLinkPacket {
        device_id: "GA",
        subject: "GoAssist_0",
        time: FrameTime::from_sample_pos(144_400, 60),
        values: FaceFrame::decode(&golden.encode()).unwrap().values,
    };
    let ll = packet.encode().unwrap();
    v.livelink("livelink_short_ids", &ll);
    let long = LiveLinkPacket {
        device_id: "0123456789abcdef0123456789abcdef-gaX",
        ..packet.clone()
    };
    v.livelink("livelink_36_char_device", &long.encode().unwrap());

    // Malformed vectors: the Rust decoder's verdict, then the same verdict expected in C++.
    let face_only = bridge_stream::encode(3, &golden, None).unwrap();
    let cases: Vec<(&str, Vec<u8>, BridgeStreamError, &str)> = vec![
        (
            "bad_magic",
            patch(&face_only, 0, 0xFA),
            BridgeStreamError::Magic(0xFA),
            "magic",
        ),
        (
            "bad_version",
            patch(&face_only, 1, 2),
            BridgeStreamError::Version(2),
            "version",
        ),
        (
            "bad_flags",
            patch(&face_only, 2, 4),
            BridgeStreamError::Flags(4),
            "flags",
        ),
        (
            "bad_reserved",
            patch(&face_only, 3, 1),
            BridgeStreamError::Flags(1),
            "flags",
        ),
        (
            "zero_audio",
            patch(&patch(&with_audio, 158, 0), 159, 0),
            BridgeStreamError::AudioLength(0),
            "audio_length",
        ),
        (
            "inner_magic",
            patch(&face_only, 8, 0x00),
            BridgeStreamError::Frame(FaceFrameError::Magic(0)),
            "magic",
        ),
        (
            "inner_version",
            patch(&face_only, 9, 9),
            BridgeStreamError::Frame(FaceFrameError::Version(9)),
            "version",
        ),
        (
            "zero_subject",
            patch(&with_subject, 158, 0),
            BridgeStreamError::Subject,
            "subject",
        ),
        (
            "long_subject",
            patch(&with_subject, 158, 65),
            BridgeStreamError::Subject,
            "subject",
        ),
        (
            "subject_not_utf8",
            patch(&with_subject, 160, 0xC0),
            BridgeStreamError::Subject,
            "subject",
        ),
        (
            "subject_surrogate",
            [&with_subject[..158], &[3, 0xED, 0xA0, 0x80]].concat(),
            BridgeStreamError::Subject,
            "subject",
        ),
    ];
    for (name, bytes, rust_error, status) in cases {
        assert_eq!(
            BridgeDatagram::decode(&bytes).unwrap_err(),
            rust_error,
            "{name}"
        );
        v.rejected(&format!("bridge_{name}"), "bridge", &bytes, status);
    }
    let short = &face_only[..100];
    assert!(matches!(
        BridgeDatagram::decode(short),
        Err(BridgeStreamError::Length { .. })
    ));
    v.rejected("bridge_truncated", "bridge", short, "length");
    let mut long_audio = with_audio.clone();
    long_audio.push(0);
    assert!(matches!(
        BridgeDatagram::decode(&long_audio),
        Err(BridgeStreamError::Length { .. })
    ));
    v.rejected("bridge_trailing_byte", "bridge", &long_audio, "length");
    let past_end = patch(&with_subject, 158, 4);
    assert!(matches!(
        BridgeDatagram::decode(&past_end),
        Err(BridgeStreamError::Length { .. })
    ));
    v.rejected("bridge_subject_past_end", "bridge", &past_end, "length");

    let ll_cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("version", patch(&ll, 0, 5), "version"),
        (
            "curve_count",
            patch(&ll, 9 + 2 + 10 + 16, 52),
            "curve_count",
        ),
        ("negative_id", patch(&ll, 1, 0xFF), "string_length"),
        ("truncated", ll[..200].to_vec(), "length"),
        ("trailing", [&ll[..], &[0]].concat(), "trailing"),
    ];
    for (name, bytes, status) in ll_cases {
        let rust = LiveLinkPacket::decode(&bytes).unwrap_err();
        let agrees = matches!(
            (status, &rust),
            ("version", LiveLinkError::Version(_))
                | ("curve_count", LiveLinkError::CurveCount(_))
                | ("string_length", LiveLinkError::StringLength { .. })
                | ("length", LiveLinkError::Truncated { .. })
                | ("trailing", LiveLinkError::Trailing(_))
        );
        assert!(agrees, "{name}: Rust says {rust:?}");
        v.rejected(&format!("livelink_{name}"), "livelink", &bytes, status);
    }
    std::fs::write(dir.join("index.txt"), v.names.join("\n") + "\n").unwrap();
    v.names.len()
}

fn patch(bytes: &[u8], at: usize, value: u8) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[at] = value;
    out
}

#[test]
fn cpp_header_decodes_the_rust_golden_vectors() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let include = root.join("unreal-plugin/GoAssistLiveLink/Source/GoAssistLiveLink/Public");
    let source = root.join("unreal-plugin/tests/wire_test.cpp");
    let dir = std::env::temp_dir().join(format!("goassist-wire-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let count = write_vectors(&dir);
    let exe = dir.join("wire_test");
    let compiled = Command::new("g++")
        .args([
            "-std=c++17",
            "-O1",
            "-g",
            "-Wall",
            "-Wextra",
            "-Wpedantic",
            "-Werror",
        ])
        .args(["-fsanitize=address,undefined", "-fno-sanitize-recover=all"])
        .arg("-I")
        .arg(&include)
        .arg(&source)
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run g++ ({e}); install it (apt-get install g++, scripts/setup.sh)")
        });
    assert!(
        compiled.status.success(),
        "g++ failed:\n{}",
        String::from_utf8_lossy(&compiled.stderr)
    );
    let run = Command::new(&exe).arg(&dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "wire_test failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("checked {count} vectors, 0 failures")),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
