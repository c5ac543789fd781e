//! Process-wide state shared by every connection: the hub behind one mutex, the send
//! handles of live connections, and metrics. Routing is a few microseconds of CPU, so one
//! short critical section per message is cheaper than an actor hop; no `.await` ever happens
//! under the lock, and every send is a non-blocking `try_send` into a bounded queue, so a
//! stuck peer can never stall the hub or other peers.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::{mpsc, watch};

use super::admission::AddressSlots;
use super::frontend::Frontend;
use super::metrics::Metrics;
use crate::config::Config;
use crate::signalling::hub::close_code;
use crate::signalling::{ConnId, Hub, HubSettings, Output, RejectReason, Role};

/// A close request delivered to a connection task: code and reason.
pub type CloseRequest = Option<(u16, String)>;

/// How the hub reaches one connection task.
pub struct PeerHandle {
    /// Bounded outbound queue of text frames.
    pub queue: mpsc::Sender<String>,
    /// Set when the hub closes the connection.
    pub close: watch::Sender<CloseRequest>,
    /// Players are disconnected when their queue is full; streamers drop the message instead.
    pub is_player: bool,
}

/// The hub and the handles it routes to, guarded together.
pub struct Core {
    /// The signalling state machine.
    pub hub: Hub,
    /// Send handles of live connections.
    pub peers: HashMap<ConnId, PeerHandle>,
}

/// Everything the routes and connection tasks share.
pub struct Shared {
    /// Validated configuration.
    pub config: Config,
    /// Player page.
    pub frontend: Frontend,
    /// Metrics.
    pub metrics: Metrics,
    /// Set once every listener is serving.
    pub ready: AtomicBool,
    /// Player connections held per client address.
    pub player_addresses: Arc<AddressSlots>,
    core: Mutex<Core>,
    next_conn: AtomicU64,
}

pub use crate::auth::unix_now;

impl Shared {
    /// State for a server with `config`.
    pub fn new(config: Config, frontend: Frontend, metrics: Metrics) -> Self {
        let hub = Hub::new(HubSettings::from_config(&config));
        Self {
            config,
            frontend,
            metrics,
            ready: AtomicBool::new(false),
            player_addresses: Arc::default(),
            core: Mutex::new(Core {
                hub,
                peers: HashMap::new(),
            }),
            next_conn: AtomicU64::new(1),
        }
    }

    /// A fresh connection id.
    pub fn next_conn_id(&self) -> ConnId {
        ConnId(self.next_conn.fetch_add(1, Ordering::Relaxed))
    }

    /// Locks the core. The hub never panics while locked, but if a bug ever did, the state is
    /// still structurally valid, so the lock is recovered rather than taking the server down.
    pub fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// (streamers, players) currently connected.
    pub fn counts(&self) -> (usize, usize) {
        let core = self.lock();
        (core.hub.streamer_count(), core.hub.player_count())
    }

    /// Registers a new connection and lets the hub greet it.
    pub fn connect(&self, conn: ConnId, role: Role, handle: PeerHandle) {
        let mut out = Vec::new();
        let mut core = self.lock();
        core.peers.insert(conn, handle);
        core.hub
            .connect(Instant::now(), unix_now(), conn, role, &mut out);
        self.dispatch(&mut core, out, None);
    }

    /// Feeds a text frame read at `received_at` to the hub.
    pub fn receive(&self, conn: ConnId, text: &str, received_at: Instant) {
        let mut out = Vec::new();
        let mut core = self.lock();
        core.hub.receive(received_at, conn, text, &mut out);
        self.dispatch(&mut core, out, Some(received_at));
    }

    /// The connection's socket ended.
    pub fn disconnect(&self, conn: ConnId) {
        let mut out = Vec::new();
        let mut core = self.lock();
        core.peers.remove(&conn);
        core.hub.disconnect(Instant::now(), conn, &mut out);
        self.dispatch(&mut core, out, None);
    }

    /// Closes `conn` on the server's initiative (ping timeout, write timeout).
    pub fn close(&self, conn: ConnId, reason: RejectReason, code: u16, text: &str) {
        let mut core = self.lock();
        // Already closed by the hub (e.g. as a slow consumer): nothing more to count.
        if core.peers.remove(&conn).is_none() {
            return;
        }
        let mut out = vec![Output::Rejected { conn, reason }];
        core.hub.close(Instant::now(), conn, code, text, &mut out);
        self.dispatch(&mut core, out, None);
    }

    /// Idle-timeout sweep.
    pub fn tick(&self) {
        let mut out = Vec::new();
        let mut core = self.lock();
        core.hub.tick(Instant::now(), &mut out);
        self.dispatch(&mut core, out, None);
    }

    /// Closes every connection with 1001 (going away), for shutdown.
    pub fn close_all(&self) {
        let mut core = self.lock();
        for (_, peer) in core.peers.drain() {
            peer.close
                .send_replace(Some((1001, "server shutting down".into())));
        }
    }

    /// Performs the hub's outputs. Closing a slow player can produce more outputs (its
    /// streamer learns `playerDisconnected`), so this walks a growing list.
    fn dispatch(&self, core: &mut Core, out: Vec<Output>, received_at: Option<Instant>) {
        let mut pending: VecDeque<Output> = out.into();
        while let Some(output) = pending.pop_front() {
            match output {
                Output::Send { to, text, relayed } => {
                    let Some(peer) = core.peers.get(&to) else {
                        continue;
                    };
                    match peer.queue.try_send(text) {
                        Ok(()) => {
                            if let Some(kind) = relayed {
                                self.metrics
                                    .relayed
                                    .with_label_values(&[kind.as_str()])
                                    .inc();
                                if let Some(t) = received_at {
                                    self.metrics
                                        .relay_latency
                                        .observe(t.elapsed().as_secs_f64());
                                }
                                tracing::trace!(to = to.0, kind = kind.as_str(), "relayed");
                            }
                        }
                        Err(mpsc::error::TrySendError::Full(_)) if peer.is_player => {
                            let mut more = vec![Output::Rejected {
                                conn: to,
                                reason: RejectReason::SlowConsumer,
                            }];
                            let now = Instant::now();
                            core.hub.close(
                                now,
                                to,
                                close_code::POLICY,
                                "too slow to receive",
                                &mut more,
                            );
                            pending.extend(more);
                        }
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            pending.push_back(Output::Rejected {
                                conn: to,
                                reason: RejectReason::StreamerQueueFull,
                            });
                        }
                        // The task is ending; its own disconnect will follow.
                        Err(mpsc::error::TrySendError::Closed(_)) => {}
                    }
                }
                Output::Close { conn, code, reason } => {
                    if let Some(peer) = core.peers.remove(&conn) {
                        tracing::debug!(conn = conn.0, code, reason = %reason, "closing connection");
                        peer.close.send_replace(Some((code, reason)));
                    }
                }
                Output::Rejected { conn, reason } => {
                    self.metrics.reject(reason);
                    if reason == RejectReason::RateLimited {
                        tracing::debug!(conn = conn.0, reason = reason.as_str(), "rejected");
                    } else {
                        tracing::warn!(conn = conn.0, reason = reason.as_str(), "rejected");
                    }
                }
            }
        }
        self.metrics.streamers.set(core.hub.streamer_count() as i64);
        self.metrics.players.set(core.hub.player_count() as i64);
    }
}
