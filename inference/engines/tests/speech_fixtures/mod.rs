//! Real recorded speech for the VAD and ASR tests: the LibriVox utterances of
//! pocketsphinx-testdata (with their transcription) and jfk.wav (docs/models.md), and for
//! Whisper the Russian recordings of Debian's festvox-ru (`download_models.sh --with-whisper`).

#![allow(dead_code)] // each test binary uses a different part

use std::path::{Path, PathBuf};

/// Sample rate of every recording here.
pub const RATE: usize = 16_000;

/// One recording and what is said in it.
pub struct Utterance {
    /// File stem, e.g. `sense_and_sensibility_01_austen_64kb-0870` or `jfk`.
    pub name: String,
    /// 16 kHz mono samples in `[-1, 1]`.
    pub samples: Vec<f32>,
    /// The reference transcript.
    pub transcript: String,
}

/// The model tree (`MODELS_DIR` or `models/`), checked to hold the recordings.
pub fn models_dir() -> PathBuf {
    let dir = goassist_engines::test_models_dir();
    assert!(
        dir.join("speech/jfk.wav").exists(),
        "{}/speech/jfk.wav is missing: run scripts/download_models.sh",
        dir.display()
    );
    dir
}

/// Reads a 16 kHz mono 16-bit WAV file.
pub fn read_wav(path: &Path) -> Vec<f32> {
    let reader = hound::WavReader::open(path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let spec = reader.spec();
    assert_eq!(
        (
            spec.channels,
            spec.sample_rate as usize,
            spec.bits_per_sample
        ),
        (1, RATE, 16),
        "{} is not 16 kHz mono 16-bit",
        path.display()
    );
    reader
        .into_samples::<i16>()
        .map(|s| f32::from(s.expect("readable sample")) / 32768.0)
        .collect()
}

/// The LibriVox folder: `speech/librivox` under the models, else the Debian package's copy.
fn librivox_dir(models: &Path) -> PathBuf {
    let candidates = [
        models.join("speech/librivox"),
        PathBuf::from("/usr/share/pocketsphinx/test/data/librivox"),
    ];
    candidates
        .into_iter()
        .find(|d| d.join("transcription").exists())
        .expect(
            "LibriVox test speech is missing: run scripts/download_models.sh \
             (or apt-get install pocketsphinx-testdata)",
        )
}

/// The five LibriVox utterances with the transcription file's text
/// (`<s> words </s> (file-id)` per line).
pub fn librivox() -> Vec<Utterance> {
    let dir = librivox_dir(&models_dir());
    let transcription =
        std::fs::read_to_string(dir.join("transcription")).expect("readable transcription");
    let utterances: Vec<Utterance> = transcription
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let (text, id) = line.rsplit_once('(').expect("line ends with (file-id)");
            let name = id.trim().trim_end_matches(')').to_string();
            let transcript = text
                .replace("<s>", "")
                .replace("</s>", "")
                .trim()
                .to_string();
            let samples = read_wav(&dir.join(format!("{name}.wav")));
            Utterance {
                name,
                samples,
                transcript,
            }
        })
        .collect();
    assert_eq!(utterances.len(), 5, "expected 5 LibriVox utterances");
    utterances
}

/// jfk.wav and its transcript.
pub fn jfk() -> Utterance {
    Utterance {
        name: "jfk".into(),
        samples: read_wav(&models_dir().join("speech/jfk.wav")),
        transcript: "And so my fellow Americans, ask not what your country can do for you, \
                     ask what you can do for your country."
            .into(),
    }
}

/// All six utterances.
pub fn all() -> Vec<Utterance> {
    let mut all = librivox();
    all.push(jfk());
    all
}

/// The Russian recordings (`speech/russian/`, fetched by `download_models.sh --with-whisper`)
/// with the text the speaker read. The file keeps festvox-ru's `( id "text" )` lines; their `+`
/// marks (stress, for the synthesizer) are not words and are removed here.
pub fn russian() -> Vec<Utterance> {
    let dir = models_dir().join("speech/russian");
    let transcription = std::fs::read_to_string(dir.join("transcription")).unwrap_or_else(|e| {
        panic!(
            "{}/transcription: {e}: run scripts/download_models.sh --with-whisper",
            dir.display()
        )
    });
    let utterances: Vec<Utterance> = transcription
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let (id, quoted) = line
                .trim()
                .trim_start_matches('(')
                .trim_end_matches(')')
                .trim()
                .split_once(' ')
                .expect("( id \"text\" )");
            let transcript = quoted.trim().trim_matches('"').replace('+', "");
            Utterance {
                samples: read_wav(&dir.join(format!("{id}.wav"))),
                name: id.to_string(),
                transcript,
            }
        })
        .collect();
    assert!(!utterances.is_empty(), "no Russian utterances listed");
    utterances
}

/// Deterministic low-level noise (about -60 dBFS), a stand-in for a quiet room: digital zeros
/// are easier than any real silence.
pub fn room_noise(len: usize, seed: u32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            // xorshift32
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state as f32 / u32::MAX as f32 - 0.5) * 0.002
        })
        .collect()
}
