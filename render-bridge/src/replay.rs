//! Replay and record: send synthetic or recorded face streams to a bridge (or straight to the
//! Unreal plugin, which reads the same datagrams) without an inference server, and record what
//! an inference server sends.
//!
//! Recordings are JSON Lines, one frame per line, in send order:
//! `{"avatar":0,"session_id":1,"epoch":1,"seq":0,"sample_pos":0,"values":[61 numbers]}`;
//! instead of `values`, `curves` may map names to weights in any spelling
//! (`{"jawOpen":0.4,"EyeBlinkLeft":1}`, see [`goassist_protocol::arkit::index_of`]).
//! Frames are paced by `sample_pos` on the 48 kHz audio clock, as the inference server paces
//! them.
//!
//! Against a bridge with `BRIDGE_KEY`, replay seals each datagram with the key and record
//! accepts only datagrams sealed with it (`--sealed`), as the inference server and the bridge
//! do.

use std::io::{BufRead, Write};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use goassist_protocol::FaceFrame;
use goassist_protocol::arkit::{ARKIT_COUNT, CurveIndex, index_of};
use goassist_protocol::bridge_auth::{MAX_SEALED_LEN, Opener, Sealer};
use goassist_protocol::bridge_stream::{self, BridgeDatagram, MAX_DATAGRAM_LEN};
use serde_json::{Value, json};

/// Why a recording could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A line that is not a valid frame.
    #[error("line {line}: {problem}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// Reading or sending failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// One frame to send.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayFrame {
    /// Avatar id.
    pub avatar: u32,
    /// The frame.
    pub frame: FaceFrame,
}

/// A synthetic talking face: jaw and lips follow a 4 Hz syllable rhythm, the eyes blink every
/// 3 s, the head sways a little. `seq` counts frames at `fps`.
pub fn synthetic_frame(avatar: u32, session_id: u64, epoch: u32, seq: u32, fps: u32) -> FaceFrame {
    let fps = fps.max(1);
    let sample_pos = u64::from(seq) * 48_000 / u64::from(fps);
    let t = sample_pos as f32 / 48_000.0 + avatar as f32 * 0.37;
    let mut f = FaceFrame::neutral(session_id, epoch, seq, sample_pos);
    let syllable = (t * 4.0 * std::f32::consts::TAU).sin().max(0.0);
    f.values[CurveIndex::JAW_OPEN] = 0.6 * syllable;
    f.values[CurveIndex::MOUTH_FUNNEL] = 0.2 * (t * 1.3 * std::f32::consts::TAU).sin().abs();
    f.values[CurveIndex::MOUTH_SMILE_LEFT] = 0.15;
    f.values[CurveIndex::MOUTH_SMILE_RIGHT] = 0.15;
    let blink = if (t % 3.0) < 0.12 { 1.0 } else { 0.0 };
    f.values[CurveIndex::EYE_BLINK_LEFT] = blink;
    f.values[CurveIndex::EYE_BLINK_RIGHT] = blink;
    f.values[CurveIndex::HEAD_YAW] = 0.03 * (t * 0.5 * std::f32::consts::TAU).sin();
    f
}

/// Parses a JSON Lines recording.
pub fn parse_recording(reader: impl BufRead) -> Result<Vec<ReplayFrame>, ReplayError> {
    let mut frames = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |problem: String| ReplayError::Line {
            line: i + 1,
            problem,
        };
        let v: Value = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        frames.push(frame_from_json(&v).map_err(bad)?);
    }
    Ok(frames)
}

fn frame_from_json(v: &Value) -> Result<ReplayFrame, String> {
    let int = |k: &str| -> Result<u64, String> {
        match v.get(k) {
            None => Ok(0),
            Some(x) => x
                .as_u64()
                .ok_or(format!("`{k}` must be a non-negative integer")),
        }
    };
    let avatar = u32::try_from(int("avatar")?).map_err(|_| "`avatar` exceeds u32".to_string())?;
    let epoch = u32::try_from(int("epoch")?).map_err(|_| "`epoch` exceeds u32".to_string())?;
    let seq = u32::try_from(int("seq")?).map_err(|_| "`seq` exceeds u32".to_string())?;
    let mut frame = FaceFrame::neutral(int("session_id")?, epoch, seq, int("sample_pos")?);
    match (v.get("values"), v.get("curves")) {
        (Some(Value::Array(values)), None) => {
            if values.len() != ARKIT_COUNT {
                return Err(format!("`values` has {} entries, need 61", values.len()));
            }
            for (slot, x) in frame.values.iter_mut().zip(values) {
                *slot = x.as_f64().ok_or("`values` must be numbers")? as f32;
            }
        }
        (None, Some(Value::Object(curves))) => {
            for (name, x) in curves {
                let i = index_of(name).ok_or(format!("unknown curve `{name}`"))?;
                frame.values[i] = x.as_f64().ok_or(format!("`{name}` must be a number"))? as f32;
            }
        }
        _ => return Err("need exactly one of `values` (61 numbers) or `curves` (object)".into()),
    }
    Ok(ReplayFrame { avatar, frame })
}

/// One frame as a recording line.
pub fn frame_to_json(avatar: u32, f: &FaceFrame) -> String {
    json!({
        "avatar": avatar,
        "session_id": f.session_id,
        "epoch": f.epoch,
        "seq": f.seq,
        "sample_pos": f.sample_pos,
        "values": f.values.to_vec(),
    })
    .to_string()
}

/// Counts of a replay run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams the socket refused.
    pub failed: u64,
}

/// Sends frames paced by their audio clock: frame *k* leaves at `start + (pos_k − pos_0) /
/// 48 kHz`. With `audio`, each datagram carries a quiet 220 Hz tone up to the next frame.
pub fn send_paced(
    to: SocketAddr,
    frames: impl IntoIterator<Item = ReplayFrame>,
    audio: bool,
) -> Result<ReplaySummary, ReplayError> {
    send_paced_sealed(to, frames, audio, None)
}

/// [`send_paced`], each datagram sealed by `sealer` when given (for a bridge with
/// `BRIDGE_KEY`).
pub fn send_paced_sealed(
    to: SocketAddr,
    frames: impl IntoIterator<Item = ReplayFrame>,
    audio: bool,
    mut sealer: Option<Sealer>,
) -> Result<ReplaySummary, ReplayError> {
    let socket = UdpSocket::bind(if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" })?;
    let mut summary = ReplaySummary::default();
    let mut out = Vec::with_capacity(MAX_DATAGRAM_LEN);
    let mut origin: Option<u64> = None;
    let start = Instant::now();
    for ReplayFrame { avatar, frame } in frames {
        let base = *origin.get_or_insert(frame.sample_pos);
        let due = start
            + Duration::from_secs_f64(frame.sample_pos.saturating_sub(base) as f64 / 48_000.0);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let tone: Vec<i16>;
        let chunk = if audio {
            tone = (0..800u64)
                .map(|i| {
                    let t = (frame.sample_pos + i) as f32 / 48_000.0;
                    (2_000.0 * (t * 220.0 * std::f32::consts::TAU).sin()) as i16
                })
                .collect();
            Some(&tone[..])
        } else {
            None
        };
        if bridge_stream::encode_into(avatar, &frame, chunk, &mut out).is_err() {
            summary.failed += 1;
            continue;
        }
        if let Some(sealer) = &mut sealer {
            sealer.seal(&mut out, crate::sealing::unix_ms_now());
        }
        match socket.send_to(&out, to) {
            Ok(_) => summary.sent += 1,
            Err(_) => summary.failed += 1,
        }
    }
    Ok(summary)
}

/// The synthetic stream of `avatars` avatars for `seconds`, interleaved in send order.
pub fn synthetic_stream(
    avatars: u32,
    seconds: f64,
    fps: u32,
    epoch: u32,
) -> impl Iterator<Item = ReplayFrame> {
    let frames = (seconds * f64::from(fps)).ceil() as u32;
    (0..frames).flat_map(move |seq| {
        (0..avatars).map(move |avatar| ReplayFrame {
            avatar,
            frame: synthetic_frame(avatar, 0x6A00 + u64::from(avatar), epoch, seq, fps),
        })
    })
}

/// When a recording stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordLimits {
    /// At the latest after this long.
    pub duration: Duration,
    /// Or once this many frames are written.
    pub max_frames: Option<u64>,
}

/// Writes every valid datagram arriving on `socket` as a recording line until a limit is
/// reached. Returns how many frames were written; malformed datagrams are skipped.
pub fn record(
    socket: &UdpSocket,
    limits: RecordLimits,
    out: impl Write,
) -> Result<u64, ReplayError> {
    record_sealed(socket, limits, out, None)
}

/// [`record`]; with an `opener`, only datagrams sealed with its keys (fresh, not replayed)
/// are recorded.
pub fn record_sealed(
    socket: &UdpSocket,
    limits: RecordLimits,
    mut out: impl Write,
    mut opener: Option<Opener>,
) -> Result<u64, ReplayError> {
    let deadline = Instant::now() + limits.duration;
    let mut buf = vec![0u8; MAX_SEALED_LEN.max(MAX_DATAGRAM_LEN) + 1];
    let mut written = 0;
    loop {
        if limits.max_frames.is_some_and(|max| written >= max) {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        socket.set_read_timeout(Some(left.min(Duration::from_millis(50))))?;
        let n = match socket.recv(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let payload = match &mut opener {
            None => &buf[..n],
            Some(opener) => match opener.open(&buf[..n], crate::sealing::unix_ms_now()) {
                Ok(opened) => opened.payload,
                Err(_) => continue,
            },
        };
        if let Ok(d) = BridgeDatagram::decode(payload) {
            writeln!(out, "{}", frame_to_json(d.avatar_id, &d.frame))?;
            written += 1;
        }
    }
    out.flush()?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_faces_move_and_stay_in_range() {
        let frames: Vec<_> = synthetic_stream(2, 1.0, 60, 1).collect();
        assert_eq!(frames.len(), 120);
        assert_eq!(frames[1].avatar, 1);
        assert_eq!(frames[2].frame.sample_pos, 800);
        let jaw: Vec<f32> = frames
            .iter()
            .map(|f| f.frame.values[CurveIndex::JAW_OPEN])
            .collect();
        assert!(jaw.iter().any(|&j| j > 0.4) && jaw.contains(&0.0));
        for f in &frames {
            assert!(f.frame.values[..52].iter().all(|v| (0.0..=1.0).contains(v)));
        }
    }

    #[test]
    fn recordings_round_trip_and_accept_names() {
        let f = synthetic_frame(3, 9, 2, 5, 60);
        let text = format!(
            "{}\n\n{}\n",
            frame_to_json(3, &f),
            r#"{"avatar":1,"seq":6,"curves":{"jawOpen":0.5,"eyeBlink_L":1}}"#
        );
        let frames = parse_recording(text.as_bytes()).unwrap();
        assert_eq!(
            frames[0],
            ReplayFrame {
                avatar: 3,
                frame: f
            }
        );
        assert_eq!(frames[1].frame.values[CurveIndex::JAW_OPEN], 0.5);
        assert_eq!(frames[1].frame.values[CurveIndex::EYE_BLINK_LEFT], 1.0);
    }

    #[test]
    fn bad_recordings_name_the_line() {
        for (text, needle) in [
            ("{\"values\":[1,2]}", "61"),
            ("{\"curves\":{\"smirk\":1}}", "smirk"),
            ("not json", "column"),
            ("{\"avatar\":-1,\"values\":[]}", "avatar"),
            ("{}", "exactly one"),
        ] {
            let e = parse_recording(format!("\n{text}").as_bytes()).unwrap_err();
            assert!(e.to_string().contains(needle), "{e}");
            assert!(e.to_string().contains("line 2"), "{e}");
        }
    }
}
