//! The outgoing audio timeline: queued assistant audio cut into fixed packets on a clock that
//! never stops, with a crossfade where consecutive chunks join and epoch fencing for barge-in.
//!
//! Sans-IO: the caller asks for [`Packetizer::next_packet`] whenever a packet is due on its clock
//! (real time in the WebRTC peer, a loop in tests). Every packet advances the sample position by
//! one packet, speech or silence, so sample positions are the outgoing RTP clock and face frames
//! can be stamped with them.
//!
//! Each queued chunk keeps its own samples and is mixed into packets only when they are cut. That
//! keeps a barge-in exact: [`Packetizer::interrupt`] removes the chunks of old epochs and nothing
//! of theirs can reach a later packet, while chunks of the new epoch stay intact.

use std::collections::VecDeque;

use super::{AudioError, fade_in_gain, fade_out_gain};

/// Packet size and crossfade length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketizerConfig {
    /// Sample rate of the timeline (48 000 for WebRTC Opus).
    pub sample_rate: u32,
    /// Packet duration in milliseconds (`AUDIO_PACKET_MS`, 10..=40).
    pub packet_ms: u32,
    /// Crossfade duration where two chunks join, in milliseconds (`AUDIO_OVERLAP_MS`, 0..=20).
    pub overlap_ms: u32,
}

impl PacketizerConfig {
    /// Checks the ranges the server accepts.
    pub fn validate(&self) -> Result<(), AudioError> {
        if self.sample_rate == 0 || !self.sample_rate.is_multiple_of(1000) {
            return Err(AudioError::InvalidPacketizer(format!(
                "sample rate {} Hz is not a whole number of kHz",
                self.sample_rate
            )));
        }
        if !(10..=40).contains(&self.packet_ms) {
            return Err(AudioError::InvalidPacketizer(format!(
                "packet duration {} ms is outside 10..=40",
                self.packet_ms
            )));
        }
        if self.overlap_ms > 20 || self.overlap_ms >= self.packet_ms * 4 {
            return Err(AudioError::InvalidPacketizer(format!(
                "overlap {} ms is outside 0..=20",
                self.overlap_ms
            )));
        }
        Ok(())
    }

    /// Samples per packet.
    pub fn packet_samples(&self) -> usize {
        (self.sample_rate / 1000 * self.packet_ms) as usize
    }

    /// Samples of crossfade at a join.
    pub fn overlap_samples(&self) -> usize {
        (self.sample_rate / 1000 * self.overlap_ms) as usize
    }
}

/// The part of one queued chunk that a packet carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketSpan {
    /// Epoch the chunk was queued for.
    pub epoch: u32,
    /// The caller's marker for the chunk (e.g. which sentence it speaks).
    pub marker: u64,
    /// Timeline position of the first sample of this span.
    pub sample_pos: u64,
    /// Number of samples of the chunk in this packet.
    pub samples: usize,
}

/// One packet of the outgoing timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// Timeline position of the first sample.
    pub sample_pos: u64,
    /// Exactly one packet of samples (silence where nothing was queued).
    pub samples: Vec<f32>,
    /// The queued chunks this packet carries, in queue order; empty for a silent packet.
    pub spans: Vec<PacketSpan>,
}

impl Packet {
    /// Whether the packet carries no queued audio.
    pub fn is_silence(&self) -> bool {
        self.spans.is_empty()
    }
}

#[derive(Debug)]
struct Chunk {
    epoch: u32,
    marker: u64,
    /// Timeline position of `samples[0]`.
    start: u64,
    samples: Vec<f32>,
}

impl Chunk {
    fn end(&self) -> u64 {
        self.start + self.samples.len() as u64
    }
}

/// The outgoing audio timeline of one peer.
#[derive(Debug)]
pub struct Packetizer {
    packet_samples: usize,
    overlap_samples: usize,
    /// Position of the next packet's first sample.
    next_pos: u64,
    /// Queued chunks in start order; each still has samples at or after `next_pos`.
    chunks: VecDeque<Chunk>,
    /// Chunks of epochs below this are refused (set by [`Packetizer::interrupt`]).
    min_epoch: u32,
    /// While paused, packets are silence and the queued audio moves later on the timeline.
    paused: bool,
}

impl Packetizer {
    /// An empty timeline at position 0.
    pub fn new(config: PacketizerConfig) -> Result<Self, AudioError> {
        config.validate()?;
        Ok(Self {
            packet_samples: config.packet_samples(),
            overlap_samples: config.overlap_samples(),
            next_pos: 0,
            chunks: VecDeque::new(),
            min_epoch: 0,
            paused: false,
        })
    }

    /// Samples per packet.
    pub fn packet_samples(&self) -> usize {
        self.packet_samples
    }

    /// Position of the next packet's first sample (what has been cut so far).
    pub fn send_position(&self) -> u64 {
        self.next_pos
    }

    /// Position where queued audio ends (equals [`send_position`](Self::send_position) when idle).
    pub fn queued_until(&self) -> u64 {
        self.chunks
            .iter()
            .map(Chunk::end)
            .max()
            .unwrap_or(self.next_pos)
            .max(self.next_pos)
    }

    /// Whether any audio is queued.
    pub fn is_idle(&self) -> bool {
        self.chunks.is_empty()
    }

    /// The lowest epoch still accepted.
    pub fn min_epoch(&self) -> u32 {
        self.min_epoch
    }

    /// Queues `samples` for `epoch` after everything already queued and returns the timeline
    /// position where they start. When audio is still queued, the new chunk starts up to one
    /// overlap earlier than the queue's end and the two crossfade; on an idle timeline it starts
    /// at the next packet. A chunk of an epoch older than the last interrupt is dropped (the
    /// return value is then where it would have started).
    pub fn push(&mut self, epoch: u32, marker: u64, mut samples: Vec<f32>) -> u64 {
        let tail = self.queued_until();
        if epoch < self.min_epoch {
            tracing::debug!(
                epoch,
                min_epoch = self.min_epoch,
                "dropping audio of a stale epoch"
            );
            return tail;
        }
        if samples.is_empty() {
            return tail;
        }
        // Only the part of the previous chunk not yet cut into packets can be faded.
        let unsent_tail = (tail - self.next_pos) as usize;
        let overlap = match self.chunks.back() {
            Some(last) if last.end() == tail => self
                .overlap_samples
                .min(unsent_tail)
                .min(samples.len())
                .min(last.samples.len()),
            _ => 0,
        };
        if let Some(last) = self.chunks.back_mut().filter(|_| overlap > 0) {
            let from = last.samples.len() - overlap;
            for (i, s) in last.samples[from..].iter_mut().enumerate() {
                *s *= fade_out_gain(i, overlap);
            }
            for (i, s) in samples[..overlap].iter_mut().enumerate() {
                *s *= fade_in_gain(i, overlap);
            }
        }
        let start = tail - overlap as u64;
        self.chunks.push_back(Chunk {
            epoch,
            marker,
            start,
            samples,
        });
        start
    }

    /// Barge-in: drops every queued chunk of an epoch below `new_epoch` and refuses such chunks
    /// from now on. The next packet cut carries none of them. Also ends a pause: the audio it
    /// held is gone, and the next answer must not wait behind it.
    pub fn interrupt(&mut self, new_epoch: u32) {
        self.paused = false;
        self.min_epoch = self.min_epoch.max(new_epoch);
        let min = self.min_epoch;
        self.chunks.retain(|c| c.epoch >= min);
    }

    /// Holds the queued audio (a possible barge-in): until [`Packetizer::resume`] packets are
    /// silence and the clock keeps running, so everything queued plays that much later. Nothing
    /// is dropped.
    pub fn pause(&mut self) {
        self.paused = true;
    }

    /// Continues held audio where it stopped.
    pub fn resume(&mut self) {
        self.paused = false;
    }

    /// Whether the audio is held.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Cuts the next packet (speech, partial speech or silence) and advances the clock by one
    /// packet.
    pub fn next_packet(&mut self) -> Packet {
        let pos = self.next_pos;
        let end = pos + self.packet_samples as u64;
        if self.paused {
            // Shift the queue by one packet: the unsent remainder of a chunk keeps its place
            // relative to the clock, and the crossfades between chunks are unchanged.
            for chunk in &mut self.chunks {
                chunk.start += self.packet_samples as u64;
            }
            self.next_pos = end;
            return Packet {
                sample_pos: pos,
                samples: vec![0.0; self.packet_samples],
                spans: Vec::new(),
            };
        }
        let mut samples = vec![0.0f32; self.packet_samples];
        let mut spans = Vec::new();
        for chunk in &self.chunks {
            if chunk.start >= end || chunk.end() <= pos {
                continue;
            }
            let from = chunk.start.max(pos);
            let to = chunk.end().min(end);
            let src = &chunk.samples[(from - chunk.start) as usize..(to - chunk.start) as usize];
            let dst = &mut samples[(from - pos) as usize..(to - pos) as usize];
            for (d, s) in dst.iter_mut().zip(src) {
                *d += *s;
            }
            spans.push(PacketSpan {
                epoch: chunk.epoch,
                marker: chunk.marker,
                sample_pos: from,
                samples: (to - from) as usize,
            });
        }
        for s in &mut samples {
            *s = s.clamp(-1.0, 1.0);
        }
        self.chunks.retain(|c| c.end() > end);
        self.next_pos = end;
        Packet {
            sample_pos: pos,
            samples,
            spans,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_holds_the_queue_and_resume_continues_where_it_stopped() {
        let config = PacketizerConfig {
            sample_rate: 48_000,
            packet_ms: 20,
            overlap_ms: 0,
        };
        let mut p = Packetizer::new(config).unwrap();
        let audio: Vec<f32> = (0..960 * 3).map(|i| (i as f32 + 1.0) / 10_000.0).collect();
        p.push(1, 7, audio.clone());
        let first = p.next_packet();
        assert_eq!(first.samples[..], audio[..960]);
        p.pause();
        for _ in 0..5 {
            let held = p.next_packet();
            assert!(held.is_silence() && held.spans.is_empty());
        }
        p.resume();
        let next = p.next_packet();
        assert_eq!(
            next.samples[..],
            audio[960..1920],
            "continues with the next unsent sample"
        );
        assert_eq!(
            next.spans[0].sample_pos,
            960 * 6,
            "five packets later on the clock"
        );
        assert_eq!(p.queued_until(), 960 * 8);
    }

    fn config(packet_ms: u32, overlap_ms: u32) -> PacketizerConfig {
        PacketizerConfig {
            sample_rate: 48_000,
            packet_ms,
            overlap_ms,
        }
    }

    fn sine(freq: f32, len: usize, phase0: usize) -> Vec<f32> {
        (0..len)
            .map(|i| {
                0.5 * (2.0 * std::f32::consts::PI * freq * (i + phase0) as f32 / 48_000.0).sin()
            })
            .collect()
    }

    fn drain(p: &mut Packetizer, packets: usize) -> (Vec<f32>, Vec<Packet>) {
        let mut all = Vec::new();
        let mut list = Vec::new();
        for _ in 0..packets {
            let pk = p.next_packet();
            all.extend_from_slice(&pk.samples);
            list.push(pk);
        }
        (all, list)
    }

    #[test]
    fn config_ranges_are_checked() {
        assert!(config(20, 5).validate().is_ok());
        assert!(config(9, 0).validate().is_err());
        assert!(config(41, 0).validate().is_err());
        assert!(config(20, 21).validate().is_err());
        assert!(Packetizer::new(config(5, 0)).is_err());
    }

    #[test]
    fn idle_timeline_keeps_running_with_silence() {
        let mut p = Packetizer::new(config(20, 5)).unwrap();
        for k in 0..5u64 {
            let pk = p.next_packet();
            assert_eq!(pk.sample_pos, k * 960);
            assert_eq!(pk.samples.len(), 960);
            assert!(pk.is_silence());
            assert!(pk.samples.iter().all(|s| *s == 0.0));
        }
        assert_eq!(p.send_position(), 4800);
    }

    #[test]
    fn push_on_idle_starts_at_next_packet_and_is_exact() {
        let mut p = Packetizer::new(config(20, 5)).unwrap();
        p.next_packet();
        let audio = sine(440.0, 2000, 0);
        let start = p.push(1, 7, audio.clone());
        assert_eq!(start, 960);
        let (out, packets) = drain(&mut p, 3);
        assert_eq!(&out[..2000], &audio[..]);
        assert!(out[2000..].iter().all(|s| *s == 0.0));
        let carried: usize = packets
            .iter()
            .flat_map(|p| &p.spans)
            .map(|s| s.samples)
            .sum();
        assert_eq!(carried, 2000);
        assert_eq!(
            packets[0].spans[0],
            PacketSpan {
                epoch: 1,
                marker: 7,
                sample_pos: 960,
                samples: 960
            }
        );
        assert_eq!(packets[2].spans[0].samples, 80);
        assert!(p.is_idle());
    }

    #[test]
    fn consecutive_chunks_crossfade_without_a_click() {
        // A continuous sine split into two chunks that each carry the shared overlap region:
        // joined with the crossfade, the output equals the unsplit sine (no step, no level bump).
        let mut p = Packetizer::new(config(20, 5)).unwrap();
        let overlap = 240;
        let whole = sine(300.0, 4000, 0);
        let a = whole[..2000].to_vec();
        let b = whole[2000 - overlap..].to_vec();
        assert_eq!(p.push(0, 1, a), 0);
        assert_eq!(p.push(0, 2, b), 2000 - overlap as u64);
        assert_eq!(p.queued_until(), 4000);
        let (out, _) = drain(&mut p, 5);
        let max_err = out[..4000]
            .iter()
            .zip(&whole)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(max_err < 1e-5, "join deviates by {max_err}");
    }

    #[test]
    fn join_of_unrelated_chunks_has_no_step() {
        // Chunk A ends at a peak, chunk B starts at the opposite peak: a hard cut would jump by
        // 1.0 in one sample. With the crossfade the largest sample-to-sample step stays near
        // the signals' own slope.
        let mut p = Packetizer::new(config(20, 5)).unwrap();
        let a = vec![0.5f32; 1200];
        let b = vec![-0.5f32; 1200];
        p.push(0, 1, a);
        p.push(0, 2, b);
        let (out, _) = drain(&mut p, 3);
        let max_step = out[..2160]
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0, f32::max);
        assert!(max_step < 0.01, "step {max_step}");

        let mut hard = Packetizer::new(config(20, 0)).unwrap();
        hard.push(0, 1, vec![0.5; 1200]);
        hard.push(0, 2, vec![-0.5; 1200]);
        let (out, _) = drain(&mut hard, 3);
        let max_step = out[..2400]
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0, f32::max);
        assert!(max_step > 0.99, "without overlap the join is a hard cut");
    }

    #[test]
    fn overlap_only_uses_the_unsent_tail() {
        let mut p = Packetizer::new(config(20, 5)).unwrap();
        p.push(0, 1, vec![0.25; 1000]);
        p.next_packet(); // 960 of 1000 sent, 40 left
        let start = p.push(0, 2, vec![0.25; 500]);
        assert_eq!(start, 960);
        let pk = p.next_packet();
        // Constant signals crossfaded over 40 samples stay constant.
        assert!(pk.samples[..500].iter().all(|s| (s - 0.25).abs() < 1e-6));
    }

    #[test]
    fn push_after_underrun_starts_fresh() {
        let mut p = Packetizer::new(config(10, 5)).unwrap();
        p.push(0, 1, vec![0.1; 480]);
        p.next_packet();
        p.next_packet();
        assert_eq!(p.push(0, 2, vec![0.1; 10]), 960);
    }

    #[test]
    fn interrupt_drops_old_epochs_immediately_and_forever() {
        let mut p = Packetizer::new(config(20, 5)).unwrap();
        p.push(1, 1, vec![0.3; 48_000]);
        let first = p.next_packet();
        assert_eq!(first.spans[0].epoch, 1);
        p.interrupt(2);
        let pk = p.next_packet();
        assert!(pk.is_silence());
        assert!(pk.samples.iter().all(|s| *s == 0.0));
        // A late chunk of the old epoch (TTS still finishing) is refused.
        p.push(1, 9, vec![0.3; 960]);
        assert!(p.next_packet().is_silence());
        // The new epoch plays, starting at the next packet.
        assert_eq!(p.push(2, 3, vec![0.2; 960]), 3 * 960);
        let pk = p.next_packet();
        assert_eq!(pk.spans.len(), 1);
        assert_eq!(pk.spans[0].epoch, 2);
    }

    #[test]
    fn a_barge_in_after_a_pause_lets_the_next_answer_play() {
        let mut p = Packetizer::new(config(20, 0)).unwrap();
        p.push(1, 1, vec![0.3; 4_800]);
        p.next_packet();
        p.pause(); // a voice while the assistant talks...
        assert!(p.next_packet().is_silence());
        p.interrupt(3); // ...confirmed as speech: the answer is cut
        assert!(!p.is_paused());
        p.push(3, 1, vec![0.2; 960]);
        let pk = p.next_packet();
        assert_eq!(pk.spans.len(), 1, "the next answer is not held");
        assert_eq!(pk.spans[0].epoch, 3);
    }

    #[test]
    fn interrupt_keeps_chunks_of_the_new_epoch_at_their_promised_position() {
        let mut p = Packetizer::new(config(20, 0)).unwrap();
        p.push(1, 1, vec![0.3; 960]);
        assert_eq!(p.push(2, 2, vec![0.2; 960]), 960);
        p.interrupt(2);
        // The position returned by push is a promise (face frames are stamped with it), so the
        // surviving chunk is not moved: the old epoch's slot becomes silence.
        assert!(p.next_packet().is_silence());
        let pk = p.next_packet();
        assert_eq!(
            pk.spans,
            vec![PacketSpan {
                epoch: 2,
                marker: 2,
                sample_pos: 960,
                samples: 960
            }]
        );
        assert!(pk.samples.iter().all(|s| (*s - 0.2).abs() < 1e-6));
    }

    #[test]
    fn empty_push_queues_nothing() {
        let mut p = Packetizer::new(config(20, 5)).unwrap();
        assert_eq!(p.push(0, 1, Vec::new()), 0);
        assert!(p.is_idle());
    }

    #[test]
    fn output_is_clamped() {
        let mut p = Packetizer::new(config(20, 0)).unwrap();
        p.push(0, 1, vec![3.0; 960]);
        assert!(p.next_packet().samples.iter().all(|s| *s == 1.0));
    }
}
