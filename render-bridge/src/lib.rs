//! The GoAssist render-bridge: receives face frames from one or many inference pods over UDP
//! and feeds them to Unreal Engine — Live Link Face v6 for the stock ARKit source (no plugin
//! needed), the native stream (face + audio) for the GoAssistLiveLink plugin, and optionally
//! VMC/OSC — for many avatars at once.
//!
//! Design decisions:
//! - **A world of avatars.** A render pod serves several sessions, several Live Link subjects
//!   and several Unreal instances (or one Unreal with several MetaHumans). The per-avatar
//!   state therefore lives in a bevy_ecs [`World`](bevy_ecs::world::World): one entity per
//!   avatar (keyed by avatar id and, when it has a subject of its own, session), with a
//!   component per concern — its route and output targets, its filter state, its latest pose,
//!   its hold/ease state, its pending audio — and one small system per step of a run (ingest →
//!   spawn/route → filter → hold/interpolate → emit), in [`world`]. An earlier version kept a
//!   `HashMap` of subjects and two functions; with routing, a cap, a subject pool, per-avatar
//!   targets and audio forwarding, each rule now reads and writes only the components it
//!   needs, and a new output or rule is a new component or system, not another field and
//!   branch in one struct.
//! - **Sans-IO.** The world takes `now` as an argument and touches no socket or clock, so tests
//!   run it in virtual time. Routing ([`routing`]) is a plain table, the admission rules
//!   ([`world::admission`]) plain functions.
//! - **Emit on arrival, ease on the frame clock.** The I/O loop ([`ingest`]) runs the world
//!   after each burst of datagrams (one run per burst, on one thread with blocking std sockets)
//!   and sends what it produced before reading again: no tick adds latency to a live frame.
//!   Frames synthesised by the bridge (easing to neutral) go out at the configured fps.
//! - **Nothing waits on Unreal.** Sends are non-blocking UDP; a refused send is counted and
//!   superseded by the next frame. The inference side is equally fire-and-forget
//!   (`goassist_inference::render_link`). The HTTP side (health, metrics, the admin API) runs
//!   on its own small tokio runtime and reaches the world only through a bounded channel.

pub mod admin;
pub mod config;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod replay;
pub mod routing;
pub mod sealing;
pub mod senders;
pub mod world;

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;

use admin::{AdminRequest, AdminState};
pub use config::{BridgeConfig, ConfigError};
use ingest::{Health, Shell, Shutdown};
use metrics::BridgeMetrics;
use sealing::Unsealer;
use senders::SenderGate;
use world::BridgeWorld;

/// A bridge with its sockets bound, ready to run.
pub struct Bridge {
    config: BridgeConfig,
    ingest: UdpSocket,
    http: TcpListener,
    output: UdpSocket,
    metrics: BridgeMetrics,
    health: Arc<Health>,
}

impl Bridge {
    /// Binds the ingest socket, the HTTP listener and the output socket.
    pub fn bind(config: BridgeConfig) -> anyhow::Result<Bridge> {
        let ingest = bind_ingest(config.ingest_addr)
            .with_context(|| format!("binding ingest UDP {}", config.ingest_addr))?;
        let http = TcpListener::bind(config.http_addr)
            .with_context(|| format!("binding HTTP {}", config.http_addr))?;
        http.set_nonblocking(true)?;
        let output = open_output(&config).context("opening the output UDP socket")?;
        let metrics = BridgeMetrics::new().context("registering metrics")?;
        Ok(Bridge {
            config,
            ingest,
            http,
            output,
            metrics,
            health: Arc::new(Health::default()),
        })
    }

    /// The bound ingest address (with the real port when 0 was asked for).
    pub fn ingest_addr(&self) -> SocketAddr {
        self.ingest.local_addr().unwrap_or(self.config.ingest_addr)
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http.local_addr().unwrap_or(self.config.http_addr)
    }

    /// The bridge's metrics (shared handles).
    pub fn metrics(&self) -> BridgeMetrics {
        self.metrics.clone()
    }

    /// Runs until `shutdown` is set: the HTTP server on a thread of its own, the ingest loop on
    /// the calling thread.
    pub fn run(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let (ingest_addr, http_addr) = (self.ingest_addr(), self.http_addr());
        let (queue, requests): (_, Receiver<AdminRequest>) = sync_channel(admin::ADMIN_QUEUE);
        let admin = AdminState::new(
            self.config.admin_token.clone(),
            queue,
            self.config.targets.clone(),
        );
        let http = spawn_http(
            self.http,
            self.health.clone(),
            self.metrics.clone(),
            admin,
            shutdown.clone(),
        )?;
        let targets: Vec<String> = self
            .config
            .targets
            .list()
            .iter()
            .map(|t| format!("{}={}:{}", t.name, t.kind.prefix(), t.addr))
            .collect();
        tracing::info!(
            ingest = %ingest_addr,
            http = %http_addr,
            targets = ?targets,
            routes = self.config.routes.routes().len(),
            pool = self.config.routes.pool().len(),
            allowed_senders = %self.config.senders.describe(),
            sealed = self.config.keys.is_some(),
            key_ids = ?self.config.keys.as_ref().map(|k| {
                std::iter::once(&k.current)
                    .chain(&k.previous)
                    .map(|key| format!("{:#04x}", key.id()))
                    .collect::<Vec<_>>()
            }),
            max_avatars = self.config.max_avatars,
            max_avatars_per_sender = self.config.max_avatars_per_sender,
            admin = self.config.admin_token.is_some(),
            "render-bridge running"
        );
        let mut world = BridgeWorld::new(&self.config, Instant::now());
        let mut gate = SenderGate::new(self.config.senders.clone());
        let mut unsealer = self
            .config
            .keys
            .as_ref()
            .map(|keys| Unsealer::new(keys, Instant::now()));
        let mut shell = Shell {
            ingest: &self.ingest,
            output: &self.output,
            admin: &requests,
            metrics: &self.metrics,
            gate: &mut gate,
            unsealer: unsealer.as_mut(),
            health: &self.health,
            shutdown: &shutdown,
        };
        ingest::run(&mut shell, &mut world);
        shutdown.store(true, Ordering::Relaxed);
        if http.join().is_err() {
            anyhow::bail!("HTTP thread panicked");
        }
        Ok(())
    }

    /// Runs on background threads (tests, benchmarks); stop it with [`RunningBridge::stop`].
    pub fn spawn(self) -> anyhow::Result<RunningBridge> {
        let ingest_addr = self.ingest_addr();
        let http_addr = self.http_addr();
        let metrics = self.metrics();
        let shutdown: Shutdown = Arc::new(AtomicBool::new(false));
        let flag = shutdown.clone();
        let thread = std::thread::Builder::new()
            .name("bridge-ingest".into())
            .spawn(move || self.run(flag))?;
        Ok(RunningBridge {
            ingest_addr,
            http_addr,
            metrics,
            shutdown,
            thread,
        })
    }
}

/// A bridge running on background threads.
pub struct RunningBridge {
    /// Where to send face frames.
    pub ingest_addr: SocketAddr,
    /// Where health and metrics are served.
    pub http_addr: SocketAddr,
    /// Its metrics.
    pub metrics: BridgeMetrics,
    shutdown: Shutdown,
    thread: JoinHandle<anyhow::Result<()>>,
}

impl RunningBridge {
    /// Stops both loops and waits for them.
    pub fn stop(self) -> anyhow::Result<()> {
        self.shutdown.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("bridge thread panicked"))?
    }
}

/// Receive buffer asked for on the ingest socket: ~25,000 face-only datagrams, so a burst (or
/// the ingest thread being descheduled for a few milliseconds) does not overflow into kernel
/// drops. Linux caps it at `net.core.rmem_max`.
pub const INGEST_RECV_BUFFER: usize = 4 << 20;

fn bind_ingest(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(e) = socket.set_recv_buffer_size(INGEST_RECV_BUFFER) {
        tracing::warn!(error = %e, "cannot enlarge the ingest receive buffer");
    }
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// One unconnected, non-blocking socket for every target (IPv6 if any target is).
fn open_output(config: &BridgeConfig) -> std::io::Result<UdpSocket> {
    let any_v6 = config.targets.list().iter().any(|t| t.addr.is_ipv6());
    let bind: SocketAddr = if any_v6 {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        ([0, 0, 0, 0], 0).into()
    };
    let socket = UdpSocket::bind(bind)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

fn spawn_http(
    listener: TcpListener,
    health: Arc<Health>,
    metrics: BridgeMetrics,
    admin: AdminState,
    shutdown: Shutdown,
) -> anyhow::Result<JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the HTTP runtime")?;
    let thread = std::thread::Builder::new()
        .name("bridge-http".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!(error = %e, "HTTP listener unusable");
                        return;
                    }
                };
                let stop = async move {
                    while !shutdown.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                };
                let app = http::router(health, metrics, admin);
                if let Err(e) = axum::serve(listener, app)
                    .with_graceful_shutdown(stop)
                    .await
                {
                    tracing::error!(error = %e, "HTTP server ended");
                }
            });
        })?;
    Ok(thread)
}
