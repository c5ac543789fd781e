//! Runs one [`Animator`] on its own thread so that a panic, a hang or an error in the engine
//! never reaches the audio path: the caller waits at most the deadline, a panic is caught, and
//! a runner that failed is thrown away (a hung thread is left to finish on its own; its result
//! goes nowhere).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::Duration;

use goassist_engines::EngineError;
use goassist_engines::face::{Animator, FaceValues};

use super::metrics::FailureKind;

/// Frames of one segment.
pub type SegmentFrames = Vec<(u64, FaceValues)>;

/// Why a segment produced no frames.
#[derive(Debug)]
pub enum EngineFailure {
    /// The engine panicked; the message if it was a string.
    Panic(String),
    /// No answer within the deadline.
    Timeout(Duration),
    /// The engine returned an error.
    Error(EngineError),
    /// The engine thread is gone (it panicked earlier).
    Gone,
}

impl EngineFailure {
    /// The counter this failure goes to.
    pub fn kind(&self) -> FailureKind {
        match self {
            EngineFailure::Panic(_) | EngineFailure::Gone => FailureKind::Panic,
            EngineFailure::Timeout(_) => FailureKind::Timeout,
            EngineFailure::Error(_) => FailureKind::Error,
        }
    }
}

impl std::fmt::Display for EngineFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineFailure::Panic(m) => write!(f, "panicked: {m}"),
            EngineFailure::Timeout(d) => write!(f, "no answer within {} ms", d.as_millis()),
            EngineFailure::Error(e) => write!(f, "{e}"),
            EngineFailure::Gone => write!(f, "engine thread is gone"),
        }
    }
}

enum Job {
    Animate {
        audio: Arc<[f32]>,
        start_pos: u64,
        phonemes: Arc<[String]>,
    },
    Reset,
}

/// An animator on its own thread.
pub struct EngineRunner {
    name: &'static str,
    jobs: Sender<Job>,
    results: Receiver<Result<SegmentFrames, EngineFailure>>,
}

impl EngineRunner {
    /// Starts `engine` on a thread named after `name`.
    pub fn spawn(name: &'static str, mut engine: Box<dyn Animator>) -> std::io::Result<Self> {
        let (jobs, job_rx) = channel::<Job>();
        let (result_tx, results) = channel();
        std::thread::Builder::new()
            .name(format!("face-{name}"))
            .spawn(move || {
                crate::priority::lower_current_thread(crate::priority::FACE_THREAD_NICE);
                while let Ok(job) = job_rx.recv() {
                    match job {
                        Job::Reset => {
                            // A panic here is caught like any other and ends the thread.
                            if catch_unwind(AssertUnwindSafe(|| engine.reset())).is_err() {
                                let _ =
                                    result_tx.send(Err(EngineFailure::Panic("in reset".into())));
                                return;
                            }
                        }
                        Job::Animate {
                            audio,
                            start_pos,
                            phonemes,
                        } => {
                            let outcome = catch_unwind(AssertUnwindSafe(|| {
                                engine.animate(&audio, start_pos, &phonemes)
                            }));
                            let (result, fatal) = match outcome {
                                Ok(Ok(frames)) => (Ok(frames), false),
                                Ok(Err(e)) => (Err(EngineFailure::Error(e)), false),
                                Err(payload) => {
                                    (Err(EngineFailure::Panic(panic_message(&*payload))), true)
                                }
                            };
                            if result_tx.send(result).is_err() || fatal {
                                return;
                            }
                        }
                    }
                }
            })?;
        Ok(EngineRunner {
            name,
            jobs,
            results,
        })
    }

    /// The engine's name (`lam`, `audio2face`), for counters and logs.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Animates one segment, waiting at most `deadline`.
    pub fn animate(
        &mut self,
        audio: Arc<[f32]>,
        start_pos: u64,
        phonemes: Arc<[String]>,
        deadline: Duration,
    ) -> Result<SegmentFrames, EngineFailure> {
        // A result left over from an earlier call that timed out must not be taken for this one.
        while self.results.try_recv().is_ok() {}
        self.jobs
            .send(Job::Animate {
                audio,
                start_pos,
                phonemes,
            })
            .map_err(|_| EngineFailure::Gone)?;
        match self.results.recv_timeout(deadline) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => Err(EngineFailure::Timeout(deadline)),
            Err(RecvTimeoutError::Disconnected) => Err(EngineFailure::Gone),
        }
    }

    /// Asks the engine to forget its stream state (after a barge-in).
    pub fn reset(&mut self) {
        let _ = self.jobs.send(Job::Reset);
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".into()
    }
}
