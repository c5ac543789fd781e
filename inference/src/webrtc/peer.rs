//! One WebRTC peer: its task (str0m `Rtc`, sockets, Opus codec) and the handle and events the
//! session uses.
//!
//! The task follows str0m's run loop: wait for one thing (a datagram, the `Rtc` timeout or a
//! command), perform that one mutation, then drain `poll_output` to a timeout. Every input from
//! the network is parsed inside this task and a bad one is logged and dropped; only str0m
//! declaring the connection dead ends the task.
//!
//! The peer owns no audio timeline: whoever owns the outgoing clock (the session core's
//! [`crate::media::PacedAudio`]) cuts each packet when it is due and hands it over with
//! [`PeerHandle::send_audio`]; the task only encodes and writes it. No lock is shared between
//! the two.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use str0m::channel::ChannelId;
use str0m::format::Codec;
use str0m::media::{Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Event, IceConnectionState, Input, Output, Rtc};
use tokio::sync::mpsc;
use tracing::Instrument;

use super::WebRtcError;
use super::opus_codec::{OpusDecoder, OpusEncoder};
use super::sockets::{Datagram, PeerSockets, ReaderGuard, datagram_channel};

/// Label of the reliable, ordered data channel carrying JSON events.
pub const EVENTS_CHANNEL: &str = "events";
/// Label of the unordered, no-retransmit data channel carrying binary face frames.
pub const FACE_CHANNEL: &str = "face";

/// Events buffered for the session; beyond this the newest are dropped (and counted) rather
/// than stalling the network loop.
const EVENT_QUEUE: usize = 2048;
/// Text messages held for a reliable channel that is not open yet.
const MAX_PENDING_TEXT: usize = 256;

/// Which way an RTCP statistic describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsDirection {
    /// Audio the peer sends us (our receiver reports).
    Ingress,
    /// Audio we send the peer (its receiver reports).
    Egress,
}

/// What a peer reports to its session.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerEvent {
    /// ICE and DTLS are up; media and data channels can flow.
    Connected,
    /// One decoded Opus packet from the peer, mono 48 kHz.
    AudioIn {
        /// Decoded samples.
        samples_48k: Vec<f32>,
        /// RTP timestamp of the packet (48 kHz clock).
        rtp_timestamp: u32,
        /// When the datagram arrived.
        at: Instant,
    },
    /// A text message on a data channel.
    DataText {
        /// The channel's label.
        channel: String,
        /// The message.
        text: String,
    },
    /// A binary message on a data channel.
    DataBinary {
        /// The channel's label.
        channel: String,
        /// The message.
        data: Vec<u8>,
    },
    /// RTCP-derived quality of one direction of the audio.
    Stats {
        /// Which direction.
        direction: StatsDirection,
        /// Fraction of packets lost in the last report interval, 0..=1.
        loss_ratio: f64,
        /// Interarrival jitter in seconds.
        jitter_seconds: f64,
    },
    /// The peer is gone (closed, ICE/DTLS failure or timeout, or a contained panic). Last event.
    Disconnected {
        /// Why.
        reason: String,
    },
}

/// A running peer: its events and a handle to drive it.
#[derive(Debug)]
pub struct Peer {
    /// Events in the order they happened; ends after [`PeerEvent::Disconnected`].
    pub events: mpsc::Receiver<PeerEvent>,
    /// Drives the peer; cheap to clone.
    pub handle: PeerHandle,
}

/// Drives a peer from the session. Cloning shares the same peer; the peer stops when it is
/// closed or when every handle is dropped.
#[derive(Debug, Clone)]
pub struct PeerHandle {
    commands: mpsc::UnboundedSender<Command>,
}

#[derive(Debug)]
enum Command {
    Audio { sample_pos: u64, samples: Vec<f32> },
    Text { channel: String, text: String },
    Binary { channel: String, data: Vec<u8> },
    Close,
}

impl PeerHandle {
    /// Encodes and sends one packet of outgoing audio (mono 48 kHz, one Opus frame long) whose
    /// first sample is at `sample_pos` on the outgoing clock: its RTP timestamp is
    /// `sample_pos mod 2³²`. Call it when the packet is due; the peer sends at once.
    pub fn send_audio(&self, sample_pos: u64, samples: Vec<f32>) {
        let _ = self.commands.send(Command::Audio {
            sample_pos,
            samples,
        });
    }

    /// Sends a JSON event on the reliable "events" channel (held until the channel opens).
    pub fn send_event(&self, json: String) {
        self.send_text(EVENTS_CHANNEL, json);
    }

    /// Sends text on the data channel labelled `channel`.
    pub fn send_text(&self, channel: &str, text: String) {
        let _ = self.commands.send(Command::Text {
            channel: channel.to_owned(),
            text,
        });
    }

    /// Sends a binary face frame on the "face" channel (dropped if it is not open).
    pub fn send_face(&self, bytes: Vec<u8>) {
        self.send_binary(FACE_CHANNEL, bytes);
    }

    /// Sends binary data on the data channel labelled `channel`.
    pub fn send_binary(&self, channel: &str, data: Vec<u8>) {
        let _ = self.commands.send(Command::Binary {
            channel: channel.to_owned(),
            data,
        });
    }

    /// Closes the peer; it reports [`PeerEvent::Disconnected`].
    pub fn close(&self) {
        let _ = self.commands.send(Command::Close);
    }

    /// Whether the peer's task has ended.
    pub fn is_closed(&self) -> bool {
        self.commands.is_closed()
    }
}

/// How to run a peer.
#[derive(Debug, Clone)]
pub struct PeerOptions {
    /// Duration of the outgoing Opus frames, in ms (10, 20 or 40): the length of the packets
    /// given to [`PeerHandle::send_audio`].
    pub packet_ms: u32,
    /// Give up when ICE + DTLS are not up after this long.
    pub connect_timeout: Duration,
    /// The audio m-line, when known before negotiation events (the offering side).
    pub audio_mid: Option<Mid>,
    /// A short name for logs.
    pub label: String,
}

/// Starts the task of a negotiated `rtc` on `sockets`. Must be called inside a tokio runtime.
pub fn spawn_peer(
    rtc: Rtc,
    sockets: PeerSockets,
    options: PeerOptions,
) -> Result<Peer, WebRtcError> {
    let encoder = OpusEncoder::new(options.packet_ms)?;
    let decoder = OpusDecoder::new()?;
    let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
    let (commands_tx, commands_rx) = mpsc::unbounded_channel();
    let (datagram_tx, datagram_rx) = datagram_channel();
    let readers = sockets.spawn_readers(datagram_tx);
    let now = Instant::now();
    let task = PeerTask {
        rtc,
        sockets,
        datagrams: datagram_rx,
        _readers: readers,
        commands: commands_rx,
        events: events_tx.clone(),
        encoder,
        decoder,
        audio_mid: options.audio_mid,
        channels: HashMap::new(),
        pending_text: Vec::new(),
        connected: false,
        rtc_timeout: now,
        connect_deadline: now + options.connect_timeout,
        connect_timeout: options.connect_timeout,
        exit: None,
        dropped_events: 0,
        bad_datagrams: 0,
    };
    let span = tracing::info_span!("webrtc_peer", peer = %options.label);
    let inner = tokio::spawn(task.run().instrument(span.clone()));
    tokio::spawn(
        async move {
            let reason = match inner.await {
                Ok(reason) => reason,
                Err(e) if e.is_panic() => {
                    let payload = e.into_panic();
                    let msg = payload
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown panic".into());
                    tracing::error!(panic = %msg, "peer task panicked; peer closed");
                    format!("internal error in the peer task: {msg}")
                }
                Err(_) => "peer task cancelled".into(),
            };
            tracing::debug!(%reason, "peer ended");
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                events_tx.send(PeerEvent::Disconnected { reason }),
            )
            .await;
        }
        .instrument(span),
    );
    Ok(Peer {
        events: events_rx,
        handle: PeerHandle {
            commands: commands_tx,
        },
    })
}

struct PeerTask {
    rtc: Rtc,
    sockets: PeerSockets,
    datagrams: mpsc::Receiver<Datagram>,
    _readers: ReaderGuard,
    commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::Sender<PeerEvent>,
    encoder: OpusEncoder,
    decoder: OpusDecoder,
    audio_mid: Option<Mid>,
    channels: HashMap<ChannelId, String>,
    /// Text for reliable channels that are not open yet: (label, text).
    pending_text: Vec<(String, String)>,
    connected: bool,
    rtc_timeout: Instant,
    connect_deadline: Instant,
    connect_timeout: Duration,
    /// Set when the peer must stop; checked after each drain.
    exit: Option<String>,
    dropped_events: u64,
    bad_datagrams: u64,
}

impl PeerTask {
    async fn run(mut self) -> String {
        loop {
            if let Err(reason) = self.drain() {
                return reason;
            }
            if let Some(reason) = self.exit.take() {
                return reason;
            }
            let connect_deadline = (!self.connected).then_some(self.connect_deadline);
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => return "every handle was dropped".into(),
                },
                datagram = self.datagrams.recv() => match datagram {
                    Some(datagram) => self.on_datagram(datagram),
                    None => return "the sockets closed".into(),
                },
                () = sleep_until(Some(self.rtc_timeout)) => self.on_timeout(),
                () = sleep_until(connect_deadline) => {
                    return format!(
                        "ICE/DTLS not established within {} s",
                        self.connect_timeout.as_secs_f32()
                    );
                }
            }
        }
    }

    /// Drains str0m's output until it asks for the next timeout.
    fn drain(&mut self) -> Result<(), String> {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(at)) => {
                    self.rtc_timeout = at;
                    return Ok(());
                }
                Ok(Output::Transmit(t)) => self.sockets.send(t.source, t.destination, &t.contents),
                Ok(Output::Event(event)) => self.on_rtc_event(event),
                Err(e) => return Err(format!("webrtc failure: {e}")),
            }
        }
    }

    fn on_timeout(&mut self) {
        if let Err(e) = self.rtc.handle_input(Input::Timeout(Instant::now())) {
            self.on_input_error(e);
        }
    }

    fn on_datagram(&mut self, datagram: Datagram) {
        let destination = self.sockets.destination_for(datagram.local);
        match Receive::new(Protocol::Udp, datagram.source, destination, &datagram.data) {
            Ok(receive) => {
                if let Err(e) = self
                    .rtc
                    .handle_input(Input::Receive(Instant::now(), receive))
                {
                    self.on_input_error(e);
                }
            }
            Err(e) => {
                // Not STUN, DTLS, RTP or RTCP: garbage aimed at our port.
                self.bad_datagrams += 1;
                tracing::debug!(error = %e, total = self.bad_datagrams, "dropping an unparseable datagram");
            }
        }
    }

    /// A bad packet is the sender's problem; only a dead `Rtc` ends the peer.
    fn on_input_error(&mut self, e: str0m::RtcError) {
        if self.rtc.is_alive() {
            tracing::debug!(error = %e, "input rejected");
        } else {
            self.exit = Some(format!("webrtc failure: {e}"));
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Audio {
                sample_pos,
                samples,
            } => self.send_packet(sample_pos, &samples),
            Command::Text { channel, text } => {
                if !self.write_channel(&channel, false, text.as_bytes()) {
                    if self.pending_text.len() < MAX_PENDING_TEXT {
                        self.pending_text.push((channel, text));
                    } else {
                        tracing::warn!(%channel, "data channel not open and backlog full; dropping text");
                    }
                }
            }
            Command::Binary { channel, data } => {
                // Face frames are only worth something now: no backlog.
                if !self.write_channel(&channel, true, &data) {
                    tracing::trace!(%channel, "data channel not open; dropping binary message");
                }
            }
            Command::Close => {
                self.rtc.disconnect();
                self.exit = Some("closed by the server".into());
            }
        }
    }

    /// Writes to the open channel labelled `label`; false when there is none.
    fn write_channel(&mut self, label: &str, binary: bool, data: &[u8]) -> bool {
        let Some(id) = self
            .channels
            .iter()
            .find(|(_, l)| l.as_str() == label)
            .map(|(id, _)| *id)
        else {
            return false;
        };
        let Some(mut channel) = self.rtc.channel(id) else {
            return false;
        };
        match channel.write(binary, data) {
            Ok(true) => {}
            Ok(false) => tracing::debug!(%label, "data channel buffer full; message dropped"),
            Err(e) => tracing::debug!(%label, error = %e, "data channel write failed"),
        }
        true
    }

    fn on_rtc_event(&mut self, event: Event) {
        match event {
            Event::Connected => {
                self.connected = true;
                self.emit(PeerEvent::Connected);
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.exit = Some("ICE disconnected (peer unreachable)".into());
            }
            Event::MediaAdded(media) if media.kind == MediaKind::Audio => {
                self.audio_mid = Some(media.mid);
            }
            Event::MediaData(data) => {
                if Some(data.mid) != self.audio_mid {
                    return;
                }
                match self.decoder.decode(&data.data) {
                    Ok(samples_48k) => {
                        let rtp_timestamp =
                            data.time.rebase(Frequency::FORTY_EIGHT_KHZ).numer() as u32;
                        self.emit(PeerEvent::AudioIn {
                            samples_48k,
                            rtp_timestamp,
                            at: data.network_time,
                        });
                    }
                    Err(e) => tracing::debug!(error = %e, "dropping an undecodable audio packet"),
                }
            }
            Event::ChannelOpen(id, label) => {
                tracing::debug!(%label, "data channel open");
                self.channels.insert(id, label.clone());
                let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending_text)
                    .into_iter()
                    .partition(|(l, _)| *l == label);
                self.pending_text = waiting;
                for (_, text) in ready {
                    self.write_channel(&label, false, text.as_bytes());
                }
            }
            Event::ChannelData(data) => {
                let channel = self.channels.get(&data.id).cloned().unwrap_or_default();
                if data.binary {
                    self.emit(PeerEvent::DataBinary {
                        channel,
                        data: data.data,
                    });
                } else {
                    match String::from_utf8(data.data) {
                        Ok(text) => self.emit(PeerEvent::DataText { channel, text }),
                        Err(_) => tracing::debug!(%channel, "dropping a non-UTF-8 text message"),
                    }
                }
            }
            Event::ChannelClose(id) => {
                self.channels.remove(&id);
            }
            Event::MediaIngressStats(stats) => self.emit(PeerEvent::Stats {
                direction: StatsDirection::Ingress,
                loss_ratio: stats.loss.map(f64::from).unwrap_or(0.0),
                jitter_seconds: f64::from(stats.jitter) / 48_000.0,
            }),
            Event::MediaEgressStats(stats) => {
                if let Some(remote) = stats.remote {
                    self.emit(PeerEvent::Stats {
                        direction: StatsDirection::Egress,
                        loss_ratio: stats.loss.map(f64::from).unwrap_or(0.0),
                        jitter_seconds: f64::from(remote.jitter) / 48_000.0,
                    });
                }
            }
            _ => {}
        }
    }

    /// Encodes and writes one outgoing packet (dropped, and logged, when it cannot go out).
    fn send_packet(&mut self, sample_pos: u64, samples: &[f32]) {
        let Some(mid) = self.audio_mid.filter(|_| self.connected) else {
            return;
        };
        let payload = match self.encoder.encode(samples) {
            Ok(payload) => payload,
            Err(e) => {
                tracing::warn!(error = %e, "opus encode failed; packet skipped");
                return;
            }
        };
        let Some(writer) = self.rtc.writer(mid) else {
            return;
        };
        let Some(pt) = writer
            .payload_params()
            .find(|p| p.spec().codec == Codec::Opus)
            .map(|p| p.pt())
        else {
            tracing::debug!("no Opus payload type negotiated; not sending audio");
            return;
        };
        let time = MediaTime::new(sample_pos, Frequency::FORTY_EIGHT_KHZ);
        if let Err(e) = writer.write(pt, Instant::now(), time, payload) {
            tracing::debug!(error = %e, "audio write failed");
        }
    }

    fn emit(&mut self, event: PeerEvent) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.events.try_send(event) {
            self.dropped_events += 1;
            if self.dropped_events.is_power_of_two() {
                tracing::warn!(
                    dropped = self.dropped_events,
                    "session is not reading peer events; dropping"
                );
            }
        }
    }
}

/// Sleeps until `at`, or forever when `None`.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}
