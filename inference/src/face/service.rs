//! The face service: one per server, shared by every session. Each session gets a worker
//! thread (and an engine thread per engine it uses), so animation is isolated from the audio
//! path: the voice loop only ever does non-blocking sends into the session and non-blocking
//! (or async) receives of frames.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use goassist_engines::EngineError;
use goassist_engines::face::Animator;
use goassist_engines::face::headaudio::VisemeModel;
use goassist_engines::face::lam::{LamAnimator, LamConfig};
use goassist_engines::face::onnx_model::OnnxAnimator;
use goassist_protocol::FaceFrame;

use super::audio2face::{Audio2FaceAnimator, Audio2FaceClient, Audio2FaceConfig};
use super::clock::SendClock;
use super::lag_gate::{LagGate, LagVerdict};
use super::metrics::{FaceCounters, FaceMetrics, FrameDrop};
use super::settings::FaceSettings;
use super::worker::{Command, Worker};
use crate::config::{AnimationEngineKind, AnimationFallback};

/// Segments a session may queue before new ones are dropped (about 10 s of TTS clauses).
pub const SEGMENT_QUEUE: usize = 16;
/// Frames a session may hold for the voice loop (over 4 s at 60 fps).
pub const FRAME_QUEUE: usize = 256;
/// How long a failure keeps `/readyz` reporting animation as degraded.
const DEGRADED_FOR: Duration = Duration::from_secs(60);

/// Where the `lam` engine's model comes from.
enum LamSource {
    HeadAudio(VisemeModel),
    Onnx(std::path::PathBuf, std::path::PathBuf),
}

/// Builds engines for sessions: the server's factory makes `lam` and `audio2face`; tests inject
/// engines that panic, hang or fail.
pub type EngineFactory =
    Arc<dyn Fn(AnimationEngineKind) -> Result<Box<dyn Animator>, EngineError> + Send + Sync>;

/// Animation health for `/readyz` (never a reason to fail readiness: voice goes on).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum FaceStatus {
    /// Frames flow from the configured engine.
    Healthy,
    /// Animation is off or running on its fallback.
    Degraded {
        /// What happened.
        reason: String,
    },
}

/// State shared by the service and its session workers.
pub(crate) struct ServiceShared {
    pub settings: FaceSettings,
    pub enabled: AtomicBool,
    pub metrics: FaceMetrics,
    pub factory: EngineFactory,
    last_failure: Mutex<Option<(Instant, String)>>,
}

impl ServiceShared {
    pub fn record_failure(&self, reason: String) {
        tracing::warn!(%reason, "animation engine failure");
        if let Ok(mut f) = self.last_failure.lock() {
            *f = Some((Instant::now(), reason));
        }
    }
}

/// The face service (see the module docs).
pub struct FaceService {
    shared: Arc<ServiceShared>,
}

impl FaceService {
    /// Starts the service with the built-in engines. Loads the HeadAudio model once when `lam`
    /// is the engine or the fallback; fails if it is missing. With an Audio2Face-3D URL it must
    /// be called on the server's tokio runtime (a blocking task counts): the shared client runs
    /// its calls there.
    pub fn start(settings: FaceSettings) -> Result<Arc<FaceService>, EngineError> {
        Self::start_with_metrics(settings, FaceMetrics::new())
    }

    /// Like [`FaceService::start`], counting into `metrics` (the server registers them at
    /// start-up, before any engine loads, so the metric names exist from the first scrape).
    pub fn start_with_metrics(
        settings: FaceSettings,
        metrics: FaceMetrics,
    ) -> Result<Arc<FaceService>, EngineError> {
        let needs_lam = settings.engine == AnimationEngineKind::Lam
            || settings.fallback == AnimationFallback::Lam;
        let fps = settings.fps;
        let lam = if !needs_lam {
            None
        } else if let Some(onnx) = settings.lam_onnx_model.clone() {
            // Fail at start-up, not in the first session, if the user's model is unusable.
            OnnxAnimator::load(&settings.models_dir, &onnx, fps)?;
            Some(LamSource::Onnx(settings.models_dir.clone(), onnx))
        } else {
            let model_path = settings
                .models_dir
                .join("face/headaudio-model-en-mixed.bin");
            Some(LamSource::HeadAudio(VisemeModel::load(&model_path)?))
        };
        let a2f = match settings.audio2face_url.clone() {
            None => None,
            Some(url) => {
                let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
                    EngineError::InvalidInput(
                        "the Audio2Face-3D client needs the server's tokio runtime".into(),
                    )
                })?;
                let config = Audio2FaceConfig {
                    url,
                    fps,
                    connect_timeout: settings.deadline,
                    request_timeout: settings.deadline * 4,
                    api_key: settings.audio2face_api_key.clone(),
                };
                Some(Audio2FaceClient::new(config, runtime))
            }
        };
        let factory: EngineFactory = Arc::new(move |kind| match (kind, &lam) {
            (AnimationEngineKind::Lam, Some(LamSource::HeadAudio(model))) => {
                Ok(Box::new(LamAnimator::with_model(
                    model.clone(),
                    LamConfig {
                        fps,
                        ..LamConfig::default()
                    },
                )) as Box<dyn Animator>)
            }
            (AnimationEngineKind::Lam, Some(LamSource::Onnx(dir, model))) => {
                Ok(Box::new(OnnxAnimator::load(dir, model, fps)?) as Box<dyn Animator>)
            }
            (AnimationEngineKind::Lam, None) => Err(EngineError::InvalidInput(
                "lam was not configured at start-up".into(),
            )),
            (AnimationEngineKind::Audio2Face, _) => match &a2f {
                Some(client) => {
                    Ok(Box::new(Audio2FaceAnimator::new(client.clone())) as Box<dyn Animator>)
                }
                // The session starts on the fallback and retries later, as after a failure.
                None => Err(EngineError::InvalidInput(
                    "AUDIO2FACE_URL is not set: no Audio2Face-3D service to connect to".into(),
                )),
            },
        });
        Ok(Self::build(settings, factory, metrics))
    }

    /// Starts the service with engines from `factory`.
    pub fn start_with_factory(settings: FaceSettings, factory: EngineFactory) -> Arc<FaceService> {
        Self::build(settings, factory, FaceMetrics::new())
    }

    fn build(
        settings: FaceSettings,
        factory: EngineFactory,
        metrics: FaceMetrics,
    ) -> Arc<FaceService> {
        Arc::new(FaceService {
            shared: Arc::new(ServiceShared {
                enabled: AtomicBool::new(settings.enabled),
                settings,
                metrics,
                factory,
                last_failure: Mutex::new(None),
            }),
        })
    }

    /// The admin kill-switch: off stops all face frames (faces ease to neutral), voice goes on.
    pub fn set_enabled(&self, enabled: bool) {
        tracing::info!(enabled, "animation kill-switch");
        self.shared.enabled.store(enabled, Ordering::SeqCst);
    }

    /// Whether animation is on.
    pub fn is_enabled(&self) -> bool {
        self.shared.enabled.load(Ordering::SeqCst)
    }

    /// Health for `/readyz`.
    pub fn status(&self) -> FaceStatus {
        if !self.is_enabled() {
            return FaceStatus::Degraded {
                reason: "animation disabled by admin".into(),
            };
        }
        match self.shared.last_failure.lock().ok().and_then(|f| f.clone()) {
            Some((at, reason)) if at.elapsed() < DEGRADED_FOR => FaceStatus::Degraded {
                reason: format!("{reason} ({} s ago)", at.elapsed().as_secs()),
            },
            _ => FaceStatus::Healthy,
        }
    }

    /// The Prometheus metrics (register them on the server's registry).
    pub fn metrics(&self) -> &FaceMetrics {
        &self.shared.metrics
    }

    /// The counters now.
    pub fn counters(&self) -> FaceCounters {
        self.shared.metrics.snapshot()
    }

    /// The settings the service runs with.
    pub fn settings(&self) -> &FaceSettings {
        &self.shared.settings
    }

    /// Opens a session's face stream.
    pub fn open_session(self: &Arc<Self>, session_id: u64) -> Result<FaceSession, std::io::Error> {
        let (commands, command_rx) = mpsc::channel();
        let (frame_tx, frame_rx) = tokio::sync::mpsc::channel(FRAME_QUEUE);
        let session = Arc::new(SessionShared {
            epoch: AtomicU32::new(0),
            queued_segments: AtomicUsize::new(0),
            clock: SendClock::new(),
        });
        let worker = Worker::new(session_id, self.shared.clone(), session.clone(), frame_tx);
        std::thread::Builder::new()
            .name(format!("face-session-{session_id}"))
            .spawn(move || worker.run(command_rx))?;
        let control = FaceControl {
            commands,
            session: session.clone(),
            service: self.shared.clone(),
        };
        Ok(FaceSession {
            frames: FrameReceiver {
                rx: frame_rx,
                session,
                service: self.shared.clone(),
                gate: LagGate::new(self.shared.settings.drop_if_lag_ms),
            },
            control,
        })
    }
}

/// Per-session state shared by the control handle, the worker and the receiver.
pub(crate) struct SessionShared {
    pub epoch: AtomicU32,
    pub queued_segments: AtomicUsize,
    pub clock: SendClock,
}

/// A session's face stream: control methods plus the `frames` receiver.
pub struct FaceSession {
    /// Stamped frames, in order: speech frames, idle frames while listening, eases to neutral.
    pub frames: FrameReceiver,
    control: FaceControl,
}

impl FaceSession {
    /// A cloneable control handle (for other tasks of the session).
    pub fn control(&self) -> FaceControl {
        self.control.clone()
    }
}

impl std::ops::Deref for FaceSession {
    type Target = FaceControl;
    fn deref(&self) -> &FaceControl {
        &self.control
    }
}

/// Controls a session's animation. Every method returns at once; none blocks on the engine.
#[derive(Clone)]
pub struct FaceControl {
    commands: mpsc::Sender<Command>,
    session: Arc<SessionShared>,
    service: Arc<ServiceShared>,
}

impl FaceControl {
    /// Queues a stretch of assistant audio (48 kHz mono) that starts at `start_pos` on the
    /// outgoing audio clock. Returns false when it was dropped (queue full, old epoch, disabled
    /// or session closed); drops are counted.
    pub fn push_segment(
        &self,
        epoch: u32,
        audio_48k: Arc<[f32]>,
        start_pos: u64,
        phonemes: Vec<String>,
    ) -> bool {
        let metrics = &self.service.metrics;
        if epoch < self.session.epoch.load(Ordering::SeqCst) {
            metrics.segment_dropped("stale_epoch");
            return false;
        }
        if !self.service.enabled.load(Ordering::SeqCst) {
            metrics.segment_dropped("disabled");
            return false;
        }
        let queued = self.session.queued_segments.fetch_add(1, Ordering::SeqCst);
        if queued >= SEGMENT_QUEUE {
            self.session.queued_segments.fetch_sub(1, Ordering::SeqCst);
            metrics.segment_dropped("input_full");
            return false;
        }
        let sent = self
            .commands
            .send(Command::Segment {
                epoch,
                audio: audio_48k,
                start_pos,
                phonemes: phonemes.into(),
            })
            .is_ok();
        if !sent {
            self.session.queued_segments.fetch_sub(1, Ordering::SeqCst);
            metrics.segment_dropped("closed");
        }
        sent
    }

    /// A barge-in: from now on only frames of `new_epoch` (or later) come out.
    pub fn interrupt(&self, new_epoch: u32) {
        self.session.epoch.fetch_max(new_epoch, Ordering::SeqCst);
        let _ = self.commands.send(Command::Interrupt);
    }

    /// The user is speaking (or the assistant waits): show the idle face while true.
    pub fn set_listening(&self, listening: bool) {
        let _ = self.commands.send(Command::Listening(listening));
    }

    /// The voice loop sent audio up to `pos` (48 kHz) just now. Drives the late-frame gate and
    /// the timing of idle frames and eases; without reports the face estimates the clock.
    pub fn report_send_position(&self, pos: u64) {
        self.session.clock.report(pos, Instant::now());
    }

    /// The current epoch.
    pub fn epoch(&self) -> u32 {
        self.session.epoch.load(Ordering::SeqCst)
    }
}

impl Drop for FaceSession {
    fn drop(&mut self) {
        let _ = self.control.commands.send(Command::Close);
    }
}

/// The receiving end of a session's frames. Applies the epoch fence and the late-frame gate at
/// the moment of delivery, so a frame that waited in the queue is still checked.
pub struct FrameReceiver {
    rx: tokio::sync::mpsc::Receiver<FaceFrame>,
    session: Arc<SessionShared>,
    service: Arc<ServiceShared>,
    gate: LagGate,
}

impl FrameReceiver {
    /// The next deliverable frame; `None` when the session closed.
    pub async fn recv(&mut self) -> Option<FaceFrame> {
        loop {
            let frame = self.rx.recv().await?;
            if self.deliverable(&frame) {
                return Some(frame);
            }
        }
    }

    /// The next deliverable frame if one is ready now.
    pub fn try_recv(&mut self) -> Option<FaceFrame> {
        while let Ok(frame) = self.rx.try_recv() {
            if self.deliverable(&frame) {
                return Some(frame);
            }
        }
        None
    }

    fn deliverable(&self, frame: &FaceFrame) -> bool {
        let metrics = &self.service.metrics;
        if frame.epoch < self.session.epoch.load(Ordering::SeqCst) {
            metrics.frame_dropped(FrameDrop::StaleEpoch);
            return false;
        }
        if let Some(send_pos) = self.session.clock.estimate(Instant::now())
            && let LagVerdict::Drop { .. } = self.gate.decide(frame.sample_pos, send_pos)
        {
            metrics.frame_dropped(FrameDrop::Late);
            return false;
        }
        true
    }
}
