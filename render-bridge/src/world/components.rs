//! What an avatar entity is made of. One entity per stream key (an avatar id, and the session
//! when the subject is the session's own); [`super::admission::Track`] is its filter state.

use std::net::IpAddr;
use std::ops::Range;
use std::time::Instant;

use bevy_ecs::component::Component;
use goassist_protocol::arkit::ARKIT_COUNT;

use crate::routing::{StreamKey, TargetSet};

/// Who the avatar is: its key in the stream index, the ids it was last driven with, and the
/// sender whose per-sender cap it counts against.
#[derive(Component, Debug, Clone, Copy)]
pub struct Avatar {
    /// Its key in the stream index.
    pub key: StreamKey,
    /// The avatar id in the datagrams.
    pub avatar_id: u32,
    /// The address of the sender whose frame created it.
    pub sender: IpAddr,
}

/// Where its frames go (the output targets and the Live Link subject).
#[derive(Component, Debug, Clone)]
pub struct Outputs {
    /// Live Link subject name.
    pub subject: String,
    /// Targets it is sent to.
    pub targets: TargetSet,
    /// Whether the plugin stream carries the subject name (routes and the pool name it; the
    /// plugin derives pattern names itself).
    pub named: bool,
    /// Whether any of its targets takes audio (the plugin stream).
    pub wants_audio: bool,
    /// The pool entry it holds, given back when it goes.
    pub pool_slot: Option<usize>,
}

/// The latest pose: the last admitted frame, or the eased pose while it settles.
#[derive(Component, Debug, Clone)]
pub struct Pose {
    /// The 61 values, Unreal order.
    pub values: [f32; ARKIT_COUNT],
    /// Audio clock position of the last admitted frame.
    pub sample_pos: u64,
    /// When the last frame was admitted.
    pub last_arrival: Instant,
    /// The bridge's own counter of frames sent for this avatar (eased ones included), so a
    /// receiver's reorder check accepts them.
    pub out_seq: u32,
}

/// Hold and interpolation: live, easing to neutral after a stall, or quiet.
// One per avatar, stored inline and never moved in bulk: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Component, Debug, Clone)]
pub enum Motion {
    /// Frames are arriving; the pose is held between them.
    Live,
    /// Frames stopped: easing from `from` to neutral since `started`.
    Freezing {
        /// When the ease began.
        started: Instant,
        /// The pose it eases from.
        from: [f32; ARKIT_COUNT],
    },
    /// Neutral and silent since `since`; forgotten after the idle time.
    Quiet {
        /// When the neutral frame went out.
        since: Instant,
    },
}

/// Audio chunks that arrived with this run's admitted frames, for targets that carry audio.
#[derive(Component, Debug, Default, Clone)]
pub struct AudioChunks {
    /// The samples, chunk after chunk (allocation kept between runs).
    pub samples: Vec<i16>,
}

impl AudioChunks {
    /// Appends a chunk; returns where it lies in `samples`.
    pub fn push(&mut self, chunk: impl Iterator<Item = i16>) -> Range<usize> {
        let start = self.samples.len();
        self.samples.extend(chunk);
        start..self.samples.len()
    }
}

/// No longer in the stream index (its session was routed elsewhere): it eases to neutral on
/// its old subject and is forgotten as soon as it is quiet.
#[derive(Component, Debug, Clone, Copy)]
pub struct Detached;
