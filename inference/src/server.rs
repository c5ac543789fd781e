//! Runs the server: binds the listeners, loads the models, serves until shutdown.
//!
//! Shutdown follows the runbook: the first SIGTERM (or Ctrl-C) starts a drain (no new sessions,
//! live ones may finish until DRAIN_TIMEOUT_S, then they are cancelled) and the process exits 0
//! once no session is left; a second signal exits at once with code 143.

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use prometheus::IntGauge;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::config::Config;
use crate::http::{self, AppState};

/// Exit code of the immediate exit on a second SIGTERM (128 + 15, as a shell reports it).
pub const FORCED_EXIT_CODE: i32 = 143;

/// Says which face the voice page will show, so an operator who installed the 3D head sees
/// whether the server found it.
fn log_face_assets(config: &Config) {
    let vendor = config.models_dir.join(http::VENDOR_DIR);
    let three = vendor.join("three/build/three.module.js");
    let head = vendor.join("facecap.glb");
    if three.is_file() && head.is_file() {
        tracing::info!(dir = %vendor.display(), "voice page: 3D head installed (three.js + facecap.glb)");
    } else {
        tracing::info!(
            dir = %vendor.display(),
            "voice page: built-in 2D face (for the 3D head run scripts/download_models.sh --with-optional)"
        );
    }
}

/// Serves until shutdown. Returns when the process should exit 0.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let state = AppState::new(config);
    let api_addr = SocketAddr::new(state.config.api_host, state.config.api_port);
    let api = TcpListener::bind(api_addr)
        .await
        .with_context(|| format!("cannot listen on API_HOST:API_PORT {api_addr}"))?;
    let metrics_listener = match state.config.metrics_port {
        Some(port) => {
            let addr = SocketAddr::new(state.config.api_host, port);
            Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on METRICS_PORT {addr}"))?,
            )
        }
        None => None,
    };
    tracing::info!(api = %api_addr, metrics_port = ?state.config.metrics_port, "listening");
    log_face_assets(&state.config);

    crate::services::start(state.clone());
    crate::gpu::start(
        state.metrics.clone(),
        std::sync::Arc::new(goassist_gpu::CudaProbe::new()),
        state.shutdown.clone(),
    );

    if let Some(listener) = metrics_listener {
        let router = http::metrics_router(state.clone());
        let shutdown = state.shutdown.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "metrics listener failed");
            }
        });
    }
    tokio::spawn(watch_signals(state.clone()));

    serve_api(api, state.clone()).await;
    tracing::info!("server stopped");
    Ok(())
}

/// Serves the API on `listener` until `state.shutdown`, then lets open requests finish.
///
/// A loop of its own rather than `axum::serve`, for what that one cannot set: a connection
/// that has not sent a request's headers within HTTP_HEADER_TIMEOUT_S is closed (hyper's
/// header-read timeout), and each request carries its peer address ([`ConnectInfo`]) for the
/// per-client limit on session creation.
pub async fn serve_api(listener: TcpListener, state: AppState) {
    let router = http::router(state.clone());
    let header_timeout = Duration::from_secs(state.config.http_header_timeout_s);
    let shutdown = state.shutdown.clone();
    // Each connection task holds a receiver; `closed()` resolves once every one has ended.
    let (open_tx, open_rx) = tokio::sync::watch::channel(());
    let cap = state.config.http_max_connections;
    let slots = Arc::new(Semaphore::new(cap));
    let mut at_cap = false;
    loop {
        // Past HTTP_MAX_CONNECTIONS, new connections wait in the kernel's listen backlog until
        // one closes: a flood of idle connections cannot run the process out of descriptors or
        // memory, and the header timeout frees the slots it holds.
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if !at_cap {
                    tracing::warn!(
                        cap,
                        "HTTP connection cap reached: new connections wait until one closes"
                    );
                }
                at_cap = true;
                tokio::select! {
                    slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
                    _ = shutdown.cancelled() => break,
                }
            }
        };
        if at_cap && slots.available_permits() > cap / 10 {
            at_cap = false;
        }
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait a moment rather than spin.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let slot = ConnectionSlot::new(slot, state.metrics.http_connections.clone());
        tokio::spawn(serve_connection(
            stream,
            peer,
            router.clone(),
            header_timeout,
            shutdown.clone(),
            (open_rx.clone(), slot),
        ));
    }
    drop(open_rx);
    open_tx.closed().await;
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    header_timeout: Duration,
    shutdown: CancellationToken,
    _open: (tokio::sync::watch::Receiver<()>, ConnectionSlot),
) {
    let service = router.map_request(move |mut request: axum::extract::Request<_>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request.map(axum::body::Body::new)
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    builder.http2().timer(TokioTimer::new());
    let connection = builder
        .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service));
    let mut connection = pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            return;
        }
        _ = shutdown.cancelled() => connection.as_mut().graceful_shutdown(),
    }
    if let Err(e) = connection.await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// One of the HTTP_MAX_CONNECTIONS slots, counted in `goassist_http_connections` while held.
struct ConnectionSlot {
    _permit: OwnedSemaphorePermit,
    open: IntGauge,
}

impl ConnectionSlot {
    fn new(permit: OwnedSemaphorePermit, open: IntGauge) -> Self {
        open.inc();
        ConnectionSlot {
            _permit: permit,
            open,
        }
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.open.dec();
    }
}

/// First SIGTERM/SIGINT: drain, then shut down. Second: exit now.
async fn watch_signals(state: AppState) {
    wait_for_signal().await;
    let deadline = Duration::from_secs(state.config.drain_timeout_s);
    tracing::warn!(
        deadline_s = deadline.as_secs(),
        "SIGTERM: draining before exit (send again to exit at once)"
    );
    state.sessions.start_drain(deadline);
    let sessions = state.sessions.clone();
    tokio::select! {
        _ = async {
            sessions.wait_empty().await;
            // The drain deadline cancels sessions; give their tasks a moment to close cleanly.
        } => {}
        _ = tokio::time::sleep(deadline + Duration::from_secs(5)) => {
            tracing::error!("sessions did not end after the drain deadline; exiting anyway");
        }
        _ = wait_for_signal() => {
            tracing::warn!("second signal: exiting at once");
            goassist_telemetry::logging::finish();
            std::process::exit(FORCED_EXIT_CODE);
        }
    }
    state.shutdown.cancel();
    // Keep honouring a second signal while HTTP connections close.
    wait_for_signal().await;
    goassist_telemetry::logging::finish();
    std::process::exit(FORCED_EXIT_CODE);
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
