//! The I/O shell around the [`BridgeWorld`]: one thread, one ingest socket, one output socket.
//!
//! A datagram from a sender the allow-list does not name ([`SenderGate`]) is dropped before
//! it is decoded or queued, counted in `goassist_bridge_datagrams_refused_total`, and logged at
//! most once per sender address a minute. With `BRIDGE_KEY` set, so is a datagram from an
//! allowed sender that is not sealed with the key, or is stale or replayed ([`Unsealer`]).
//!
//! Each turn it waits for a datagram (at most until the world's next output frame tick), reads
//! whatever else is already queued (up to [`BATCH`]), runs the world once, and sends what the
//! world put in its outbox before reading again. A burst costs one schedule run, and a lone
//! frame goes out as soon as it has been judged: no tick sits between arrival and send. Admin
//! requests from the HTTP thread are applied between turns.

use std::io::ErrorKind;
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use goassist_protocol::bridge_auth::MAX_SEALED_LEN;

use crate::admin::{AdminReply, AdminRequest};
use crate::metrics::{BridgeMetrics, Output};
use crate::routing::TargetKind;
use crate::sealing::{self, Unsealer};
use crate::senders::{SenderGate, Verdict};
use crate::world::admission::DropReason;
use crate::world::{BridgeWorld, Outbox, Tally};

/// Most datagrams judged in one run of the world.
pub const BATCH: usize = 64;
/// How often the avatar gauges are refreshed (counting them walks the world).
const GAUGE_INTERVAL: Duration = Duration::from_millis(100);

/// Liveness shared with the HTTP side.
#[derive(Debug, Default)]
pub struct Health {
    /// Set once the loop runs with its sockets bound.
    pub ready: AtomicBool,
    /// Milliseconds since `started` at the loop's last turn.
    pub heartbeat_ms: AtomicU64,
    started: std::sync::OnceLock<Instant>,
}

impl Health {
    /// Records that the loop is alive now.
    pub fn beat(&self, now: Instant) {
        let started = *self.started.get_or_init(|| now);
        let ms = now.saturating_duration_since(started).as_millis() as u64;
        self.heartbeat_ms.store(ms, Ordering::Relaxed);
    }

    /// How long since the loop last turned (None before it first ran).
    pub fn since_last_beat(&self, now: Instant) -> Option<Duration> {
        let started = *self.started.get()?;
        let last = started + Duration::from_millis(self.heartbeat_ms.load(Ordering::Relaxed));
        Some(now.saturating_duration_since(last))
    }
}

/// A shared stop flag, set by signal handlers or tests.
pub type Shutdown = Arc<AtomicBool>;

/// The sockets and channels the loop serves.
pub struct Shell<'a> {
    /// Where face frames arrive.
    pub ingest: &'a UdpSocket,
    /// Where everything is sent from (unconnected, non-blocking).
    pub output: &'a UdpSocket,
    /// Admin requests from the HTTP thread.
    pub admin: &'a Receiver<AdminRequest>,
    /// Metrics.
    pub metrics: &'a BridgeMetrics,
    /// Who may send.
    pub gate: &'a mut SenderGate,
    /// With `BRIDGE_KEY`: the check of each datagram's seal.
    pub unsealer: Option<&'a mut Unsealer>,
    /// Liveness.
    pub health: &'a Health,
    /// Stop flag.
    pub shutdown: &'a AtomicBool,
}

/// Runs until `shutdown` is set. Never returns early on bad input: malformed datagrams are
/// counted and skipped, socket errors are counted and the loop goes on.
pub fn run(shell: &mut Shell<'_>, world: &mut BridgeWorld) {
    let mut published = Published::default();
    let mut next_gauges = Instant::now();
    // One byte more than the largest valid (sealed) datagram, so oversize ones are seen as such.
    let mut buf = vec![0u8; MAX_SEALED_LEN + 1];
    let interval = world.frame_interval();
    shell.health.beat(Instant::now());
    shell.health.ready.store(true, Ordering::Release);
    while !shell.shutdown.load(Ordering::Relaxed) {
        while let Ok(request) = shell.admin.try_recv() {
            serve_admin(world, request);
        }
        let wait = world
            .next_wake()
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_millis(1), interval);
        if receive_burst(shell, world, &mut buf, wait).is_err() {
            // Socket trouble has been logged; the next turn tries again.
        }
        let now = Instant::now();
        world.run(now);
        // Counted before sending, so whoever reads /metrics after a datagram arrives sees it.
        published.counters(world, shell.metrics);
        let outbox = world.outbox();
        send_all(shell.output, outbox, shell.metrics);
        for received in outbox.live_receipts() {
            shell
                .metrics
                .ingest_to_emit
                .observe(received.elapsed().as_secs_f64());
        }
        if now >= next_gauges {
            published.gauges(world, shell.metrics);
            next_gauges = now + GAUGE_INTERVAL;
        }
        shell.health.beat(now);
    }
    shell.health.ready.store(false, Ordering::Release);
}

/// Waits up to `wait` for one datagram, then takes what else is queued without waiting.
fn receive_burst(
    shell: &mut Shell<'_>,
    world: &mut BridgeWorld,
    buf: &mut [u8],
    wait: Duration,
) -> std::io::Result<()> {
    let socket = shell.ingest;
    socket.set_read_timeout(Some(wait))?;
    match receive_one(shell, world, buf) {
        Ok(true) => {}
        Ok(false) => return Ok(()),
        Err(e) => return Err(e),
    }
    socket.set_nonblocking(true)?;
    let mut result = Ok(());
    while world.pending() < BATCH {
        match receive_one(shell, world, buf) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    socket.set_nonblocking(false)?;
    result
}

/// Receives one datagram into the world (or refuses it: see the module notes); `Ok(false)`
/// when none came.
fn receive_one(
    shell: &mut Shell<'_>,
    world: &mut BridgeWorld,
    buf: &mut [u8],
) -> std::io::Result<bool> {
    match shell.ingest.recv_from(buf) {
        Ok((n, from)) => {
            let now = Instant::now();
            match shell.gate.check(from.ip(), now) {
                Verdict::Allowed => match shell.unsealer.as_deref_mut() {
                    None => world.receive(now, from, &buf[..n]),
                    Some(unsealer) => {
                        match unsealer.open(from.ip(), &buf[..n], now, sealing::unix_ms_now()) {
                            Ok(payload) => world.receive(now, from, payload),
                            Err(refused) => {
                                shell.metrics.refused_unsealed(&refused.error).inc();
                                if refused.log {
                                    tracing::warn!(
                                        sender = %from,
                                        reason = refused.error.reason(),
                                        "{}; counted in goassist_bridge_datagrams_refused_total \
                                         (logged at most once a minute per sender)",
                                        sealing::explain(&refused.error)
                                    );
                                }
                            }
                        }
                    }
                },
                Verdict::Refused { log } => {
                    shell.metrics.refused_sender.inc();
                    if log {
                        tracing::warn!(
                            sender = %from.ip(),
                            "datagram from a sender not in BRIDGE_ALLOWED_SENDERS dropped; \
                             counted in goassist_bridge_datagrams_refused_total \
                             (logged at most once a minute per sender)"
                        );
                    }
                }
            }
            Ok(true)
        }
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
            ) =>
        {
            Ok(false)
        }
        Err(e) => {
            // ICMP errors surface on some platforms; nothing a peer sends stops the loop.
            tracing::debug!(error = %e, "ingest receive error");
            Ok(false)
        }
    }
}

/// Sends every datagram of the outbox; a refused send is counted, never retried (the next
/// frame supersedes it).
pub fn send_all(socket: &UdpSocket, outbox: &Outbox, metrics: &BridgeMetrics) {
    for (transmit, bytes) in outbox.transmits() {
        let output = Output::from(transmit.kind);
        match socket.send_to(bytes, transmit.to) {
            Ok(_) => metrics.frames_out(output).inc(),
            Err(e) => {
                // WouldBlock included: a full socket buffer means the receiver is behind.
                tracing::trace!(error = %e, to = %transmit.to, "send failed");
                metrics.send_errors(output).inc();
            }
        }
    }
}

impl From<TargetKind> for Output {
    fn from(kind: TargetKind) -> Output {
        match kind {
            TargetKind::LiveLink => Output::LiveLink,
            TargetKind::Plugin => Output::Plugin,
            TargetKind::Vmc => Output::Vmc,
        }
    }
}

/// The world's counters as last published, so each publish adds only the difference.
#[derive(Default)]
struct Published(Tally);

impl Published {
    fn counters(&mut self, world: &BridgeWorld, m: &BridgeMetrics) {
        let now = world.tally();
        if now == self.0 {
            return;
        }
        let was = self.0;
        m.frames_in.inc_by(now.frames_in - was.frames_in);
        m.malformed.inc_by(now.malformed - was.malformed);
        for reason in DropReason::ALL {
            m.dropped(reason)
                .inc_by(now.dropped(reason) - was.dropped(reason));
        }
        m.slow_freezes.inc_by(now.freezes - was.freezes);
        m.avatars_created.inc_by(now.spawned - was.spawned);
        m.avatars_forgotten.inc_by(now.despawned - was.despawned);
        self.0 = now;
    }

    fn gauges(&self, world: &mut BridgeWorld, m: &BridgeMetrics) {
        m.avatars.set(world.avatars() as i64);
        m.active_subjects.set(world.active_avatars() as i64);
    }
}

/// Answers one admin request against the world.
fn serve_admin(world: &mut BridgeWorld, request: AdminRequest) {
    let reply = match request.command {
        crate::admin::AdminCommand::View => AdminReply::View(Box::new(world.view())),
        crate::admin::AdminCommand::Set(key, route) => match world.set_route(key, route) {
            Ok(()) => AdminReply::Done,
            Err(e) => AdminReply::Refused(e),
        },
        crate::admin::AdminCommand::Remove(key) => {
            if world.remove_route(key) {
                AdminReply::Done
            } else {
                AdminReply::NotFound
            }
        }
    };
    // The HTTP side may have given up waiting; nothing to do then.
    let _ = request.reply.send(reply);
}
