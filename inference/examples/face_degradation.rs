//! Degradation drill at the face-service boundary (runbook 14.1, the part that needs no full
//! WebRTC session): a simulated voice loop on its own thread sends 20 ms packets on a real-time
//! clock and hands each 1.5 s TTS segment to the face exactly as the voice session does
//! (`push_segment`, `report_send_position`). Runs over recorded answers:
//!   on        animation on (lam), nothing goes wrong;
//!   killed    the engine is killed mid-answer (from then on it panics), fallback `none`;
//!   switched  the admin kill-switch turns animation off mid-answer;
//!   off       animation off throughout (the control run).
//! Checks (on the `on`, `killed` and `switched` runs; `off` is the control that shows the
//! machine's own scheduling jitter): voice continues (no gap between sent packets longer than
//! 2 × 20 ms), the voice loop's time to its first packet (its share of TTFA) stays within 10 %
//! (+1 ms) of the `on` run at p95 after a fault, and the face ends at rest (eased to neutral). Prints PASS/FAIL with the
//! figures and exits 1 on FAIL. Run by scripts/test_avatar_degradation.sh.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use goassist_engines::EngineError;
use goassist_engines::face::headaudio::VisemeModel;
use goassist_engines::face::lam::{LamAnimator, LamConfig};
use goassist_engines::face::wav::{read_wav, to_48k};
use goassist_engines::face::{Animator, FaceValues};
use goassist_inference::face::service::EngineFactory;
use goassist_inference::face::{AnimationEngineKind, AnimationFallback, FaceService, FaceSettings};

const PACKET: u64 = 960;
const PACKET_TIME: Duration = Duration::from_millis(20);
const SEGMENT: u64 = 72_000;
/// The fault strikes after this many packets (2 s into the answer).
const FAULT_AT_PACKET: u64 = 100;

/// lam until the drill kills it; from then on every call panics, as an engine bug would.
struct Killable {
    inner: LamAnimator,
    killed: Arc<AtomicBool>,
}

impl Animator for Killable {
    fn animate(
        &mut self,
        a: &[f32],
        s: u64,
        p: &[String],
    ) -> Result<Vec<(u64, FaceValues)>, EngineError> {
        if self.killed.load(Ordering::SeqCst) {
            panic!("animation engine killed by the degradation drill");
        }
        self.inner.animate(a, s, p)
    }
    fn reset(&mut self) {
        self.inner.reset();
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Fault {
    None,
    KillEngine,
    KillSwitch,
}

struct Answer {
    max_gap: Duration,
    first_packet: Duration,
    push_times: Vec<Duration>,
    frames: usize,
    last_frame: Option<FaceValues>,
}

fn run_answer(
    service: &Arc<FaceService>,
    rt: &tokio::runtime::Runtime,
    audio: &Arc<[f32]>,
    session_id: u64,
    fault: Fault,
    killed: &AtomicBool,
) -> Answer {
    let mut session = service.open_session(session_id).expect("session");
    let control = session.control();
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    // The client side: takes every frame the session delivers.
    let collector = rt.spawn(async move {
        let (mut n, mut last) = (0usize, None);
        loop {
            tokio::select! {
                f = session.frames.recv() => match f {
                    Some(f) => { n += 1; last = Some(f.values); }
                    None => break,
                },
                _ = &mut stop_rx => break,
            }
        }
        (n, last)
    });
    let len = audio.len() as u64;
    let t0 = Instant::now();
    let (mut first_packet, mut last_send, mut max_gap) = (None, None::<Instant>, Duration::ZERO);
    let mut push_times = Vec::new();
    let (mut pos, mut next_segment, mut packet) = (0u64, 0u64, 0u64);
    while pos < len {
        // Hand the face the next segment one segment ahead of playout, as streamed TTS does.
        while next_segment < len && next_segment <= pos + SEGMENT {
            let end = (next_segment + SEGMENT).min(len);
            let started = Instant::now();
            control.push_segment(
                1,
                audio[next_segment as usize..end as usize].into(),
                next_segment,
                vec![],
            );
            push_times.push(started.elapsed());
            next_segment = end;
        }
        if let Some(wait) =
            (t0 + PACKET_TIME * packet as u32).checked_duration_since(Instant::now())
        {
            std::thread::sleep(wait);
        }
        let now = Instant::now(); // the packet goes out
        control.report_send_position(pos);
        first_packet.get_or_insert(now - t0);
        if let Some(prev) = last_send {
            max_gap = max_gap.max(now - prev);
        }
        last_send = Some(now);
        pos += PACKET;
        packet += 1;
        if packet == FAULT_AT_PACKET {
            match fault {
                Fault::None => {}
                Fault::KillEngine => killed.store(true, Ordering::SeqCst),
                Fault::KillSwitch => service.set_enabled(false),
            }
        }
    }
    // Let the ease run out (slow freeze + margin), then close.
    std::thread::sleep(Duration::from_millis(
        u64::from(service.settings().slow_freeze_ms) + 700,
    ));
    let _ = stop_tx.send(());
    let (frames, last_frame) = rt.block_on(collector).unwrap_or((0, None));
    Answer {
        max_gap,
        first_packet: first_packet.unwrap_or_default(),
        push_times,
        frames,
        last_frame,
    }
}

fn p95(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(((v.len() as f64 - 1.0) * 0.95).round() as usize)
        .copied()
        .unwrap_or_default()
}

fn main() {
    let models = std::env::var_os("MODELS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models"));
    let mut paths = vec![models.join("speech/jfk.wav")];
    for n in ["0870", "0890"] {
        paths.push(models.join(format!(
            "speech/librivox/sense_and_sensibility_01_austen_64kb-{n}.wav"
        )));
    }
    let answers: Vec<Arc<[f32]>> = paths
        .iter()
        .map(|p| {
            let wav =
                read_wav(p).unwrap_or_else(|e| panic!("{e} (run scripts/download_models.sh)"));
            to_48k(&wav.samples, wav.sample_rate).into()
        })
        .collect();
    let model = VisemeModel::load(&models.join("face/headaudio-model-en-mixed.bin"))
        .expect("HeadAudio model");
    let killed = Arc::new(AtomicBool::new(false));
    let factory: EngineFactory = {
        let killed = killed.clone();
        Arc::new(move |_kind: AnimationEngineKind| {
            Ok(Box::new(Killable {
                inner: LamAnimator::with_model(model.clone(), LamConfig::default()),
                killed: killed.clone(),
            }) as Box<dyn Animator>)
        })
    };
    let settings = FaceSettings {
        models_dir: models,
        fallback: AnimationFallback::None,
        ..FaceSettings::default()
    };
    let service = FaceService::start_with_factory(settings, factory);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();

    let mut id = 0;
    let mut run = |name: &str, fault: Fault, enabled: bool| -> Vec<Answer> {
        answers
            .iter()
            .map(|audio| {
                id += 1;
                killed.store(false, Ordering::SeqCst);
                service.set_enabled(enabled);
                let a = run_answer(&service, &rt, audio, id, fault, &killed);
                println!(
                    "  {name:<8} answer {id}: {:>5.1} s, max packet gap {:>5.1} ms, first packet {:>6.3} ms, face frames {:>4}, last frame at rest: {}",
                    audio.len() as f64 / 48_000.0,
                    a.max_gap.as_secs_f64() * 1e3,
                    a.first_packet.as_secs_f64() * 1e3,
                    a.frames,
                    a.last_frame.map_or("none".into(), |v| v.iter().all(|x| x.abs() < 1e-3).to_string()),
                );
                a
            })
            .collect()
    };
    println!("avatar degradation drill (face service boundary, simulated 20 ms voice loop)");
    let on = run("on", Fault::None, true);
    let killed_runs = run("killed", Fault::KillEngine, true);
    let switched = run("switched", Fault::KillSwitch, true);
    let off = run("off", Fault::None, false);
    service.set_enabled(true);

    let limit = PACKET_TIME * 2;
    let mut fails = Vec::new();
    // The animation-off run is the control: it shows the machine's own scheduling jitter.
    for (name, runs) in [
        ("on", &on),
        ("killed", &killed_runs),
        ("switched", &switched),
    ] {
        let gap = runs.iter().map(|a| a.max_gap).max().unwrap_or_default();
        if gap > limit {
            fails.push(format!(
                "{name}: packet gap {:.1} ms > {} ms",
                gap.as_secs_f64() * 1e3,
                limit.as_millis()
            ));
        }
    }
    let ttfa = |runs: &[Answer]| p95(runs.iter().map(|a| a.first_packet).collect());
    let base = ttfa(&on);
    for (name, runs) in [("killed", &killed_runs), ("switched", &switched)] {
        let t = ttfa(runs);
        if t > base.mul_f64(1.10) + Duration::from_millis(1) {
            fails.push(format!(
                "{name}: first-packet p95 {:.3} ms vs on {:.3} ms",
                t.as_secs_f64() * 1e3,
                base.as_secs_f64() * 1e3
            ));
        }
    }
    for (name, runs) in [("killed", &killed_runs), ("switched", &switched)] {
        for a in runs.iter() {
            if !a
                .last_frame
                .is_some_and(|v| v.iter().all(|x| x.abs() < 1e-3))
            {
                fails.push(format!("{name}: the face did not end at rest"));
            }
        }
    }
    let c = service.counters();
    if c.engine_panics == 0 || c.slow_freezes == 0 {
        fails.push(format!("counters did not record the faults: {c:?}"));
    }
    let pushes: Vec<Duration> = on
        .iter()
        .chain(&killed_runs)
        .chain(&switched)
        .flat_map(|a| a.push_times.clone())
        .collect();
    let push_max = pushes.iter().max().copied().unwrap_or_default();
    let push_p95 = p95(pushes);
    let control_gap = off.iter().map(|a| a.max_gap).max().unwrap_or_default();
    println!(
        "figures: first-packet p95 on {:.3} ms / killed {:.3} / switched {:.3} / off {:.3}; push_segment p95 {:.1} µs, max {:.1} µs; \
         max packet gap with animation off (control) {:.1} ms; engine panics {}, slow freezes {}, \
         frames dropped (disabled) {}",
        base.as_secs_f64() * 1e3,
        ttfa(&killed_runs).as_secs_f64() * 1e3,
        ttfa(&switched).as_secs_f64() * 1e3,
        ttfa(&off).as_secs_f64() * 1e3,
        push_p95.as_secs_f64() * 1e6,
        push_max.as_secs_f64() * 1e6,
        control_gap.as_secs_f64() * 1e3,
        c.engine_panics,
        c.slow_freezes,
        c.dropped_disabled,
    );
    if fails.is_empty() {
        println!("PASS");
    } else {
        for f in &fails {
            println!("  fail: {f}");
        }
        println!("FAIL");
        std::process::exit(1);
    }
}
