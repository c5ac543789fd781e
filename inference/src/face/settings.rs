//! Face settings, validated at start-up. Environment variables (all optional):
//!
//! | variable | values | default |
//! |---|---|---|
//! | `ANIMATION_ENABLED` | `true`/`false` | `true` |
//! | `ANIMATION_ENGINE` | `lam`, `audio2face` | `lam` |
//! | `ANIMATION_FALLBACK` | `lam`, `none` | `lam` |
//! | `ANIMATION_FPS` | `30`, `60` | `30` |
//! | `ANIMATION_DROP_IF_LAG_MS` | 0–2000 | `150` |
//! | `ANIMATION_SLOW_FREEZE_MS` | 0–5000 | `400` |
//! | `ANIMATION_DEADLINE_MS` | 10–10000: longest an engine may take for one segment | `500` |
//! | `AUDIO2FACE_URL` | `http://host:port` of an Audio2Face-3D NIM | `http://127.0.0.1:52000` |
//! | `LAM_ONNX_MODEL` | path of a user audio→ARKit `.onnx` (with its `.onnx.json` sidecar) | unset |

use std::path::PathBuf;
use std::time::Duration;

/// The engine that animates speech.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// NVIDIA Audio2Face-3D over gRPC.
    Audio2Face,
    /// The local CPU animator.
    Lam,
}

/// What takes over when the primary engine fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallbackKind {
    /// The local CPU animator.
    Lam,
    /// Nothing: the face eases to neutral and voice goes on.
    None,
}

/// Everything the face service needs to start.
#[derive(Debug, Clone)]
pub struct FaceSettings {
    /// Whether faces are produced at all (also switchable at run time by the admin endpoint).
    pub enabled: bool,
    /// Primary engine.
    pub engine: EngineKind,
    /// Engine used when the primary fails.
    pub fallback: FallbackKind,
    /// Frames per second (30 or 60).
    pub fps: u32,
    /// Frames later than this behind their audio are dropped.
    pub drop_if_lag_ms: u32,
    /// How long the face takes to ease to neutral when frames stop.
    pub slow_freeze_ms: u32,
    /// Audio2Face-3D endpoint.
    pub audio2face_url: String,
    /// Longest an engine may take for one segment before it counts as hung.
    pub deadline: Duration,
    /// Where `face/headaudio-model-en-mixed.bin` lives.
    pub models_dir: PathBuf,
    /// A user-supplied ONNX audio→ARKit model that replaces the HeadAudio classifier in `lam`.
    pub lam_onnx_model: Option<PathBuf>,
}

impl Default for FaceSettings {
    fn default() -> Self {
        FaceSettings {
            enabled: true,
            engine: EngineKind::Lam,
            fallback: FallbackKind::Lam,
            fps: 30,
            drop_if_lag_ms: 150,
            slow_freeze_ms: 400,
            audio2face_url: "http://127.0.0.1:52000".into(),
            deadline: Duration::from_millis(500),
            models_dir: PathBuf::from("models"),
            lam_onnx_model: None,
        }
    }
}

/// A setting with a value outside its valid range; names the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}={value:?} is invalid: expected {expected}")]
pub struct SettingsError {
    /// The environment variable.
    pub variable: &'static str,
    /// The value found.
    pub value: String,
    /// What would have been accepted.
    pub expected: &'static str,
}

impl FaceSettings {
    /// Reads the settings from the process environment (`MODELS_DIR` for the model tree).
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (variable name → value), for tests and config files.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let mut s = FaceSettings::default();
        let bad = |variable, value: &str, expected| SettingsError {
            variable,
            value: value.to_string(),
            expected,
        };
        if let Some(v) = lookup("ANIMATION_ENABLED") {
            s.enabled = match v.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => return Err(bad("ANIMATION_ENABLED", &v, "true or false")),
            };
        }
        if let Some(v) = lookup("ANIMATION_ENGINE") {
            s.engine = match v.trim().to_ascii_lowercase().as_str() {
                "lam" => EngineKind::Lam,
                "audio2face" | "a2f" => EngineKind::Audio2Face,
                _ => return Err(bad("ANIMATION_ENGINE", &v, "lam or audio2face")),
            };
        }
        if let Some(v) = lookup("ANIMATION_FALLBACK") {
            s.fallback = match v.trim().to_ascii_lowercase().as_str() {
                "lam" => FallbackKind::Lam,
                "none" => FallbackKind::None,
                _ => return Err(bad("ANIMATION_FALLBACK", &v, "lam or none")),
            };
        }
        let number = |name: &'static str, lo: u32, hi: u32, expected| -> Result<Option<u32>, _> {
            match lookup(name) {
                None => Ok(None),
                Some(v) => match v.trim().parse::<u32>() {
                    Ok(n) if (lo..=hi).contains(&n) => Ok(Some(n)),
                    _ => Err(bad(name, &v, expected)),
                },
            }
        };
        if let Some(fps) = number("ANIMATION_FPS", 30, 60, "30 or 60")? {
            if fps != 30 && fps != 60 {
                return Err(bad("ANIMATION_FPS", &fps.to_string(), "30 or 60"));
            }
            s.fps = fps;
        }
        if let Some(ms) = number("ANIMATION_DROP_IF_LAG_MS", 0, 2000, "0 to 2000 (ms)")? {
            s.drop_if_lag_ms = ms;
        }
        if let Some(ms) = number("ANIMATION_SLOW_FREEZE_MS", 0, 5000, "0 to 5000 (ms)")? {
            s.slow_freeze_ms = ms;
        }
        if let Some(ms) = number("ANIMATION_DEADLINE_MS", 10, 10_000, "10 to 10000 (ms)")? {
            s.deadline = Duration::from_millis(u64::from(ms));
        }
        if let Some(url) = lookup("AUDIO2FACE_URL") {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(bad("AUDIO2FACE_URL", &url, "an http:// or https:// URL"));
            }
            s.audio2face_url = url;
        }
        if let Some(path) = lookup("LAM_ONNX_MODEL").filter(|p| !p.trim().is_empty()) {
            s.lam_onnx_model = Some(PathBuf::from(path));
        }
        if let Some(dir) = lookup("MODELS_DIR") {
            s.models_dir = PathBuf::from(dir);
        }
        Ok(s)
    }

    /// Samples between frames on the 48 kHz clock.
    pub fn frame_interval(&self) -> u64 {
        goassist_engines::face::frame_interval(self.fps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<FaceSettings, SettingsError> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        FaceSettings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_and_overrides() {
        let s = from(&[]).unwrap();
        assert!(s.enabled);
        assert_eq!(
            (s.engine, s.fallback, s.fps),
            (EngineKind::Lam, FallbackKind::Lam, 30)
        );
        let s = from(&[
            ("ANIMATION_ENGINE", "audio2face"),
            ("ANIMATION_FALLBACK", "none"),
            ("ANIMATION_FPS", "60"),
            ("ANIMATION_DROP_IF_LAG_MS", "80"),
            ("ANIMATION_SLOW_FREEZE_MS", "250"),
            ("ANIMATION_DEADLINE_MS", "100"),
            ("AUDIO2FACE_URL", "http://a2f:52000"),
            ("ANIMATION_ENABLED", "false"),
        ])
        .unwrap();
        assert_eq!(s.engine, EngineKind::Audio2Face);
        assert_eq!(s.fallback, FallbackKind::None);
        assert_eq!((s.fps, s.drop_if_lag_ms, s.slow_freeze_ms), (60, 80, 250));
        assert_eq!(s.deadline, Duration::from_millis(100));
        assert!(!s.enabled);
        assert_eq!(s.frame_interval(), 800);
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (k, v) in [
            ("ANIMATION_ENGINE", "unreal"),
            ("ANIMATION_FALLBACK", "lamm"),
            ("ANIMATION_FPS", "45"),
            ("ANIMATION_FPS", "abc"),
            ("ANIMATION_DROP_IF_LAG_MS", "-1"),
            ("ANIMATION_SLOW_FREEZE_MS", "99999"),
            ("ANIMATION_DEADLINE_MS", "0"),
            ("AUDIO2FACE_URL", "a2f:52000"),
            ("ANIMATION_ENABLED", "maybe"),
        ] {
            let err = from(&[(k, v)]).unwrap_err();
            assert_eq!(err.variable, k);
            assert!(err.to_string().contains(k), "{err}");
        }
    }
}
