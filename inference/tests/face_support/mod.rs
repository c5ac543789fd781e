//! Helpers shared by the face integration tests.

#![allow(dead_code)]

pub mod a2f_standin;

use std::sync::Arc;
use std::time::Duration;

use goassist_engines::face::wav::{read_wav, to_48k};
use goassist_inference::face::{FaceSession, FaceSettings};
use goassist_protocol::FaceFrame;

/// JFK's "ask not" (11 s, real speech) at 48 kHz.
pub fn jfk_48k() -> Arc<[f32]> {
    let wav = read_wav(&goassist_engines::test_models_dir().join("speech/jfk.wav")).unwrap();
    to_48k(&wav.samples, wav.sample_rate).into()
}

/// Settings for tests: the shared model tree, short ease, generous lag.
pub fn settings() -> FaceSettings {
    FaceSettings {
        models_dir: goassist_engines::test_models_dir(),
        slow_freeze_ms: 200,
        drop_if_lag_ms: 2000,
        deadline: Duration::from_secs(3),
        ..FaceSettings::default()
    }
}

/// Frames until `quiet` passes with none (or `max` total time elapses).
pub async fn collect(session: &mut FaceSession, quiet: Duration, max: Duration) -> Vec<FaceFrame> {
    let mut out = Vec::new();
    let until = tokio::time::Instant::now() + max;
    loop {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return out;
        }
        match tokio::time::timeout(quiet.min(left), session.frames.recv()).await {
            Ok(Some(f)) => out.push(f),
            Ok(None) | Err(_) => return out,
        }
    }
}

/// Frames for `count` frames or until `max`.
pub async fn take(session: &mut FaceSession, count: usize, max: Duration) -> Vec<FaceFrame> {
    let mut out = Vec::new();
    let until = tokio::time::Instant::now() + max;
    while out.len() < count {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, session.frames.recv()).await {
            Ok(Some(f)) => out.push(f),
            _ => break,
        }
    }
    out
}
