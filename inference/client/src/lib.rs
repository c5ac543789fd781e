//! A Rust WebRTC voice client on str0m, for the benchmark and tests: it offers Opus audio plus
//! the "events" and "face" data channels exactly as the browser page does, streams WAV/PCM as
//! a microphone would (real-time, one packet per `packet_ms`), and records what comes back with
//! arrival times and RTP timestamps.
//!
//! The client reuses the server's peer task ([`goassist_inference::webrtc::spawn_peer`]) and
//! outgoing clock ([`goassist_inference::media::PacedAudio`], driven by [`PacedSender`]): the
//! same run loop, codec and packet grid, only the offer/answer direction differs.

mod pacer;
mod wav;
mod whip;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use goassist_inference::media::{PacketizerConfig, StreamResampler, WEBRTC_RATE};
use str0m::change::SdpAnswer;
use str0m::channel::{ChannelConfig, Reliability};
use str0m::media::{Direction, MediaKind};
use str0m::{Candidate, Rtc};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use goassist_inference::webrtc::{
    EVENTS_CHANNEL, FACE_CHANNEL, PeerEvent, PeerHandle, PeerOptions, PeerSockets, StatsDirection,
    WebRtcError, spawn_peer,
};

pub use pacer::{PacedSender, SentSpan};
pub use wav::{WavAudio, WavError, encode_wav_i16, parse_wav, read_wav};

/// Why the client failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The WHIP URL is not a usable `http://` URL.
    #[error("bad URL: {0}")]
    BadUrl(String),
    /// The HTTP exchange failed.
    #[error("http: {0}")]
    Http(String),
    /// The server answered with something other than success.
    #[error("server refused with {status}: {body}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// Response body (the server's JSON error).
        body: String,
    },
    /// The answer could not be applied.
    #[error("bad SDP answer: {0}")]
    BadAnswer(String),
    /// Media set-up failed.
    #[error(transparent)]
    WebRtc(#[from] WebRtcError),
    /// The connection did not come up in time, or went down.
    #[error("not connected: {0}")]
    NotConnected(String),
    /// An audio file could not be read.
    #[error(transparent)]
    Wav(#[from] WavError),
}

/// How the client sends audio.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Packet duration in ms (10, 20 or 40).
    pub packet_ms: u32,
    /// Address to bind; loopback for in-process tests.
    pub bind_ip: IpAddr,
    /// How long to wait for ICE + DTLS.
    pub connect_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            packet_ms: 20,
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// One received audio packet, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedAudio {
    /// Mono 48 kHz samples.
    pub samples_48k: Vec<f32>,
    /// RTP timestamp (= the server's sample position mod 2³²).
    pub rtp_timestamp: u32,
    /// Arrival time.
    pub at: Instant,
}

/// One received data channel message.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedMessage<T> {
    /// When it arrived.
    pub at: Instant,
    /// The message.
    pub data: T,
}

/// One packet of the client's own audio that went out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SentAudio {
    /// Position of its first sample on the client's outgoing clock.
    pub sample_pos: u64,
    /// Samples of queued audio in it.
    pub samples: usize,
    /// When it was sent.
    pub at: Instant,
}

/// Everything the client has seen so far.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    /// When ICE + DTLS came up.
    pub connected_at: Option<Instant>,
    /// Received audio packets in arrival order.
    pub audio: Vec<ReceivedAudio>,
    /// Text messages on the "events" channel.
    pub events: Vec<ReceivedMessage<String>>,
    /// Binary messages on the "face" channel.
    pub face: Vec<ReceivedMessage<Vec<u8>>>,
    /// The client's own queued audio as it went out.
    pub sent: Vec<SentAudio>,
    /// Last loss ratio / jitter the client measured on received audio.
    pub ingress_stats: Option<(f64, f64)>,
    /// Why the connection ended, once it has.
    pub disconnected: Option<String>,
}

impl Recording {
    /// Received audio laid out on the sender's RTP clock, starting at the first packet's
    /// timestamp; lost or missing packets are silence. Returns `(first_rtp_timestamp, samples)`.
    pub fn audio_timeline(&self) -> (u32, Vec<f32>) {
        let Some(first) = self.audio.first() else {
            return (0, Vec::new());
        };
        let base = first.rtp_timestamp;
        let mut out: Vec<f32> = Vec::new();
        for packet in &self.audio {
            let offset = packet.rtp_timestamp.wrapping_sub(base) as usize;
            // Reordered packets from before the first one would wrap to huge offsets.
            if offset > 48_000 * 3600 {
                continue;
            }
            let end = offset + packet.samples_48k.len();
            if out.len() < end {
                out.resize(end, 0.0);
            }
            out[offset..end].copy_from_slice(&packet.samples_48k);
        }
        (base, out)
    }
}

/// A connected voice client.
#[derive(Debug)]
pub struct VoiceClient {
    handle: PeerHandle,
    recording: Arc<Mutex<Recording>>,
    changed: Arc<Notify>,
    resource: Option<String>,
    collector: JoinHandle<()>,
    audio: PacedSender,
    next_marker: std::sync::atomic::AtomicU64,
}

impl VoiceClient {
    /// Connects to a WHIP endpoint (`POST` the offer, expect `201` + `Location`) and waits
    /// until media flows.
    pub async fn connect(whip_url: &str) -> Result<Self, ClientError> {
        Self::connect_with_token(whip_url, None).await
    }

    /// [`connect`](Self::connect) presenting a join token (`Authorization: Bearer`), for a
    /// server with `SESSION_TOKEN_SECRET` set.
    pub async fn connect_with_token(
        whip_url: &str,
        join_token: Option<&str>,
    ) -> Result<Self, ClientError> {
        let host_is_loopback = whip::HttpUrl::parse(whip_url)?
            .host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
            || whip_url.starts_with("http://localhost");
        let options = ClientOptions {
            bind_ip: if host_is_loopback {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            },
            ..ClientOptions::default()
        };
        let url = whip_url.to_owned();
        let token = join_token.map(str::to_owned);
        let resource = Arc::new(Mutex::new(None));
        let resource_slot = resource.clone();
        let mut client = Self::connect_with_options(options, move |offer| async move {
            let (answer, location) = whip::post_offer(&url, token.as_deref(), offer).await?;
            *lock(&resource_slot) = location;
            Ok(answer)
        })
        .await?;
        client.resource = lock(&resource).take();
        Ok(client)
    }

    /// Connects through `exchange` (offer SDP in, answer SDP out), for in-process tests.
    pub async fn connect_with<F, Fut>(exchange: F) -> Result<Self, ClientError>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<String, ClientError>>,
    {
        Self::connect_with_options(ClientOptions::default(), exchange).await
    }

    /// [`connect_with`](Self::connect_with) with explicit options.
    pub async fn connect_with_options<F, Fut>(
        options: ClientOptions,
        exchange: F,
    ) -> Result<Self, ClientError>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<String, ClientError>>,
    {
        let ips = if options.bind_ip.is_unspecified() {
            goassist_inference::webrtc::interface_ips(options.bind_ip)
        } else {
            vec![options.bind_ip]
        };
        let packetizer = PacketizerConfig {
            sample_rate: WEBRTC_RATE,
            packet_ms: options.packet_ms,
            overlap_ms: 0,
        };
        packetizer
            .validate()
            .map_err(|e| WebRtcError::InvalidSettings(e.to_string()))?;
        let sockets = PeerSockets::bind(&ips, 0, &[]).map_err(WebRtcError::from)?;
        let mut rtc = Rtc::builder()
            .clear_codecs()
            .enable_opus(true, false)
            .set_stats_interval(Some(Duration::from_secs(1)))
            .build(Instant::now());
        for addr in sockets.candidates() {
            let candidate = Candidate::host(*addr, "udp")
                .map_err(|e| WebRtcError::Rtc(format!("candidate {addr}: {e}")))?;
            rtc.add_local_candidate(candidate);
        }
        let mut change = rtc.sdp_api();
        let mid = change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        change.add_channel_with_config(ChannelConfig {
            label: EVENTS_CHANNEL.into(),
            ..Default::default()
        });
        change.add_channel_with_config(ChannelConfig {
            label: FACE_CHANNEL.into(),
            ordered: false,
            reliability: Reliability::MaxRetransmits { retransmits: 0 },
            ..Default::default()
        });
        let (offer, pending) = change
            .apply()
            .ok_or_else(|| WebRtcError::Rtc("nothing to offer".into()))?;
        let answer_sdp = exchange(offer.to_sdp_string()).await?;
        let answer = SdpAnswer::from_sdp_string(&answer_sdp)
            .map_err(|e| ClientError::BadAnswer(e.to_string()))?;
        rtc.sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| ClientError::BadAnswer(e.to_string()))?;
        let peer = spawn_peer(
            rtc,
            sockets,
            PeerOptions {
                packet_ms: options.packet_ms,
                connect_timeout: options.connect_timeout,
                audio_mid: Some(mid),
                label: "client".into(),
            },
        )?;
        let recording = Arc::new(Mutex::new(Recording::default()));
        let changed = Arc::new(Notify::new());
        let collector = tokio::spawn(collect(peer.events, recording.clone(), changed.clone()));
        let connected = wait_for(&recording, &changed, options.connect_timeout, |r| {
            r.connected_at.is_some() || r.disconnected.is_some()
        })
        .await;
        let outcome = lock(&recording).clone();
        if !connected || outcome.connected_at.is_none() {
            collector.abort();
            peer.handle.close();
            return Err(ClientError::NotConnected(
                outcome.disconnected.unwrap_or_else(|| {
                    format!("no connection within {:?}", options.connect_timeout)
                }),
            ));
        }
        // The microphone's clock starts with the connection; what goes out is recorded.
        let audio = PacedSender::spawn(peer.handle.clone(), packetizer, {
            let (recording, changed) = (recording.clone(), changed.clone());
            move |span| {
                lock(&recording).sent.push(SentAudio {
                    sample_pos: span.sample_pos,
                    samples: span.samples,
                    at: span.at,
                });
                changed.notify_waiters();
            }
        })
        .map_err(|e| WebRtcError::InvalidSettings(e.to_string()))?;
        Ok(Self {
            handle: peer.handle,
            recording,
            changed,
            resource: None,
            collector,
            audio,
            next_marker: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The underlying peer handle (raw audio queue, data channels).
    pub fn handle(&self) -> &PeerHandle {
        &self.handle
    }

    /// Queues mono 48 kHz audio as microphone input; it goes out in real time after anything
    /// queued before. Returns the position range `[start, end)` on the client's RTP clock.
    pub fn send_audio_48k(&self, samples: Vec<f32>) -> (u64, u64) {
        let len = samples.len() as u64;
        let marker = self
            .next_marker
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let start = self.audio.push_audio(0, marker, samples);
        (start, start + len)
    }

    /// Resamples `samples` from `rate` Hz to 48 kHz and queues them.
    pub fn send_audio(&self, samples: &[f32], rate: u32) -> Result<(u64, u64), ClientError> {
        let at_48k = if rate == WEBRTC_RATE {
            samples.to_vec()
        } else {
            let mut resampler = StreamResampler::new(rate, WEBRTC_RATE)
                .map_err(|e| WebRtcError::Codec(e.to_string()))?;
            let mut out = resampler.process(samples);
            out.extend(resampler.flush());
            out
        };
        Ok(self.send_audio_48k(at_48k))
    }

    /// Reads a WAV file and queues it as microphone input.
    pub fn send_wav(&self, path: &Path) -> Result<(u64, u64), ClientError> {
        let wav = read_wav(path)?;
        self.send_audio(&wav.samples, wav.sample_rate)
    }

    /// Waits until the client's outgoing clock has passed `position` (the audio up to there
    /// has been sent), or the timeout.
    pub async fn wait_sent(&self, position: u64, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.audio.send_position() < position {
            if tokio::time::Instant::now() >= deadline || self.handle.is_closed() {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    /// Sends a text message on the "events" channel.
    pub fn send_event(&self, text: String) {
        self.handle.send_event(text);
    }

    /// A copy of everything recorded so far.
    pub fn snapshot(&self) -> Recording {
        lock(&self.recording).clone()
    }

    /// Runs `f` on the live recording without copying it.
    pub fn inspect<T>(&self, f: impl FnOnce(&Recording) -> T) -> T {
        f(&lock(&self.recording))
    }

    /// Waits until `condition` holds on the recording (checked on every new event), or the
    /// timeout; returns whether it held.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        condition: impl FnMut(&Recording) -> bool,
    ) -> bool {
        wait_for(&self.recording, &self.changed, timeout, condition).await
    }

    /// Waits for an "events" message containing `needle`; returns it.
    pub async fn wait_for_event(&self, needle: &str, timeout: Duration) -> Option<String> {
        let mut found = None;
        self.wait_for(timeout, |r| {
            found = r
                .events
                .iter()
                .find(|m| m.data.contains(needle))
                .map(|m| m.data.clone());
            found.is_some()
        })
        .await;
        found
    }

    /// Closes the connection and, when connected through WHIP, DELETEs the session.
    pub async fn close(self) -> Result<Recording, ClientError> {
        self.handle.close();
        let result = match &self.resource {
            Some(resource) => whip::delete(resource).await,
            None => Ok(()),
        };
        self.wait_for(Duration::from_secs(2), |r| r.disconnected.is_some())
            .await;
        let recording = self.snapshot();
        self.collector.abort();
        result.map(|()| recording)
    }

    /// The WHIP session resource (`Location`), when connected through WHIP.
    pub fn resource(&self) -> Option<&str> {
        self.resource.as_deref()
    }
}

/// Waits until `condition` holds on `recording` (checked on every change), or the timeout.
async fn wait_for(
    recording: &Mutex<Recording>,
    changed: &Notify,
    timeout: Duration,
    mut condition: impl FnMut(&Recording) -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let notified = changed.notified();
        if condition(&lock(recording)) {
            return true;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return condition(&lock(recording));
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn collect(
    mut events: tokio::sync::mpsc::Receiver<PeerEvent>,
    recording: Arc<Mutex<Recording>>,
    changed: Arc<Notify>,
) {
    while let Some(event) = events.recv().await {
        {
            let mut r = lock(&recording);
            match event {
                PeerEvent::Connected => r.connected_at = Some(Instant::now()),
                PeerEvent::AudioIn {
                    samples_48k,
                    rtp_timestamp,
                    at,
                } => r.audio.push(ReceivedAudio {
                    samples_48k,
                    rtp_timestamp,
                    at,
                }),
                PeerEvent::DataText { channel, text } if channel == EVENTS_CHANNEL => {
                    r.events.push(ReceivedMessage {
                        at: Instant::now(),
                        data: text,
                    });
                }
                PeerEvent::DataBinary { channel, data } if channel == FACE_CHANNEL => {
                    r.face.push(ReceivedMessage {
                        at: Instant::now(),
                        data,
                    });
                }
                PeerEvent::DataText { .. } | PeerEvent::DataBinary { .. } => {}
                PeerEvent::Stats {
                    direction: StatsDirection::Ingress,
                    loss_ratio,
                    jitter_seconds,
                } => r.ingress_stats = Some((loss_ratio, jitter_seconds)),
                PeerEvent::Stats { .. } => {}
                PeerEvent::Disconnected { reason } => r.disconnected = Some(reason),
            }
        }
        changed.notify_waiters();
    }
}
