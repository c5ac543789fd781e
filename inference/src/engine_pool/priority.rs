//! The scheduling key of an engine request: who is waiting for it, and by when it is needed.

use std::time::Instant;

/// Whether a person is waiting on the answer now, or it is work ahead of playback.
///
/// The order of the variants is the scheduling order: every request a user waits on runs before
/// any request that is only ahead of playback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// A user hears or sees nothing until this is done: the final transcript of a turn, the
    /// first clause of an answer.
    UserWaiting,
    /// Needed later: a partial transcript, a clause that plays after the ones already queued.
    AheadOfPlayback,
}

/// When a request is needed. Requests run in `(class, deadline)` order, ties by arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Priority {
    /// Who waits (compared first).
    pub class: Class,
    /// When the answer is needed (compared second: earliest first).
    pub deadline: Instant,
}

impl Priority {
    /// A user is waiting on this now (`now` is the time of the request: among these, the
    /// oldest runs first).
    pub fn user_waiting(now: Instant) -> Self {
        Priority {
            class: Class::UserWaiting,
            deadline: now,
        }
    }

    /// Work ahead of playback, needed by `deadline` (for a clause: when the audio before it
    /// runs out; for a partial transcript: when the next one would replace it).
    pub fn ahead_of_playback(deadline: Instant) -> Self {
        Priority {
            class: Class::AheadOfPlayback,
            deadline,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_waiting_user_goes_first_then_the_earliest_deadline() {
        let t = Instant::now();
        let later = t + Duration::from_secs(1);
        assert!(Priority::user_waiting(later) < Priority::ahead_of_playback(t));
        assert!(Priority::ahead_of_playback(t) < Priority::ahead_of_playback(later));
        assert!(Priority::user_waiting(t) < Priority::user_waiting(later));
    }
}
