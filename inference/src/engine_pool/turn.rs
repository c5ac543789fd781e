//! Smart Turn (the end-of-turn audio model) as a pool engine.

use std::sync::Arc;

use goassist_engines::EngineError;
use goassist_engines::turn::SmartTurnModel;

use super::{Engine, Pool, PoolSize};

/// The Smart Turn pool: a turn's 16 kHz audio up to now in, P(complete) out.
pub type TurnPool = Pool<TurnEngine>;

/// Smart Turn as a pool engine.
pub struct TurnEngine(pub Arc<SmartTurnModel>);

impl Engine for TurnEngine {
    type Input = Vec<f32>;
    type Output = f32;

    fn run(&mut self, audio_16k: Vec<f32>) -> Result<f32, EngineError> {
        Ok(self.0.predict(&audio_16k)?.probability)
    }
}

/// Slots and queue of the Smart Turn pool for `sessions` concurrent sessions: a session asks
/// once per pause, and a newer pause replaces an older request.
pub fn turn_size(sessions: usize) -> PoolSize {
    PoolSize {
        slots: sessions.max(1),
        queue: sessions.max(1),
    }
}
