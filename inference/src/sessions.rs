//! The table of live sessions: admission control, listing, ending, and draining.
//!
//! A session holds a [`SessionTicket`] for its whole life; dropping the ticket removes it from
//! the table and keeps `goassist_sessions_active` right whichever way the session ends. Draining
//! (safe restart) refuses new sessions, lets live ones finish, and force-cancels what is left
//! when the deadline passes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The client hung up (DELETE, or the connection closed).
    Client,
    /// No user voice (speech or typed text) for SESSION_IDLE_TIMEOUT_S.
    IdleTimeout,
    /// An operator ended it through the admin API.
    Admin,
    /// The drain deadline passed.
    Drain,
    /// The session failed.
    Error,
}

impl EndReason {
    /// The label used in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Client => "client",
            EndReason::IdleTimeout => "idle_timeout",
            EndReason::Admin => "admin",
            EndReason::Drain => "drain",
            EndReason::Error => "error",
        }
    }
}

/// Why a new session was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmitError {
    /// MAX_CONCURRENT_SESSIONS are in use.
    Capacity,
    /// The server is draining for a restart.
    Draining,
}

/// What the admin API shows of a session.
#[derive(Debug, Clone, Serialize)]
pub struct SessionInfo {
    /// The session id (also in the WHIP `Location`).
    pub id: String,
    /// Seconds since the Unix epoch when it started.
    pub started_at_unix: u64,
    /// Seconds it has been open.
    pub age_s: u64,
    /// The conversation state (`listening`, `thinking`, `speaking`), kept by the session.
    pub state: String,
}

struct Entry {
    started: SystemTime,
    cancel: CancellationToken,
    end_reason: Arc<Mutex<Option<EndReason>>>,
    state: Arc<Mutex<String>>,
}

/// The drain in progress, if any.
#[derive(Debug, Clone, Serialize)]
pub struct DrainStatus {
    /// True once a drain started.
    pub draining: bool,
    /// Sessions still open.
    pub sessions_remaining: usize,
    /// Seconds until remaining sessions are force-cancelled.
    pub deadline_in_s: Option<u64>,
}

/// The session table.
pub struct SessionRegistry {
    max: usize,
    next_id: AtomicU64,
    entries: Mutex<BTreeMap<u64, Entry>>,
    draining: AtomicBool,
    drain_deadline: Mutex<Option<tokio::time::Instant>>,
    changed: Notify,
    metrics: Metrics,
}

impl SessionRegistry {
    /// A table admitting at most `max` sessions at once.
    pub fn new(max: usize, metrics: Metrics) -> Arc<Self> {
        // Ids start from a time-derived value so that a restarted server does not reuse the
        // previous process's ids in logs and dashboards.
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() << 20)
            .unwrap_or(1);
        Arc::new(SessionRegistry {
            max,
            next_id: AtomicU64::new(seed),
            entries: Mutex::new(BTreeMap::new()),
            draining: AtomicBool::new(false),
            drain_deadline: Mutex::new(None),
            changed: Notify::new(),
            metrics,
        })
    }

    /// Admits a new session, or says why not.
    pub fn admit(self: &Arc<Self>) -> Result<SessionTicket, AdmitError> {
        if self.is_draining() {
            self.metrics
                .sessions_rejected_total
                .with_label_values(&["draining"])
                .inc();
            return Err(AdmitError::Draining);
        }
        let mut entries = self.lock();
        if entries.len() >= self.max {
            self.metrics
                .sessions_rejected_total
                .with_label_values(&["capacity"])
                .inc();
            return Err(AdmitError::Capacity);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let cancel = CancellationToken::new();
        let end_reason = Arc::new(Mutex::new(None));
        let state = Arc::new(Mutex::new("connecting".to_string()));
        entries.insert(
            id,
            Entry {
                started: SystemTime::now(),
                cancel: cancel.clone(),
                end_reason: end_reason.clone(),
                state: state.clone(),
            },
        );
        self.metrics.sessions_active.set(entries.len() as i64);
        drop(entries);
        Ok(SessionTicket {
            id,
            registry: Arc::clone(self),
            cancel,
            end_reason,
            state,
        })
    }

    /// Ends a session: its task sees the cancellation and closes. False if there is no such id.
    pub fn end(&self, id: u64, reason: EndReason) -> bool {
        let entries = self.lock();
        match entries.get(&id) {
            Some(entry) => {
                entry
                    .end_reason
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_or_insert(reason);
                entry.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// The open sessions.
    pub fn list(&self) -> Vec<SessionInfo> {
        let now = SystemTime::now();
        self.lock()
            .iter()
            .map(|(id, e)| SessionInfo {
                id: format_id(*id),
                started_at_unix: e
                    .started
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0),
                age_s: now
                    .duration_since(e.started)
                    .map(|d| d.as_secs())
                    .unwrap_or(0),
                state: e.state.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            })
            .collect()
    }

    /// Sessions open now.
    pub fn count(&self) -> usize {
        self.lock().len()
    }

    /// True once a drain started.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Starts a drain (idempotent: a second call keeps the first deadline). New sessions are
    /// refused from now on; at `deadline` the remaining sessions are cancelled.
    pub fn start_drain(self: &Arc<Self>, deadline: Duration) -> DrainStatus {
        if !self.draining.swap(true, Ordering::SeqCst) {
            let at = tokio::time::Instant::now() + deadline;
            *self
                .drain_deadline
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(at);
            tracing::warn!(
                deadline_s = deadline.as_secs(),
                sessions = self.count(),
                "drain started: refusing new sessions"
            );
            let registry = Arc::clone(self);
            tokio::spawn(async move {
                tokio::select! {
                    _ = registry.wait_empty() => tracing::info!("drain complete: no sessions left"),
                    _ = tokio::time::sleep_until(at) => {
                        let ids: Vec<u64> = registry.lock().keys().copied().collect();
                        tracing::warn!(sessions = ids.len(), "drain deadline passed: cancelling remaining sessions");
                        for id in ids {
                            registry.end(id, EndReason::Drain);
                        }
                    }
                }
            });
            self.changed.notify_waiters();
        }
        self.drain_status()
    }

    /// Stops a drain: sessions are accepted again.
    pub fn resume(&self) {
        if self.draining.swap(false, Ordering::SeqCst) {
            *self
                .drain_deadline
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = None;
            tracing::info!("drain cancelled: accepting sessions again");
        }
    }

    /// Where the drain stands.
    pub fn drain_status(&self) -> DrainStatus {
        let deadline = *self
            .drain_deadline
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        DrainStatus {
            draining: self.is_draining(),
            sessions_remaining: self.count(),
            deadline_in_s: deadline.map(|d| {
                d.saturating_duration_since(tokio::time::Instant::now())
                    .as_secs()
            }),
        }
    }

    /// Resolves when no session is open.
    pub async fn wait_empty(&self) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }

    fn remove(&self, id: u64) -> Option<Entry> {
        let mut entries = self.lock();
        let entry = entries.remove(&id);
        self.metrics.sessions_active.set(entries.len() as i64);
        drop(entries);
        self.changed.notify_waiters();
        entry
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Formats a session id as it appears in URLs and logs.
pub fn format_id(id: u64) -> String {
    format!("{id:016x}")
}

/// Parses a session id from a URL segment.
pub fn parse_id(text: &str) -> Option<u64> {
    (text.len() == 16)
        .then(|| u64::from_str_radix(text, 16).ok())
        .flatten()
}

/// A live session's place in the table; dropping it ends the session's entry.
pub struct SessionTicket {
    id: u64,
    registry: Arc<SessionRegistry>,
    cancel: CancellationToken,
    end_reason: Arc<Mutex<Option<EndReason>>>,
    state: Arc<Mutex<String>>,
}

impl SessionTicket {
    /// The session id.
    pub fn id(&self) -> u64 {
        self.id
    }
    /// Cancelled when the session must end (admin, drain deadline, DELETE).
    pub fn cancelled(&self) -> CancellationToken {
        self.cancel.clone()
    }
    /// Records why the session ended, if nothing recorded a reason before.
    pub fn set_end_reason(&self, reason: EndReason) {
        self.end_reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(reason);
    }
    /// Publishes the conversation state shown by the admin API.
    pub fn set_state(&self, state: &str) {
        let mut current = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if *current != state {
            *current = state.to_string();
        }
    }
}

impl Drop for SessionTicket {
    fn drop(&mut self) {
        let reason = self
            .end_reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or(EndReason::Client);
        self.registry
            .metrics
            .sessions_ended_total
            .with_label_values(&[reason.as_str()])
            .inc();
        self.registry.remove(self.id);
        tracing::info!(session = %format_id(self.id), reason = reason.as_str(), "session ended");
    }
}
