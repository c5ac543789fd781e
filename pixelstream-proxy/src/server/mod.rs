//! The socket layer around the sans-IO hub: listeners, routes, connection tasks, metrics.

mod admission;
pub mod frontend;
pub mod metrics;
mod routes;
mod socket;
mod state;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::serve::{ListenerExt, TapIo};
use tokio::net::{TcpListener, TcpStream};

use crate::config::Config;
use frontend::Frontend;
use metrics::Metrics;
use state::Shared;

/// The three bound listeners (bound before serving so tests can use port 0).
pub struct Listeners {
    /// Player page + player WebSocket.
    pub player: TcpListener,
    /// Streamer WebSocket.
    pub streamer: TcpListener,
    /// `/healthz`, `/readyz`, `/metrics`.
    pub admin: TcpListener,
}

impl Listeners {
    /// Binds the addresses from `config`.
    pub async fn bind(config: &Config) -> std::io::Result<Self> {
        let bind = |ip, port| async move {
            TcpListener::bind(SocketAddr::new(ip, port))
                .await
                .map_err(|e| std::io::Error::new(e.kind(), format!("cannot bind {ip}:{port}: {e}")))
        };
        Ok(Self {
            player: bind(config.player_bind, config.player_port).await?,
            streamer: bind(config.streamer_bind, config.streamer_port).await?,
            admin: bind(config.admin_bind, config.admin_port).await?,
        })
    }

    /// Binds all three on 127.0.0.1 with OS-chosen ports (tests, benchmarks).
    pub async fn loopback() -> std::io::Result<Self> {
        Ok(Self {
            player: TcpListener::bind("127.0.0.1:0").await?,
            streamer: TcpListener::bind("127.0.0.1:0").await?,
            admin: TcpListener::bind("127.0.0.1:0").await?,
        })
    }

    /// (player, streamer, admin) local addresses.
    pub fn addrs(&self) -> std::io::Result<(SocketAddr, SocketAddr, SocketAddr)> {
        Ok((
            self.player.local_addr()?,
            self.streamer.local_addr()?,
            self.admin.local_addr()?,
        ))
    }
}

/// Signalling messages are small and latency-bound: without TCP_NODELAY, Nagle's algorithm
/// meeting the peer's delayed ACK holds a message back for up to ~40 ms.
fn no_delay(listener: TcpListener) -> TapIo<TcpListener, fn(&mut TcpStream)> {
    listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    })
}

/// Serves until `shutdown` resolves, then closes every WebSocket with 1001 and returns.
pub async fn serve(
    config: Config,
    frontend: Frontend,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let shared = Arc::new(Shared::new(config, frontend, Metrics::new()));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let (player_addr, streamer_addr, admin_addr) = listeners.addrs()?;

    let player = axum::serve(
        no_delay(listeners.player),
        routes::player_router(shared.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stopped(stop_rx.clone()));
    let streamer = axum::serve(
        no_delay(listeners.streamer),
        routes::streamer_router(shared.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stopped(stop_rx.clone()));
    let admin = axum::serve(listeners.admin, routes::admin_router(shared.clone()))
        .with_graceful_shutdown(stopped(stop_rx.clone()));

    let ticker = {
        let shared = shared.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = interval.tick() => shared.tick(),
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
        })
    };
    let on_shutdown = {
        let shared = shared.clone();
        async move {
            shutdown.await;
            tracing::info!("shutting down");
            shared.ready.store(false, Ordering::Release);
            shared.close_all();
            let _ = stop_tx.send(true);
        }
    };

    shared.ready.store(true, Ordering::Release);
    tracing::info!(%player_addr, %streamer_addr, %admin_addr, "pixel streaming proxy serving");
    let (p, s, a, ()) = tokio::join!(
        async { player.await },
        async { streamer.await },
        async { admin.await },
        on_shutdown
    );
    ticker.abort();
    p?;
    s?;
    a?;
    Ok(())
}
