//! `lam`, the local CPU animator: audio-driven visemes plus an envelope-driven jaw.
//!
//! Per 16 ms hop of the audio (at 16 kHz) the HeadAudio classifier picks one of 15 visemes;
//! per output frame the animator
//! 1. looks up the viseme decided around the frame's position (compensating the classifier's
//!    vote delay, so mouth shapes line up with the sound rather than trail it),
//! 2. blends viseme activations with per-viseme attack times (coarticulation: lip closures and
//!    lip-teeth contacts are reached fast and dominate, vowels and alveolars yield),
//! 3. opens the jaw with the loudness of the audio centred on the frame (RMS over ±10 ms,
//!    normalised to a slowly adapting speech ceiling), shaped by how open the active visemes
//!    allow, with a fast attack and a slower release,
//! 4. adds the blended viseme mouth poses and a little brow and head emphasis on loud syllables.
//!
//! It does not model emotion, gaze, tongue beyond a few visemes, or speaker identity; it does
//! not see text timing (phonemes only bias the classifier towards visemes the text contains).

use std::collections::VecDeque;
use std::path::Path;

use goassist_protocol::CurveIndex as C;

use super::dsp::{Decimator3, dbfs, rms};
use super::headaudio::{FRAME_LEN, HOP_LEN, Mfcc, VisemeModel, VisemeTracker};
use super::visemes::{VISEME_COUNT, Viseme, phoneme_prior};
use super::{Animator, FaceValues, FrameGrid, NEUTRAL, sanitize};
use crate::EngineError;

/// Tunables of the local animator.
#[derive(Debug, Clone)]
pub struct LamConfig {
    /// Output frames per second (30 or 60).
    pub fps: u32,
    /// jawOpen at the loudest syllable of an open vowel.
    pub jaw_max: f32,
    /// Dynamic range (dB below the adaptive ceiling) mapped onto the jaw's travel.
    pub range_db: f32,
    /// Below this level (dBFS) the mouth rests, whatever the ceiling.
    pub silence_dbfs: f32,
}

impl Default for LamConfig {
    fn default() -> Self {
        LamConfig {
            fps: 30,
            jaw_max: 0.65,
            range_db: 30.0,
            silence_dbfs: -50.0,
        }
    }
}

/// Half-width of the loudness window around each frame (10 ms at 48 kHz).
const ENVELOPE_HALF_WINDOW: u64 = 480;
const PRE_EMPHASIS: f32 = 0.97;
/// The adaptive loudness ceiling falls this fast (dB per second) after a loud passage.
const CEILING_DECAY_DB_PER_S: f32 = 4.0;
/// The ceiling never drops below this, so near-silence is never stretched to a wide mouth.
const CEILING_FLOOR_DBFS: f32 = -30.0;
const JAW_ATTACK_S: f32 = 0.012;
const JAW_RELEASE_S: f32 = 0.035;
const VISEME_RELEASE_S: f32 = 0.07;

/// The local audio → ARKit animator (see the module docs).
pub struct LamAnimator {
    config: LamConfig,
    grid: FrameGrid,
    tracker: VisemeTracker,
    mfcc: Mfcc,
    decimator: Decimator3,
    pre_emphasis_prev: f32,
    /// 16 kHz samples not yet consumed by a full analysis frame, and the 16 kHz index of the
    /// first of them within the current stream.
    pending_16k: Vec<f32>,
    pending_start_16k: u64,
    /// Where the current stream (16 kHz index 0) starts on the 48 kHz clock.
    stream_origin: u64,
    /// The viseme decided for each hop, keyed by the 48 kHz position of the hop's centre.
    hops: VecDeque<(u64, Viseme)>,
    /// Recent 48 kHz audio for the loudness window, and the position of its first sample.
    history: Vec<f32>,
    history_start: u64,
    /// Where the previous segment ended, if the stream continues.
    stream_end: Option<u64>,
    activations: [f32; VISEME_COUNT],
    jaw: f32,
    ceiling_db: f32,
}

impl LamAnimator {
    /// Loads the HeadAudio model from `model_path` (`$MODELS_DIR/face/headaudio-model-en-mixed.bin`).
    pub fn load(model_path: &Path, config: LamConfig) -> Result<Self, EngineError> {
        Ok(Self::with_model(VisemeModel::load(model_path)?, config))
    }

    /// An animator over an already loaded model.
    pub fn with_model(model: VisemeModel, config: LamConfig) -> Self {
        LamAnimator {
            grid: FrameGrid::new(config.fps),
            config,
            tracker: VisemeTracker::new(model),
            mfcc: Mfcc::new(),
            decimator: Decimator3::new(),
            pre_emphasis_prev: 0.0,
            pending_16k: Vec::new(),
            pending_start_16k: 0,
            stream_origin: 0,
            hops: VecDeque::new(),
            history: Vec::new(),
            history_start: 0,
            stream_end: None,
            activations: [0.0; VISEME_COUNT],
            jaw: 0.0,
            ceiling_db: CEILING_FLOOR_DBFS,
        }
    }

    /// Starts a new analysis stream at `start` (the first segment, or after a pause): the
    /// classifier and filters restart, the pose keeps easing from where it was.
    fn restart_stream(&mut self, start: u64) {
        self.tracker.reset();
        self.decimator.reset();
        self.pre_emphasis_prev = 0.0;
        self.pending_16k.clear();
        self.pending_start_16k = 0;
        self.stream_origin = start;
        self.hops.clear();
        self.history.clear();
        self.history_start = start;
    }

    /// Runs the classifier over the new audio, appending hop decisions.
    fn analyse(&mut self, audio: &[f32], prior: &[f32; VISEME_COUNT]) {
        let mut emphasised = Vec::with_capacity(audio.len());
        for &x in audio {
            let x = if x.is_finite() { x } else { 0.0 };
            emphasised.push(x - PRE_EMPHASIS * self.pre_emphasis_prev);
            self.pre_emphasis_prev = x;
        }
        self.decimator.process(&emphasised, &mut self.pending_16k);
        let delay = self.decimator.delay_48k();
        let mut offset = 0;
        while self.pending_16k.len() - offset >= FRAME_LEN {
            let (features, log_energy) = self
                .mfcc
                .compute(&self.pending_16k[offset..offset + FRAME_LEN]);
            let viseme = self.tracker.step(&features, log_energy, prior);
            let centre_16k = self.pending_start_16k + (offset + FRAME_LEN / 2) as u64;
            let centre = (self.stream_origin + 3 * centre_16k).saturating_sub(delay);
            self.hops.push_back((centre, viseme));
            offset += HOP_LEN;
        }
        self.pending_16k.drain(..offset);
        self.pending_start_16k += offset as u64;
    }

    /// The viseme heard at `pos`: the hop decision made once the vote has seen the audio at
    /// `pos` (the vote trails the audio by half its window).
    fn viseme_at(&self, pos: u64) -> Viseme {
        let lead = (self.tracker.vote_lag_hops() * HOP_LEN * 3) as u64;
        self.hops
            .iter()
            .rev()
            .find(|(centre, _)| *centre <= pos + lead)
            .map(|(_, v)| *v)
            .unwrap_or(Viseme::Sil)
    }

    /// Loudness (dBFS) of the audio within ±10 ms of `pos`.
    fn level_at(&self, pos: u64) -> f32 {
        let from = pos
            .saturating_sub(ENVELOPE_HALF_WINDOW)
            .max(self.history_start);
        let to = (pos + ENVELOPE_HALF_WINDOW).min(self.history_start + self.history.len() as u64);
        if to <= from {
            return -100.0;
        }
        let a = (from - self.history_start) as usize;
        let b = (to - self.history_start) as usize;
        dbfs(rms(&self.history[a..b]))
    }

    /// Advances the pose by one frame period given the viseme and level at the frame.
    fn step_pose(&mut self, viseme: Viseme, level_db: f32) -> FaceValues {
        let dt = 1.0 / self.config.fps.max(1) as f32;
        let smooth = |tau: f32| 1.0 - (-dt / tau).exp();

        // Loudness relative to an adaptive ceiling: TTS voices and recordings differ in gain.
        self.ceiling_db = (self.ceiling_db - CEILING_DECAY_DB_PER_S * dt)
            .max(level_db)
            .max(CEILING_FLOOR_DBFS);
        let openness = if level_db < self.config.silence_dbfs {
            0.0
        } else {
            ((level_db - (self.ceiling_db - self.config.range_db)) / self.config.range_db)
                .clamp(0.0, 1.0)
        };

        for v in Viseme::ALL {
            let a = &mut self.activations[v as usize];
            if v == viseme {
                let attack = 0.06 - 0.045 * v.dominance();
                *a += (1.0 - *a) * smooth(attack);
            } else {
                *a -= *a * smooth(VISEME_RELEASE_S);
            }
        }
        let total: f32 = self.activations.iter().sum();
        let jaw_shape = if total > 1e-3 {
            Viseme::ALL
                .iter()
                .map(|v| self.activations[*v as usize] * v.jaw_scale())
                .sum::<f32>()
                / total
        } else {
            Viseme::Sil.jaw_scale()
        };

        let jaw_target = self.config.jaw_max * openness * (0.3 + 0.7 * jaw_shape);
        let tau = if jaw_target > self.jaw {
            JAW_ATTACK_S
        } else {
            JAW_RELEASE_S
        };
        self.jaw += (jaw_target - self.jaw) * smooth(tau);

        let mut pose = NEUTRAL;
        // Mouth shapes show only while there is voice; in pauses the lips relax.
        let voiced = (openness * 3.0).min(1.0);
        for v in Viseme::ALL {
            let a = self.activations[v as usize] * voiced;
            if a > 1e-3 {
                for (p, w) in pose.iter_mut().zip(v.pose()) {
                    *p += a * w;
                }
            }
        }
        pose[C::JAW_OPEN] = self.jaw;
        pose[C::BROW_INNER_UP] += 0.12 * openness * openness;
        pose[C::HEAD_PITCH] -= 0.008 * self.jaw;
        sanitize(&mut pose);
        pose
    }

    /// Keeps only what the next segment can still need.
    fn trim(&mut self, end: u64) {
        let keep_from = end.saturating_sub(2 * ENVELOPE_HALF_WINDOW);
        if keep_from > self.history_start {
            let cut = ((keep_from - self.history_start) as usize).min(self.history.len());
            self.history.drain(..cut);
            self.history_start += cut as u64;
        }
        let hop_keep = end.saturating_sub(16 * HOP_LEN as u64 * 3);
        while self.hops.len() > 1 && self.hops.front().is_some_and(|(c, _)| *c < hop_keep) {
            self.hops.pop_front();
        }
    }
}

impl Animator for LamAnimator {
    fn animate(
        &mut self,
        audio_48k: &[f32],
        start_pos: u64,
        phonemes: &[String],
    ) -> Result<Vec<(u64, FaceValues)>, EngineError> {
        if self.stream_end != Some(start_pos) {
            self.restart_stream(start_pos);
        }
        let end = start_pos + audio_48k.len() as u64;
        let prior = phoneme_prior(phonemes);
        self.analyse(audio_48k, &prior);
        self.history.extend(
            audio_48k
                .iter()
                .map(|x| if x.is_finite() { *x } else { 0.0 }),
        );
        let positions = self.grid.positions(start_pos, end);
        let mut frames = Vec::with_capacity(positions.len());
        for pos in positions {
            let viseme = self.viseme_at(pos);
            let level = self.level_at(pos);
            frames.push((pos, self.step_pose(viseme, level)));
        }
        self.trim(end);
        self.stream_end = Some(end);
        Ok(frames)
    }

    fn reset(&mut self) {
        self.grid.reset();
        self.stream_end = None;
        self.activations = [0.0; VISEME_COUNT];
        self.jaw = 0.0;
        self.ceiling_db = CEILING_FLOOR_DBFS;
    }
}
