//! A Piper voice's `.onnx.json`: sample rate, espeak-ng voice, phoneme ids, inference scales.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::EngineError;

/// Padding symbol Piper puts after every phoneme.
pub const PAD: char = '_';
/// Beginning-of-sentence symbol.
pub const BOS: char = '^';
/// End-of-sentence symbol.
pub const EOS: char = '$';

/// The parts of a Piper voice configuration that synthesis needs.
#[derive(Debug, Clone)]
pub struct PiperVoiceConfig {
    /// Output sample rate in Hz (22050 for "medium" voices).
    pub sample_rate: u32,
    /// espeak-ng voice that produced the training phonemes, e.g. `en-us`.
    pub espeak_voice: String,
    /// Phoneme (one Unicode scalar) to model input ids.
    pub phoneme_id_map: HashMap<char, Vec<i64>>,
    /// VITS noise scale (variation of the voice).
    pub noise_scale: f32,
    /// Speaking-rate factor: larger is slower.
    pub length_scale: f32,
    /// Noise in the duration predictor (variation of the rhythm).
    pub noise_w: f32,
    /// Speakers in the model; a model with more than one takes a speaker id input.
    pub num_speakers: u32,
}

#[derive(Deserialize)]
struct RawConfig {
    audio: RawAudio,
    espeak: RawEspeak,
    #[serde(default)]
    inference: RawInference,
    #[serde(default = "default_phoneme_type")]
    phoneme_type: String,
    phoneme_id_map: HashMap<String, Vec<i64>>,
    #[serde(default = "one")]
    num_speakers: u32,
}

#[derive(Deserialize)]
struct RawAudio {
    sample_rate: u32,
}

#[derive(Deserialize)]
struct RawEspeak {
    voice: String,
}

/// Piper's own defaults, used when a config leaves `inference` out.
#[derive(Deserialize)]
struct RawInference {
    #[serde(default = "default_noise_scale")]
    noise_scale: f32,
    #[serde(default = "one_f32")]
    length_scale: f32,
    #[serde(default = "default_noise_w")]
    noise_w: f32,
}

impl Default for RawInference {
    fn default() -> Self {
        Self {
            noise_scale: default_noise_scale(),
            length_scale: 1.0,
            noise_w: default_noise_w(),
        }
    }
}

fn default_phoneme_type() -> String {
    "espeak".into()
}
fn one() -> u32 {
    1
}
fn one_f32() -> f32 {
    1.0
}
fn default_noise_scale() -> f32 {
    0.667
}
fn default_noise_w() -> f32 {
    0.8
}

impl PiperVoiceConfig {
    /// Reads the `.onnx.json` that sits beside a Piper model (`<model>.onnx.json`).
    pub fn load_beside(model_onnx: &Path) -> Result<Self, EngineError> {
        let mut json_path = model_onnx.as_os_str().to_owned();
        json_path.push(".json");
        let json_path = Path::new(&json_path);
        let text = std::fs::read_to_string(json_path).map_err(|e| EngineError::ModelNotFound {
            path: json_path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::parse(&text).map_err(|reason| EngineError::InvalidModel {
            path: json_path.display().to_string(),
            reason,
        })
    }

    /// Parses and checks a voice configuration.
    pub fn parse(json: &str) -> Result<Self, String> {
        let raw: RawConfig = serde_json::from_str(json).map_err(|e| e.to_string())?;
        if raw.phoneme_type != "espeak" {
            return Err(format!(
                "phoneme_type {:?} is not supported (only \"espeak\")",
                raw.phoneme_type
            ));
        }
        if raw.audio.sample_rate == 0 {
            return Err("audio.sample_rate is 0".into());
        }
        if raw.num_speakers == 0 {
            return Err("num_speakers is 0".into());
        }
        let mut phoneme_id_map = HashMap::with_capacity(raw.phoneme_id_map.len());
        for (symbol, ids) in raw.phoneme_id_map {
            let mut chars = symbol.chars();
            let (Some(c), None) = (chars.next(), chars.next()) else {
                return Err(format!(
                    "phoneme_id_map key {symbol:?} is not a single character"
                ));
            };
            if ids.is_empty() {
                return Err(format!("phoneme_id_map[{symbol:?}] has no ids"));
            }
            phoneme_id_map.insert(c, ids);
        }
        for required in [PAD, BOS, EOS] {
            if !phoneme_id_map.contains_key(&required) {
                return Err(format!("phoneme_id_map lacks {required:?}"));
            }
        }
        let scales = [
            raw.inference.noise_scale,
            raw.inference.length_scale,
            raw.inference.noise_w,
        ];
        if scales.iter().any(|s| !s.is_finite() || *s < 0.0) || raw.inference.length_scale == 0.0 {
            return Err(format!("inference scales {scales:?} are not usable"));
        }
        Ok(Self {
            sample_rate: raw.audio.sample_rate,
            espeak_voice: raw.espeak.voice,
            phoneme_id_map,
            noise_scale: raw.inference.noise_scale,
            length_scale: raw.inference.length_scale,
            noise_w: raw.inference.noise_w,
            num_speakers: raw.num_speakers,
        })
    }

    /// Piper's id sequence for one sentence: `^`, `_`, then each phoneme followed by `_`, then
    /// `$`. Phonemes the voice does not know are skipped (as Piper does) and returned second, so
    /// the caller can log them.
    pub fn phoneme_ids(&self, phonemes: &[char]) -> (Vec<i64>, Vec<char>) {
        let map = &self.phoneme_id_map;
        let mut ids = Vec::with_capacity(phonemes.len() * 2 + 3);
        let mut missing = Vec::new();
        ids.extend_from_slice(&map[&BOS]);
        ids.extend_from_slice(&map[&PAD]);
        for p in phonemes {
            match map.get(p) {
                Some(p_ids) => {
                    ids.extend_from_slice(p_ids);
                    ids.extend_from_slice(&map[&PAD]);
                }
                None => missing.push(*p),
            }
        }
        ids.extend_from_slice(&map[&EOS]);
        (ids, missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{
        "audio": {"sample_rate": 16000},
        "espeak": {"voice": "en-us"},
        "phoneme_id_map": {"_": [0], "^": [1], "$": [2], " ": [3], "a": [14], "b": [15]}
    }"#;

    #[test]
    fn reads_the_shipped_voice_config() {
        let model = crate::test_models_dir().join("tts/piper/en_US-joe-medium.onnx");
        let config = PiperVoiceConfig::load_beside(&model).unwrap();
        assert_eq!(config.sample_rate, 22050);
        assert_eq!(config.espeak_voice, "en-us");
        assert_eq!(config.phoneme_id_map.len(), 151);
        assert_eq!(config.phoneme_id_map[&'ə'], [59]);
        assert_eq!(config.phoneme_id_map[&'ˈ'], [120]);
        assert_eq!(config.noise_scale, 0.667);
        assert_eq!(config.length_scale, 1.0);
        assert_eq!(config.noise_w, 0.8);
        assert_eq!(config.num_speakers, 1);
    }

    #[test]
    fn ids_follow_pipers_convention() {
        let config = PiperVoiceConfig::parse(MINIMAL).unwrap();
        let (ids, missing) = config.phoneme_ids(&['a', ' ', 'b']);
        assert_eq!(ids, [1, 0, 14, 0, 3, 0, 15, 0, 2]);
        assert!(missing.is_empty());
        let (ids, missing) = config.phoneme_ids(&['a', 'Z', 'b']);
        assert_eq!(ids, [1, 0, 14, 0, 15, 0, 2]);
        assert_eq!(missing, ['Z']);
        assert_eq!(config.phoneme_ids(&[]).0, [1, 0, 2]);
    }

    #[test]
    fn defaults_fill_a_config_without_inference_section() {
        let config = PiperVoiceConfig::parse(MINIMAL).unwrap();
        assert_eq!(
            (config.noise_scale, config.length_scale, config.noise_w),
            (0.667, 1.0, 0.8)
        );
    }

    #[test]
    fn malformed_configs_are_typed_errors() {
        let cases = [
            "",
            "{",
            "[]",
            r#"{"audio": {"sample_rate": 22050}}"#,
            r#"{"audio": {"sample_rate": 0}, "espeak": {"voice": "en-us"}, "phoneme_id_map": {"_": [0], "^": [1], "$": [2]}}"#,
            r#"{"audio": {"sample_rate": 22050}, "espeak": {"voice": "en-us"}, "phoneme_id_map": {"^": [1], "$": [2]}}"#,
            r#"{"audio": {"sample_rate": 22050}, "espeak": {"voice": "en-us"}, "phoneme_id_map": {"_": [0], "^": [1], "$": [2], "ab": [3]}}"#,
            r#"{"audio": {"sample_rate": 22050}, "espeak": {"voice": "en-us"}, "phoneme_id_map": {"_": [], "^": [1], "$": [2]}}"#,
            r#"{"audio": {"sample_rate": 22050}, "espeak": {"voice": "en-us"}, "phoneme_type": "text", "phoneme_id_map": {"_": [0], "^": [1], "$": [2]}}"#,
            r#"{"audio": {"sample_rate": 22050}, "espeak": {"voice": "en-us"}, "inference": {"length_scale": 0}, "phoneme_id_map": {"_": [0], "^": [1], "$": [2]}}"#,
            r#"{"audio": {"sample_rate": -5}, "espeak": {"voice": "en-us"}, "phoneme_id_map": {}}"#,
        ];
        for case in cases {
            assert!(PiperVoiceConfig::parse(case).is_err(), "accepted: {case}");
        }
    }

    #[test]
    fn missing_config_file_names_the_path() {
        let err = PiperVoiceConfig::load_beside(Path::new("/nonexistent/voice.onnx")).unwrap_err();
        assert!(err.to_string().contains("voice.onnx.json"), "{err}");
    }
}
