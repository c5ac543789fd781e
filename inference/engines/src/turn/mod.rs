//! End of turn: has the user finished speaking, or only paused?
//!
//! - [`LogMelExtractor`]: Whisper log-mel features of the last 8 s of audio.
//! - [`SmartTurnModel`]: Smart Turn v3.2, P(complete) from the sound of the turn.
//! - [`TurnDetector`]: the sans-IO decision rule that combines Smart Turn with the LLM's
//!   end-of-turn probability for the transcript so far, with a bounded wait (`TURN_*` settings).

mod features;
mod rule;
mod smart_turn;

pub use features::{LogMelExtractor, N_FRAMES, N_MELS, SAMPLE_RATE, WINDOW_SAMPLES};
pub use rule::{EndReason, TurnAction, TurnDetector, TurnDetectorKind, TurnInput, TurnRuleConfig};
pub use smart_turn::{SMART_TURN_MODEL_FILE, SmartTurnModel, SmartTurnPrediction};
