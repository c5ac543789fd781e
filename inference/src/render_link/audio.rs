//! The assistant's outgoing audio, cut to match face frames for the render-bridge
//! (RENDER_BRIDGE_SEND_AUDIO=true): each frame sent to the bridge carries the 48 kHz samples it
//! animates, so a render pod can play the voice in the engine, in sync with the face.
//!
//! Clauses are kept as they were queued (shared, not copied) and looked up by the frame's sample
//! position on the outgoing clock. Frames arrive in position order within an epoch, so segments
//! that end before a frame are discarded as we go; a cap bounds what is kept if frames stop.

use std::collections::VecDeque;
use std::sync::Arc;

use goassist_protocol::bridge_stream::{AUDIO_SAMPLE_RATE, MAX_AUDIO_SAMPLES};

use crate::face::timeline::Shift;

/// At most this many clauses are kept; older ones are forgotten (their frames are long gone).
const MAX_SEGMENTS: usize = 32;

struct Segment {
    epoch: u32,
    start: u64,
    audio: Arc<[f32]>,
}

impl Segment {
    fn end(&self) -> u64 {
        self.start + self.audio.len() as u64
    }
}

/// Queued assistant audio by position on the outgoing 48 kHz clock.
pub struct BridgeAudio {
    segments: VecDeque<Segment>,
    frame_samples: u64,
}

impl BridgeAudio {
    /// Audio for frames at `fps` (each frame carries 48000 / fps samples).
    pub fn new(fps: u32) -> Self {
        let frame_samples = (AUDIO_SAMPLE_RATE / fps.max(1)).clamp(1, MAX_AUDIO_SAMPLES as u32);
        BridgeAudio {
            segments: VecDeque::new(),
            frame_samples: u64::from(frame_samples),
        }
    }

    /// Remembers a clause queued for sending at `start` on the outgoing clock.
    pub fn push(&mut self, epoch: u32, start: u64, audio: Arc<[f32]>) {
        if self.segments.len() == MAX_SEGMENTS {
            self.segments.pop_front();
        }
        self.segments.push_back(Segment {
            epoch,
            start,
            audio,
        });
    }

    /// A pause moved `shift.epoch`'s unsent audio later: so do the clauses that hold some.
    pub fn shift(&mut self, shift: &Shift) {
        for segment in &mut self.segments {
            if segment.epoch == shift.epoch && segment.end() > shift.from {
                segment.start += shift.by;
            }
        }
    }

    /// Forgets everything (barge-in: the queued audio will never be sent).
    pub fn clear(&mut self) {
        self.segments.clear();
    }

    /// The 16-bit samples a frame of `epoch` at `sample_pos` animates, or `None` when no queued
    /// audio covers it (the idle face while listening).
    pub fn chunk_for(&mut self, epoch: u32, sample_pos: u64) -> Option<Vec<i16>> {
        while self.segments.front().is_some_and(|s| s.end() <= sample_pos) {
            self.segments.pop_front();
        }
        let end = sample_pos + self.frame_samples;
        let mut chunk = Vec::new();
        for segment in self.segments.iter().filter(|s| s.epoch == epoch) {
            if segment.start >= end {
                break;
            }
            let from = sample_pos.max(segment.start) - segment.start;
            let to = end.min(segment.end()) - segment.start;
            if from < to {
                chunk.extend(
                    segment.audio[from as usize..to as usize]
                        .iter()
                        .map(|s| (s.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16),
                );
            }
        }
        (!chunk.is_empty()).then_some(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(len: usize) -> Arc<[f32]> {
        (0..len).map(|i| i as f32 / 100_000.0).collect()
    }

    #[test]
    fn a_frame_gets_the_samples_it_animates() {
        let mut audio = BridgeAudio::new(30);
        audio.push(1, 4_800, ramp(4_800));
        let chunk = audio.chunk_for(1, 4_800 + 1_600).expect("covered");
        assert_eq!(chunk.len(), 1_600);
        assert_eq!(chunk[0], (1_600.0f32 / 100_000.0 * 32767.0).round() as i16);
    }

    #[test]
    fn a_frame_spanning_two_clauses_gets_both_parts() {
        let mut audio = BridgeAudio::new(60);
        audio.push(2, 0, vec![0.5; 500].into());
        audio.push(2, 500, vec![-0.5; 500].into());
        let chunk = audio.chunk_for(2, 100).expect("covered");
        assert_eq!(chunk.len(), 800);
        assert_eq!(chunk[399], 16_384);
        assert_eq!(chunk[400], -16_384);
    }

    #[test]
    fn the_end_of_the_audio_gives_a_short_chunk_and_then_none() {
        let mut audio = BridgeAudio::new(30);
        audio.push(0, 0, vec![0.25; 2_000].into());
        assert_eq!(audio.chunk_for(0, 1_600).map(|c| c.len()), Some(400));
        assert_eq!(audio.chunk_for(0, 2_000), None);
        assert!(audio.segments.is_empty(), "passed clauses are discarded");
    }

    #[test]
    fn other_epochs_and_cleared_audio_give_nothing() {
        let mut audio = BridgeAudio::new(30);
        audio.push(3, 0, vec![1.0; 9_600].into());
        assert_eq!(audio.chunk_for(4, 0), None);
        assert_eq!(audio.chunk_for(3, 0).map(|c| c[0]), Some(i16::MAX));
        audio.clear();
        assert_eq!(audio.chunk_for(3, 1_600), None);
    }

    #[test]
    fn a_pause_moves_the_clauses_with_unsent_audio() {
        let mut audio = BridgeAudio::new(30);
        audio.push(1, 0, vec![0.25; 3_200].into());
        audio.push(1, 3_200, vec![-0.5; 3_200].into());
        // Sent up to 2_000, then 960 samples of silence went out.
        audio.shift(&Shift {
            epoch: 1,
            from: 2_000,
            until: 6_400,
            by: 960,
        });
        // The first clause's unsent part moved: 2_960..4_160 holds its samples...
        assert_eq!(audio.chunk_for(1, 2_960).expect("covered")[0], 8_192);
        // ...and the frame queued at 3_200 now animates 4_160, where the second clause starts.
        let chunk = audio.chunk_for(1, 4_160).expect("covered");
        assert_eq!((chunk[0], chunk.len()), (-16_384, 1_600));
    }

    #[test]
    fn kept_clauses_are_bounded() {
        let mut audio = BridgeAudio::new(30);
        for i in 0..(MAX_SEGMENTS as u64 + 10) {
            audio.push(0, i * 100, vec![0.0; 100].into());
        }
        assert_eq!(audio.segments.len(), MAX_SEGMENTS);
    }
}
