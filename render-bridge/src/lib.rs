//! The GoAssist render-bridge: receives face frames from one or many inference pods over UDP
//! and feeds them to Unreal Engine — Live Link Face v6 for the stock ARKit source (no plugin
//! needed), the native stream (face + audio) for the GoAssistLiveLink plugin, and optionally
//! VMC/OSC.
//!
//! Design decisions:
//! - **Emit on arrival.** Each datagram is judged and sent out before the next is read, on one
//!   thread with blocking std sockets: no tick adds latency and no async machinery sits on the
//!   hot path. The HTTP side (health, metrics) runs on its own small tokio runtime.
//! - **Sans-IO rules.** Epochs, reordering, lag dropping and slow-freeze live in
//!   [`core::BridgeCore`], which takes `now` and touches no socket, so tests run it in virtual
//!   time. A plain `HashMap` of subjects proved clearer than an ECS here: there is one entity
//!   kind and two systems (ingest, poll), both a few lines.
//! - **Nothing waits on Unreal.** Sends are non-blocking UDP; a refused send is counted and
//!   superseded by the next frame. The inference side is equally fire-and-forget
//!   (`goassist_inference::render_link`).

pub mod config;
pub mod core;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod outputs;
pub mod replay;

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;

pub use config::{BridgeConfig, ConfigError};
use core::{BridgeCore, CoreSettings};
use ingest::{Health, Shutdown};
use metrics::BridgeMetrics;
use outputs::Outputs;

/// A bridge with its sockets bound, ready to run.
pub struct Bridge {
    config: BridgeConfig,
    ingest: UdpSocket,
    http: TcpListener,
    outputs: Outputs,
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
        let outputs = Outputs::open(&config).context("opening the output UDP socket")?;
        let metrics = BridgeMetrics::new().context("registering metrics")?;
        Ok(Bridge {
            config,
            ingest,
            http,
            outputs,
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
    pub fn run(mut self, shutdown: Shutdown) -> anyhow::Result<()> {
        let http = spawn_http(
            self.http,
            self.health.clone(),
            self.metrics.clone(),
            shutdown.clone(),
        )?;
        tracing::info!(
            ingest = %self.config.ingest_addr,
            livelink = ?self.config.livelink_addrs,
            plugin = ?self.config.plugin_addr,
            vmc = ?self.config.vmc_addr,
            "render-bridge running"
        );
        let mut core = BridgeCore::new(CoreSettings::from(&self.config));
        ingest::run(
            &self.ingest,
            &mut core,
            &mut self.outputs,
            &self.metrics,
            &self.health,
            &shutdown,
        );
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

fn spawn_http(
    listener: TcpListener,
    health: Arc<Health>,
    metrics: BridgeMetrics,
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
                let app = http::router(health, metrics);
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
