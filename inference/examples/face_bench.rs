//! Lip-sync benchmark: runs recorded answers (JFK + five LibriVox clips, real speech) through
//! the face service in real time, as the voice loop would (TTS-sized segments pushed ahead of a
//! 20 ms packet clock), and measures
//! - the lag (in frames) that best aligns jawOpen with the audio envelope, and that correlation;
//! - the share of frames delivered before their audio is sent (so before it can play);
//! - frames dropped (late, queue, epoch);
//! - the lam engine's CPU cost per second of speech (single thread, wall time of `animate`).
//!
//! Usage: `cargo run --release -p goassist-inference --example face_bench [-- --fps 30]`.
//! Writes docs/benchmarks/face.md.

#[path = "../client/examples/support/machine.rs"]
mod machine;

use std::sync::Arc;
use std::time::{Duration, Instant};

use goassist_engines::face::Animator;
use goassist_engines::face::lam::{LamAnimator, LamConfig};
use goassist_engines::face::lipsync::{best_lag, loudness_at};
use goassist_engines::face::wav::{read_wav, to_48k};
use goassist_inference::face::{FaceService, FaceSettings};
use goassist_protocol::CurveIndex as C;

/// Clause-sized segments, as streamed TTS delivers them.
const SEGMENT_SAMPLES: usize = 48_000 * 3 / 2;
const PACKET: u64 = 960;

fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let rank = (p / 100.0 * (values.len() - 1) as f64).round() as usize;
    values[rank.min(values.len() - 1)]
}

fn main() {
    let fps: u32 = std::env::args()
        .skip_while(|a| a != "--fps")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let models = std::env::var_os("MODELS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models"));
    let mut recordings = vec![models.join("speech/jfk.wav")];
    let mut libri: Vec<_> = std::fs::read_dir(models.join("speech/librivox"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "wav"))
                .collect()
        })
        .unwrap_or_default();
    libri.sort();
    recordings.extend(libri);

    // 1. Engine alone: lag, correlation, CPU cost.
    let model = goassist_engines::face::headaudio::VisemeModel::load(
        &models.join("face/headaudio-model-en-mixed.bin"),
    )
    .expect("HeadAudio model (run scripts/download_models.sh)");
    let mut rows = Vec::new();
    let mut cost_ms_per_s = Vec::new();
    let mut lags = Vec::new();
    for path in &recordings {
        let wav = read_wav(path).expect("recording");
        let audio = to_48k(&wav.samples, wav.sample_rate);
        let mut lam = LamAnimator::with_model(
            model.clone(),
            LamConfig {
                fps,
                ..LamConfig::default()
            },
        );
        let mut frames = Vec::new();
        for (i, seg) in audio.chunks(SEGMENT_SAMPLES).enumerate() {
            let t = Instant::now();
            frames.extend(lam.animate(seg, (i * SEGMENT_SAMPLES) as u64, &[]).unwrap());
            let secs = seg.len() as f64 / 48_000.0;
            cost_ms_per_s.push(t.elapsed().as_secs_f64() * 1000.0 / secs);
        }
        let positions: Vec<u64> = frames.iter().map(|f| f.0).collect();
        let jaw: Vec<f32> = frames.iter().map(|f| f.1[C::JAW_OPEN]).collect();
        let loud = loudness_at(&audio, 0, &positions, 24_000 / u64::from(fps));
        let (lag, r) = best_lag(&jaw, &loud, 5);
        lags.push(lag);
        rows.push((
            path.file_name().unwrap().to_string_lossy().to_string(),
            audio.len() as f64 / 48_000.0,
            lag,
            r,
        ));
    }

    // 2. Through the service in real time: delivery before the audio goes out, drops.
    let settings = FaceSettings {
        models_dir: models.clone(),
        fps,
        ..FaceSettings::default()
    };
    let drop_ms = settings.drop_if_lag_ms;
    let service = FaceService::start(settings).expect("face service");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut early = 0u64;
    let mut total = 0u64;
    let mut margins_ms = Vec::new();
    let (mut late_first_segment, mut late_all) = (0usize, 0usize);
    let mut session_id = 0;
    for path in &recordings {
        session_id += 1;
        let wav = read_wav(path).unwrap();
        let audio: Arc<[f32]> = to_48k(&wav.samples, wav.sample_rate).into();
        let mut session = service.open_session(session_id).unwrap();
        let control = session.control();
        let len = audio.len() as u64;
        let (e, t, m, late) = runtime.block_on(async move {
            let t0 = Instant::now();
            let send_time = move |pos: u64| t0 + Duration::from_micros(pos * 1_000_000 / 48_000);
            // The voice loop: reports its send position every 20 ms packet and hands each
            // segment to the face one segment ahead of its playout.
            let pusher = tokio::spawn(async move {
                let mut next_segment = 0u64;
                let mut pos = 0u64;
                while pos < len {
                    while next_segment < len && next_segment <= pos + SEGMENT_SAMPLES as u64 {
                        let end = (next_segment + SEGMENT_SAMPLES as u64).min(len);
                        control.push_segment(
                            1,
                            audio[next_segment as usize..end as usize].into(),
                            next_segment,
                            vec![],
                        );
                        next_segment = end;
                    }
                    tokio::time::sleep_until(send_time(pos).into()).await;
                    control.report_send_position(pos);
                    pos += PACKET;
                }
            });
            let (mut early, mut total, mut margins) = (0u64, 0u64, Vec::new());
            let mut late_positions = Vec::new();
            let deadline = send_time(len) + Duration::from_millis(300);
            while let Ok(Some(frame)) =
                tokio::time::timeout_at(deadline.into(), session.frames.recv()).await
            {
                if frame.sample_pos >= len {
                    continue; // the ease after the answer
                }
                let now = Instant::now();
                let due = send_time(frame.sample_pos);
                total += 1;
                if now <= due {
                    early += 1;
                    margins.push((due - now).as_secs_f64() * 1000.0);
                } else {
                    margins.push(-((now - due).as_secs_f64() * 1000.0));
                    late_positions.push(frame.sample_pos);
                }
            }
            pusher.await.unwrap();
            (early, total, margins, late_positions)
        });
        early += e;
        total += t;
        margins_ms.extend(m);
        late_first_segment += late.iter().filter(|p| **p < SEGMENT_SAMPLES as u64).count();
        late_all += late.len();
    }
    let counters = service.counters();
    let speech_s: f64 = rows.iter().map(|r| r.1).sum();
    let expected_frames = (speech_s * f64::from(fps)).round();

    let machine = machine::cpu_model();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut cost = cost_ms_per_s.clone();
    let mut margins = margins_ms.clone();
    let cost_med = percentile(&mut cost, 50.0);
    let cost_p95 = percentile(&mut cost, 95.0);
    let margin_med = percentile(&mut margins, 50.0);
    let margin_p5 = percentile(&mut margins, 5.0);
    let within = lags.iter().filter(|l| l.abs() <= 1).count();

    let mut md = String::new();
    md.push_str("# Face (lip-sync) benchmark\n\n");
    md.push_str(&format!(
        "Machine: {machine}, {cores} cores visible, load average at the end `{}` (shared build machine). \
         Build: `{}`. Frame rate {fps} fps.\n\n",
        load.trim(),
        if cfg!(debug_assertions) {
            "dev profile (our crates opt-level 1, dependencies 3; CPU cost below is pessimistic)"
        } else {
            "release"
        }
    ));
    md.push_str("Reproduce: `cargo run --release -p goassist-inference --example face_bench` (add `-- --fps 60` for 60 fps).\n\n");
    md.push_str("Recordings are real speech (JFK 11 s; LibriVox *Sense and Sensibility* clips), resampled to 48 kHz and cut into 1.5 s segments as streamed TTS would deliver them.\n\n");
    md.push_str("## Lip sync (lam engine)\n\n| recording | seconds | best lag (frames) | r(jawOpen, loudness) |\n|---|---|---|---|\n");
    for (name, secs, lag, r) in &rows {
        md.push_str(&format!("| {name} | {secs:.1} | {lag:+} | {r:.3} |\n"));
    }
    md.push_str(&format!(
        "\nBest lag within ±1 frame: {within} of {} recordings (target: all). Positive lag = jaw trails the audio.\n\n",
        rows.len()
    ));
    md.push_str("## Delivery through the face service (real time, 20 ms packet clock)\n\n");
    md.push_str(&format!(
        "- frames of speech delivered: {total} (expected about {expected_frames:.0})\n\
         - delivered before their audio was sent: {:.1} % (margin median {margin_med:.0} ms, 5th percentile {margin_p5:.0} ms)\n\
         - frames delivered after their audio was sent: {late_all}, of which {late_first_segment} in an answer's first segment\n\
         - dropped: late {} (gate {drop_ms} ms), queue full {}, stale epoch {}; segments dropped {}\n\
         - engine failures: {} panics, {} timeouts, {} errors\n\n",
        100.0 * early as f64 / total.max(1) as f64,
        counters.dropped_late,
        counters.dropped_queue_full,
        counters.dropped_stale_epoch,
        counters.segments_dropped,
        counters.engine_panics,
        counters.engine_timeouts,
        counters.engine_errors,
    ));
    md.push_str(
        "Frames that miss belong to an answer's first segment (counted above): it reaches the face at the moment its \
         first packet is sent, so its first frames follow by the engine's compute time. Every later \
         segment is handed over one segment ahead of playout.\n\n",
    );
    md.push_str("## Engine CPU cost (lam, one thread)\n\n");
    md.push_str(&format!(
        "Per 1.5 s segment, milliseconds of compute per second of speech: median {cost_med:.2} ms/s, p95 {cost_p95:.2} ms/s \
         ({} segments) — a real-time factor of about {:.0}×.\n",
        cost_ms_per_s.len(),
        1000.0 / cost_med
    ));
    print!("{md}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/benchmarks/face.md");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::write(&out, md).unwrap();
    eprintln!("wrote {}", out.display());
}
