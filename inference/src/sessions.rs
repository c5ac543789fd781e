//! The table of live sessions: admission control, listing, ending, and draining.
//!
//! A session holds a [`SessionTicket`] for its whole life; dropping the ticket removes it from
//! the table and keeps `goassist_sessions_active` right whichever way the session ends. Draining
//! (safe restart) refuses new sessions, lets live ones finish, and force-cancels what is left
//! when the deadline passes.
//!
//! Every session has three names, all drawn from the OS RNG (never from a clock or a counter,
//! so that nobody can guess another person's):
//! - its public [`SessionId`] (128 bits, 32 hex digits): in the WHIP `Location`, the `session`
//!   event, the admin list and the logs;
//! - its [`ResourceSecret`] (256 bits): given once, in the 201's `Location`, and asked for on
//!   every later call on the WHIP resource; never listed or logged;
//! - its bridge id (64 bits, the table key): the `u64` session field of the face frames and
//!   render-bridge datagrams (a fixed wire format), shown as `bridge_session` in the admin list
//!   for render-bridge session routes. It grants nothing on this server's API.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use subtle::ConstantTimeEq;
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
    /// The session reached SESSION_MAX_DURATION_S.
    MaxDuration,
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
            EndReason::MaxDuration => "max_duration",
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
    /// The OS RNG failed, so no unguessable id could be drawn.
    NoRandomness,
}

/// Fills an array from the OS RNG (getrandom(2) on Linux).
fn os_random<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)?;
    Ok(bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 64 random bits as 16 hex digits: a label that says nothing about time or order (the TURN
/// REST username of an ICE-server hand-out). Not a secret.
pub fn unguessable_label() -> String {
    os_random::<8>().map_or_else(|_| "client".to_string(), |bytes| hex(&bytes))
}

/// A session's public id: 128 bits from the OS RNG, written as 32 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionId([u8; 16]);

impl SessionId {
    /// Parses the 32-hex-digit form (either case); anything else is `None`.
    pub fn parse(text: &str) -> Option<SessionId> {
        parse_hex::<16>(text).map(SessionId)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

/// The secret that guards a session's WHIP resource: 256 bits from the OS RNG (64 hex digits).
/// Deliberately not `Debug` or `Display`, so it cannot slip into a log line.
#[derive(Clone)]
pub struct ResourceSecret([u8; 32]);

impl ResourceSecret {
    /// The form a client gets (in the `Location`) and presents back.
    pub fn expose(&self) -> String {
        hex(&self.0)
    }

    /// True if `presented` is this secret; compared in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        match parse_hex::<32>(presented) {
            Some(bytes) => bool::from(bytes.ct_eq(&self.0)),
            None => false,
        }
    }
}

fn parse_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut bytes = [0u8; N];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(bytes)
}

/// What the admin API shows of a session.
#[derive(Debug, Clone, Serialize)]
pub struct SessionInfo {
    /// The public session id (also in the WHIP `Location` and the `session` event).
    pub id: String,
    /// The 64-bit id in face frames and render-bridge datagrams (16 hex digits): the `ID` of a
    /// render-bridge session route.
    pub bridge_session: String,
    /// Seconds since the Unix epoch when it started.
    pub started_at_unix: u64,
    /// Seconds it has been open.
    pub age_s: u64,
    /// The conversation state (`listening`, `thinking`, `speaking`), kept by the session.
    pub state: String,
}

struct Entry {
    public_id: SessionId,
    secret: ResourceSecret,
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
    entries: Mutex<BTreeMap<u64, Entry>>,
    draining: AtomicBool,
    drain_deadline: Mutex<Option<tokio::time::Instant>>,
    changed: Notify,
    metrics: Metrics,
}

impl SessionRegistry {
    /// A table admitting at most `max` sessions at once.
    pub fn new(max: usize, metrics: Metrics) -> Arc<Self> {
        Arc::new(SessionRegistry {
            max,
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
        let drawn = (os_random::<8>(), os_random::<16>(), os_random::<32>());
        let (Ok(bridge), Ok(public), Ok(secret)) = drawn else {
            tracing::error!("the OS random number generator failed; session refused");
            return Err(AdmitError::NoRandomness);
        };
        let id = u64::from_le_bytes(bridge);
        // 0 means "no session" in the bridge's routing; a repeat of a live id is as unlikely
        // as guessing one, but would mix two sessions' faces, so both are refused outright.
        if id == 0 || entries.contains_key(&id) {
            return Err(AdmitError::NoRandomness);
        }
        let public_id = SessionId(public);
        let secret = ResourceSecret(secret);
        let cancel = CancellationToken::new();
        let end_reason = Arc::new(Mutex::new(None));
        let state = Arc::new(Mutex::new("connecting".to_string()));
        entries.insert(
            id,
            Entry {
                public_id,
                secret: secret.clone(),
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
            public_id,
            secret,
            registry: Arc::clone(self),
            cancel,
            end_reason,
            state,
        })
    }

    /// Ends a session by its bridge id: its task sees the cancellation and closes. False if
    /// there is no such session.
    pub fn end(&self, id: u64, reason: EndReason) -> bool {
        self.lock()
            .get(&id)
            .map(|entry| entry.end(reason))
            .is_some()
    }

    /// Ends a session by its public id (the admin API). False if there is no such session.
    pub fn end_public(&self, id: SessionId, reason: EndReason) -> bool {
        self.lock()
            .values()
            .find(|entry| entry.public_id == id)
            .map(|entry| entry.end(reason))
            .is_some()
    }

    /// True if session `id` is open and `presented` is its resource secret (constant-time
    /// compare). A wrong secret and an unknown id are one answer: no oracle for live ids.
    pub fn authorize(&self, id: SessionId, presented: &str) -> bool {
        self.lock()
            .values()
            .find(|entry| entry.public_id == id)
            .is_some_and(|entry| entry.secret.matches(presented))
    }

    /// The open sessions.
    pub fn list(&self) -> Vec<SessionInfo> {
        let now = SystemTime::now();
        self.lock()
            .iter()
            .map(|(id, e)| SessionInfo {
                id: e.public_id.to_string(),
                bridge_session: format_bridge_id(*id),
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
    /// refused from now on; at `deadline` the remaining sessions are cancelled. Callers bound
    /// the deadline ([`MAX_DRAIN_DEADLINE`]); a larger one is cut to it here too, so that no
    /// value can overflow the clock and leave a drain half-started.
    pub fn start_drain(self: &Arc<Self>, deadline: Duration) -> DrainStatus {
        let deadline = deadline.min(MAX_DRAIN_DEADLINE);
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

/// The longest drain deadline accepted (DRAIN_TIMEOUT_S's upper bound): one hour.
pub const MAX_DRAIN_DEADLINE: Duration = Duration::from_secs(3600);

impl Entry {
    fn end(&self, reason: EndReason) {
        self.end_reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(reason);
        self.cancel.cancel();
    }
}

/// Formats a bridge id as the render-bridge writes it (16 hex digits).
pub fn format_bridge_id(id: u64) -> String {
    format!("{id:016x}")
}

/// A live session's place in the table; dropping it ends the session's entry.
pub struct SessionTicket {
    id: u64,
    public_id: SessionId,
    secret: ResourceSecret,
    registry: Arc<SessionRegistry>,
    cancel: CancellationToken,
    end_reason: Arc<Mutex<Option<EndReason>>>,
    state: Arc<Mutex<String>>,
}

impl SessionTicket {
    /// The bridge id: the session field of face frames and render-bridge datagrams.
    pub fn bridge_id(&self) -> u64 {
        self.id
    }
    /// The public id (WHIP `Location`, `session` event, admin list, logs).
    pub fn public_id(&self) -> SessionId {
        self.public_id
    }
    /// The WHIP resource secret, for the 201 that creates the session and nothing else.
    pub fn secret(&self) -> &ResourceSecret {
        &self.secret
    }
    /// Cancelled when the session must end (admin, drain deadline, DELETE).
    pub fn cancelled(&self) -> CancellationToken {
        self.cancel.clone()
    }
    /// Records why the session ended, if nothing recorded a reason before (whoever cancels a
    /// session records its own reason first: DELETE, drain, admin); returns the reason that
    /// stands.
    pub fn set_end_reason(&self, reason: EndReason) -> EndReason {
        *self
            .end_reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(reason)
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
        tracing::info!(session = %self.public_id, reason = reason.as_str(), "session ended");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_ids_round_trip_and_nothing_else_parses() {
        let id = SessionId(os_random::<16>().unwrap());
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert_eq!(SessionId::parse(&text), Some(id));
        assert_eq!(SessionId::parse(&text.to_uppercase()), Some(id));
        assert_eq!(SessionId::parse(&text[..31]), None);
        assert_eq!(SessionId::parse(&format!("{text}0")), None);
        assert_eq!(
            SessionId::parse("00000000000000aa"),
            None,
            "old 16-digit ids"
        );
        assert_eq!(SessionId::parse(&"g".repeat(32)), None);
        assert_eq!(SessionId::parse(&"é".repeat(16)), None);
    }

    #[test]
    fn a_secret_matches_itself_only() {
        let secret = ResourceSecret(os_random::<32>().unwrap());
        let text = secret.expose();
        assert!(secret.matches(&text));
        assert!(secret.matches(&text.to_uppercase()));
        let mut flipped = text.clone().into_bytes();
        flipped[63] = if flipped[63] == b'0' { b'1' } else { b'0' };
        assert!(!secret.matches(std::str::from_utf8(&flipped).unwrap()));
        assert!(!secret.matches(&text[..62]));
        assert!(!secret.matches(""));
    }
}
