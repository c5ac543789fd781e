//! The face service end to end with the real local engine: speech frames, eases, idle face,
//! barge-in fences, kill-switch, queue limits and the late-frame gate.

#[path = "face_support/mod.rs"]
mod common;

use std::time::Duration;

use common::{collect, jfk_48k, settings, take};
use goassist_inference::face::{FaceService, FaceStatus};
use goassist_protocol::CurveIndex as C;

const JAW: usize = C::JAW_OPEN;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_frames_cover_the_segment_then_ease_to_neutral() {
    let service = FaceService::start(settings()).unwrap();
    assert_eq!(service.status(), FaceStatus::Healthy);
    let mut session = service.open_session(7).unwrap();
    let audio = jfk_48k();
    let segment: std::sync::Arc<[f32]> = audio[..48_000 * 3].into();
    let start = 960_000;
    assert!(session.push_segment(1, segment.clone(), start, vec![]));
    let speech = take(&mut session, 90, Duration::from_secs(20)).await;
    assert_eq!(speech.len(), 90, "3 s at 30 fps");
    for (i, f) in speech.iter().enumerate() {
        assert_eq!(f.sample_pos, start + i as u64 * 1600);
        assert_eq!((f.session_id, f.epoch, f.seq), (7, 1, i as u32));
    }
    let max_jaw = speech.iter().map(|f| f.values[JAW]).fold(0.0, f32::max);
    assert!(max_jaw > 0.3, "jaw never opened: {max_jaw}");

    // The audio has been sent: the face eases to neutral over 200 ms instead of snapping.
    session.report_send_position(start + segment.len() as u64);
    let ease = collect(
        &mut session,
        Duration::from_millis(600),
        Duration::from_secs(5),
    )
    .await;
    assert!(ease.len() >= 5, "ease frames: {}", ease.len());
    assert!(ease[0].sample_pos >= start + 90 * 1600);
    let last_speech = speech.last().unwrap().values;
    let last = ease.last().unwrap();
    assert!(last.values.iter().all(|v| v.abs() < 1e-3), "ends at rest");
    for w in ease.windows(2) {
        assert!(w[1].sample_pos > w[0].sample_pos);
        assert!(
            w[1].values[JAW] <= w[0].values[JAW] + 1e-6,
            "monotonic ease"
        );
    }
    let first_step = (last_speech[JAW] - ease[0].values[JAW]).abs();
    assert!(
        first_step < 0.35 * last_speech[JAW].max(0.01) + 0.01,
        "snapped: {first_step}"
    );
    assert!(service.counters().slow_freezes >= 1);
    assert_eq!(
        service.counters().frames_produced,
        (speech.len() + ease.len()) as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_interrupt_no_frame_of_the_old_epoch_comes_out() {
    let service = FaceService::start(settings()).unwrap();
    let mut session = service.open_session(1).unwrap();
    let audio = jfk_48k();
    assert!(session.push_segment(3, audio.clone(), 0, vec![]));
    // Let the worker produce (part of) the old turn, then barge in.
    let before = take(&mut session, 5, Duration::from_secs(20)).await;
    assert!(before.iter().all(|f| f.epoch == 3));
    session.interrupt(4);
    assert!(
        !session.push_segment(3, audio.clone(), 600_000, vec![]),
        "old epoch refused"
    );
    assert!(session.push_segment(4, audio[..48_000].into(), 700_000, vec![]));
    let after = collect(
        &mut session,
        Duration::from_millis(500),
        Duration::from_secs(20),
    )
    .await;
    assert!(!after.is_empty());
    assert!(
        after.iter().all(|f| f.epoch >= 4),
        "an epoch-3 frame leaked out"
    );
    assert!(after.iter().any(|f| f.sample_pos >= 700_000));
    let c = service.counters();
    assert!(c.dropped_stale_epoch > 0, "{c:?}");
    assert!(c.segments_dropped >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listening_shows_a_living_idle_face() {
    let service = FaceService::start(settings()).unwrap();
    let mut session = service.open_session(9).unwrap();
    session.report_send_position(48_000);
    session.set_listening(true);
    let frames = collect(
        &mut session,
        Duration::from_millis(300),
        Duration::from_millis(1500),
    )
    .await;
    // About 30 fps of wall time, on the clock's grid, face alive but mouth closed.
    assert!(frames.len() >= 25, "{} idle frames in 1.5 s", frames.len());
    assert!(
        frames
            .windows(2)
            .all(|w| w[1].sample_pos - w[0].sample_pos == 1600)
    );
    assert!(frames.iter().all(|f| f.values[JAW] == 0.0));
    let yaw: Vec<f32> = frames.iter().map(|f| f.values[C::HEAD_YAW]).collect();
    assert!(yaw.iter().any(|y| *y != yaw[0]), "head never moves");
    session.set_listening(false);
    let tail = collect(
        &mut session,
        Duration::from_millis(300),
        Duration::from_secs(2),
    )
    .await;
    assert!(tail.len() < 5, "idle frames kept coming: {}", tail.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_switch_stops_frames_eases_and_reports_degraded() {
    let service = FaceService::start(settings()).unwrap();
    let mut session = service.open_session(2).unwrap();
    let audio = jfk_48k();
    session.push_segment(1, audio[..48_000 * 2].into(), 0, vec![]);
    let speech = take(&mut session, 60, Duration::from_secs(20)).await;
    assert_eq!(speech.len(), 60);
    service.set_enabled(false);
    assert!(
        matches!(service.status(), FaceStatus::Degraded { reason } if reason.contains("admin"))
    );
    assert!(!session.push_segment(1, audio[..48_000].into(), 96_000, vec![]));
    session.report_send_position(60_000);
    let ease = collect(
        &mut session,
        Duration::from_millis(500),
        Duration::from_secs(5),
    )
    .await;
    assert!(!ease.is_empty(), "no ease after the kill-switch");
    assert!(ease.last().unwrap().values.iter().all(|v| v.abs() < 1e-3));
    service.set_enabled(true);
    assert_eq!(service.status(), FaceStatus::Healthy);
    assert!(session.push_segment(1, audio[..48_000].into(), 200_000, vec![]));
    assert_eq!(
        take(&mut session, 30, Duration::from_secs(20)).await.len(),
        30
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_behind_their_audio_are_dropped_and_counted() {
    let mut s = settings();
    s.drop_if_lag_ms = 100;
    let service = FaceService::start(s).unwrap();
    let mut session = service.open_session(3).unwrap();
    // The voice loop is already 10 s past this audio: every frame would be late.
    session.report_send_position(480_000 + 48_000 * 10);
    session.push_segment(1, jfk_48k()[..48_000].into(), 480_000, vec![]);
    let frames = collect(
        &mut session,
        Duration::from_millis(500),
        Duration::from_secs(10),
    )
    .await;
    assert!(
        frames.iter().all(|f| f.sample_pos > 480_000 + 48_000),
        "late frame delivered"
    );
    assert!(
        service.counters().dropped_late >= 30,
        "{:?}",
        service.counters()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_segment_queue_drops_instead_of_blocking() {
    let service = FaceService::start(settings()).unwrap();
    let session = service.open_session(4).unwrap();
    let audio = jfk_48k();
    let started = std::time::Instant::now();
    let accepted = (0..200)
        .filter(|i| session.push_segment(1, audio.clone(), i * audio.len() as u64, vec![]))
        .count();
    let took = started.elapsed();
    assert!(
        accepted < 200,
        "every push accepted: the queue is unbounded"
    );
    assert!(service.counters().segments_dropped >= (200 - accepted) as u64);
    eprintln!("200 pushes took {took:?} ({accepted} accepted)");
}
