//! The Audio2Face-3D client against `a2f_standin` (a stand-in speaking NVIDIA's gRPC protocol;
//! the real service needs an NVIDIA GPU), and the service's fallback when the primary fails.
//! The client's calls run on a runtime standing for the server's: the animator only waits on a
//! channel, as on a session's engine thread.

#[path = "face_support/mod.rs"]
mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::a2f_standin::{A2fStandin, Behaviour};
use common::{collect, jfk_48k, settings, take};
use goassist_engines::EngineError;
use goassist_engines::face::lipsync::{best_lag, loudness_at};
use goassist_engines::face::{Animator, FaceValues};
use goassist_inference::config::Secret;
use goassist_inference::face::audio2face::{
    Audio2FaceAnimator, Audio2FaceClient, Audio2FaceConfig,
};
use goassist_inference::face::{AnimationEngineKind, AnimationFallback, FaceService, FaceStatus};
use goassist_protocol::CurveIndex as C;

/// Stands for the server's tokio runtime.
fn server_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn client(runtime: &tokio::runtime::Runtime, url: String) -> Audio2FaceAnimator {
    let config = Audio2FaceConfig {
        url,
        fps: 30,
        connect_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_secs(5),
        api_key: None,
    };
    Audio2FaceAnimator::new(Audio2FaceClient::new(config, runtime.handle().clone()))
}

#[test]
fn streams_pcm_and_maps_names_and_time_codes() {
    let standin = A2fStandin::start(Behaviour::Normal);
    let runtime = server_runtime();
    let mut a2f = client(&runtime, standin.url());
    let audio = jfk_48k();
    let start = 1_000_000;
    let frames = a2f.animate(&audio[..48_000 * 4], start, &[]).unwrap();
    // The request: one header (PCM, mono, 16 kHz, 16-bit), all the audio, then EndOfAudio.
    {
        let seen = standin.seen.lock().unwrap();
        assert_eq!(seen.clips, 1);
        let h = &seen.headers[0];
        assert_eq!(
            (
                h.audio_format,
                h.channel_count,
                h.samples_per_second,
                h.bits_per_sample
            ),
            (0, 1, 16_000, 16)
        );
        assert_eq!(seen.samples, 16_000 * 4);
        assert!(seen.ended_with_end_of_audio);
        assert_eq!(seen.authorization, None, "no key configured, none sent");
    }
    // The answer on our grid and clock, names mapped into ARKit order.
    assert_eq!(frames.len(), 120);
    assert!(
        frames
            .iter()
            .enumerate()
            .all(|(i, f)| f.0 == start + i as u64 * 1600)
    );
    let f: &FaceValues = &frames[40].1;
    assert!(
        (f[C::MOUTH_CLOSE] - 0.05).abs() < 1e-6,
        "MouthClose by name"
    );
    assert!(
        (f[C::BROW_INNER_UP] - 0.1).abs() < 1e-6,
        "BrowInnerUp by name"
    );
    assert_eq!(f[C::EYE_BLINK_RIGHT], 0.0);
    assert!(
        f.iter().all(|v| *v != 0.9),
        "the unknown name leaked into a curve"
    );
    // Time codes → positions: the stand-in's jaw follows loudness, so ours must too, unshifted.
    let positions: Vec<u64> = frames.iter().map(|f| f.0).collect();
    let jaw: Vec<f32> = frames.iter().map(|f| f.1[C::JAW_OPEN]).collect();
    let loud = loudness_at(&audio[..48_000 * 4], start, &positions, 800);
    let (lag, r) = best_lag(&jaw, &loud, 3);
    assert!(r > 0.8 && lag == 0, "lag {lag} r {r}");
    // A second clip reuses the connection.
    a2f.animate(&audio[..48_000], start + 192_000, &[]).unwrap();
    let seen = standin.seen.lock().unwrap();
    assert_eq!((seen.clips, seen.connections), (2, 1));
}

#[test]
fn service_errors_and_unreachable_servers_are_engine_errors() {
    let standin = A2fStandin::start(Behaviour::Error);
    let runtime = server_runtime();
    let err = client(&runtime, standin.url())
        .animate(&[0.1; 4800], 0, &[])
        .unwrap_err();
    assert!(
        matches!(&err, EngineError::Runtime { reason, .. } if reason.contains("stand-in told to fail")),
        "{err}"
    );
    // Nothing listens on this port (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = client(&runtime, format!("http://127.0.0.1:{port}"))
        .animate(&[0.1; 4800], 0, &[])
        .unwrap_err();
    assert!(err.to_string().contains("cannot connect"), "{err}");
}

fn a2f_settings(
    url: String,
    fallback: AnimationFallback,
) -> goassist_inference::face::FaceSettings {
    let mut s = settings();
    s.engine = AnimationEngineKind::Audio2Face;
    s.fallback = fallback;
    s.audio2face_url = Some(url);
    s.deadline = Duration::from_millis(300);
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_animates_through_audio2face() {
    let standin = A2fStandin::start(Behaviour::Normal);
    let mut settings = a2f_settings(standin.url(), AnimationFallback::Lam);
    settings.audio2face_api_key = Some(Secret::new("nvapi-test-key"));
    let service = FaceService::start(settings).unwrap();
    let mut session = service.open_session(5).unwrap();
    session.push_segment(1, jfk_48k()[..48_000].into(), 0, vec![]);
    let frames = take(&mut session, 30, Duration::from_secs(20)).await;
    assert_eq!(frames.len(), 30);
    assert_eq!(service.status(), FaceStatus::Healthy);
    assert_eq!(service.counters().fallback_switches, 0);
    assert!(
        frames
            .iter()
            .all(|f| (f.values[C::MOUTH_CLOSE] - 0.05).abs() < 1e-4),
        "from the stand-in"
    );
    assert_eq!(
        standin.seen.lock().unwrap().authorization.as_deref(),
        Some("Bearer nvapi-test-key"),
        "AUDIO2FACE_API_KEY travels as a bearer token"
    );
}

/// One client for the whole server: sessions share its connection, and its calls run on the
/// server's runtime — here a single-threaded one, which a blocking call would stall.
#[tokio::test]
async fn every_session_shares_one_connection_on_the_servers_runtime() {
    let standin = A2fStandin::start(Behaviour::Normal);
    let service = FaceService::start(a2f_settings(standin.url(), AnimationFallback::None)).unwrap();
    let audio = jfk_48k();
    let mut sessions: Vec<_> = (20..23)
        .map(|id| service.open_session(id).unwrap())
        .collect();
    for session in &sessions {
        session.push_segment(1, audio[..48_000].into(), 0, vec![]);
    }
    for session in &mut sessions {
        let frames = take(session, 30, Duration::from_secs(20)).await;
        assert_eq!(frames.len(), 30);
        assert!(
            frames
                .iter()
                .all(|f| (f.values[C::MOUTH_CLOSE] - 0.05).abs() < 1e-4),
            "from the stand-in"
        );
    }
    let seen = standin.seen.lock().unwrap().clone();
    assert_eq!((seen.clips, seen.connections), (3, 1), "{seen:?}");
    assert_eq!(service.status(), FaceStatus::Healthy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_audio2face_falls_back_to_lam_and_reports_degraded() {
    let standin = A2fStandin::start(Behaviour::Hang);
    let service = FaceService::start(a2f_settings(standin.url(), AnimationFallback::Lam)).unwrap();
    let mut session = service.open_session(6).unwrap();
    let audio = jfk_48k();
    session.push_segment(1, audio[..48_000].into(), 0, vec![]);
    let frames = take(&mut session, 30, Duration::from_secs(20)).await;
    assert_eq!(frames.len(), 30, "the fallback animates the same segment");
    assert_eq!(
        frames[0].sample_pos, 0,
        "no gap: the failed segment is covered from its start"
    );
    assert!(
        frames.iter().all(|f| f.values[C::MOUTH_CLOSE] != 0.05),
        "frames are lam's"
    );
    let c = service.counters();
    assert_eq!((c.engine_timeouts, c.fallback_switches), (1, 1), "{c:?}");
    assert!(
        matches!(service.status(), FaceStatus::Degraded { reason } if reason.contains("audio2face"))
    );
    // Later segments go straight to the fallback, no further deadline waits.
    session.push_segment(1, audio[48_000..96_000].into(), 48_000, vec![]);
    assert_eq!(
        take(&mut session, 30, Duration::from_secs(20)).await.len(),
        30
    );
    assert_eq!(service.counters().engine_timeouts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_fallback_the_face_eases_to_neutral_and_voice_is_untouched() {
    let standin = A2fStandin::start(Behaviour::Normal);
    let service = FaceService::start(a2f_settings(standin.url(), AnimationFallback::None)).unwrap();
    let mut session = service.open_session(8).unwrap();
    let audio = jfk_48k();
    session.push_segment(1, audio[..48_000].into(), 0, vec![]);
    let speech = take(&mut session, 30, Duration::from_secs(20)).await;
    assert_eq!(speech.len(), 30);
    drop(standin); // the service dies mid-answer
    let accepted = session.push_segment(1, audio[48_000..96_000].into(), 48_000, vec![]);
    assert!(accepted, "pushing never fails because the engine did");
    // Voice goes on: the voice loop has sent the first segment's audio.
    session.report_send_position(48_000);
    let ease = collect(
        &mut session,
        Duration::from_millis(800),
        Duration::from_secs(10),
    )
    .await;
    assert!(ease.iter().all(|f| f.sample_pos >= 48_000));
    assert!(ease.len() >= 3, "no gradual ease: {} frames", ease.len());
    assert!(ease.last().unwrap().values.iter().all(|v| v.abs() < 1e-3));
    let c = service.counters();
    assert!(c.engine_errors + c.engine_timeouts >= 1, "{c:?}");
    assert_eq!(c.fallback_switches, 0);
    assert!(matches!(service.status(), FaceStatus::Degraded { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_engine_is_contained() {
    struct Panics;
    impl Animator for Panics {
        fn animate(
            &mut self,
            _: &[f32],
            _: u64,
            _: &[String],
        ) -> Result<Vec<(u64, FaceValues)>, EngineError> {
            // The same unwinding as panic!, minus the panic hook: with RUST_BACKTRACE=1 (CI) on
            // a busy machine the hook's backtrace took over 2 s to symbolize, so the fallback's
            // frames came too late for their audio and were (rightly) dropped.
            std::panic::resume_unwind(Box::new("engine bug"));
        }
        fn reset(&mut self) {}
    }
    let base = FaceService::start(settings()).unwrap();
    let lam_settings = base.settings().clone();
    let model = goassist_engines::face::headaudio::VisemeModel::load(
        &lam_settings
            .models_dir
            .join("face/headaudio-model-en-mixed.bin"),
    )
    .unwrap();
    let factory: goassist_inference::face::service::EngineFactory =
        Arc::new(move |kind| match kind {
            AnimationEngineKind::Audio2Face => Ok(Box::new(Panics) as Box<dyn Animator>),
            AnimationEngineKind::Lam => Ok(Box::new(
                goassist_engines::face::lam::LamAnimator::with_model(
                    model.clone(),
                    Default::default(),
                ),
            ) as Box<dyn Animator>),
        });
    let mut s = settings();
    s.engine = AnimationEngineKind::Audio2Face;
    // Generous: unwinding with backtraces on a loaded machine is slow, and this test is about
    // the panic, not the deadline.
    s.deadline = Duration::from_secs(5);
    let service = FaceService::start_with_factory(s, factory);
    let mut session = service.open_session(10).unwrap();
    session.push_segment(1, jfk_48k()[..48_000].into(), 0, vec![]);
    let frames = take(&mut session, 30, Duration::from_secs(20)).await;
    assert_eq!(frames.len(), 30);
    let c = service.counters();
    assert_eq!((c.engine_panics, c.fallback_switches), (1, 1), "{c:?}");
    assert!(
        matches!(service.status(), FaceStatus::Degraded { reason } if reason.contains("engine bug"))
    );
}

/// Driven by events: the factory records when it builds, and the test waits for the rebuild
/// (bounded) instead of sleeping past the retry delay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_without_engines_retries_its_primary_after_the_delay() {
    use std::sync::atomic::{AtomicBool, Ordering};
    /// Fails while `broken` is set; otherwise one frame per 1600 samples.
    struct Flaky(Arc<AtomicBool>);
    impl Animator for Flaky {
        fn animate(
            &mut self,
            audio: &[f32],
            start: u64,
            _: &[String],
        ) -> Result<Vec<(u64, FaceValues)>, EngineError> {
            if self.0.load(Ordering::SeqCst) {
                return Err(EngineError::Runtime {
                    engine: "flaky",
                    reason: "broken".into(),
                });
            }
            let mut pose = goassist_engines::face::NEUTRAL;
            pose[C::JAW_OPEN] = 0.5;
            Ok((0..audio.len() as u64 / 1600)
                .map(|i| (start + i * 1600, pose))
                .collect())
        }
        fn reset(&mut self) {}
    }
    let broken = Arc::new(AtomicBool::new(true));
    let builds = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let (flag, built) = (broken.clone(), builds.clone());
    let factory: goassist_inference::face::service::EngineFactory = Arc::new(move |_| {
        built.lock().unwrap().push(Instant::now());
        Ok(Box::new(Flaky(flag.clone())) as Box<dyn Animator>)
    });
    let retry_after = Duration::from_millis(400);
    let mut s = settings();
    s.fallback = AnimationFallback::None;
    s.engine_retry_after = retry_after;
    let service = FaceService::start_with_factory(s, factory);
    let mut session = service.open_session(11).unwrap();
    let audio = jfk_48k();
    session.push_segment(1, audio[..16_000].into(), 0, vec![]);
    let give_up = Instant::now() + Duration::from_secs(10);
    while service.counters().engine_errors == 0 {
        assert!(Instant::now() < give_up, "the broken engine never failed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Repaired: keep speaking until the session rebuilds its engine.
    broken.store(false, Ordering::SeqCst);
    let mut pos = 200_000;
    while builds.lock().unwrap().len() < 2 {
        assert!(Instant::now() < give_up, "no retry within 10 s");
        session.report_send_position(pos);
        session.push_segment(1, audio[..16_000].into(), pos, vec![]);
        pos += 16_000;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let times = builds.lock().unwrap().clone();
    assert!(
        times[1] - times[0] >= retry_after,
        "rebuilt {:?} after the first build, before the retry delay",
        times[1] - times[0]
    );
    session.report_send_position(pos);
    session.push_segment(1, audio[..48_000].into(), pos, vec![]);
    let frames = collect(
        &mut session,
        Duration::from_millis(1500),
        Duration::from_secs(10),
    )
    .await;
    assert!(
        frames
            .iter()
            .filter(|f| f.values[C::JAW_OPEN] == 0.5)
            .count()
            >= 20,
        "the retried engine animates again"
    );
    assert_eq!(builds.lock().unwrap().len(), 2, "one retry, then it works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio2face_without_a_url_runs_on_the_fallback_from_the_start() {
    let mut settings = settings();
    settings.engine = AnimationEngineKind::Audio2Face;
    settings.fallback = AnimationFallback::Lam;
    settings.audio2face_url = None;
    let service = FaceService::start(settings).unwrap();
    let mut session = service.open_session(9).unwrap();
    session.push_segment(1, jfk_48k()[..48_000].into(), 0, vec![]);
    let frames = take(&mut session, 30, Duration::from_secs(20)).await;
    assert_eq!(frames.len(), 30, "lam animates the segment");
    assert_eq!(frames[0].sample_pos, 0);
    assert!(
        matches!(service.status(), FaceStatus::Degraded { reason } if reason.contains("AUDIO2FACE_URL")),
        "{:?}",
        service.status()
    );
}
