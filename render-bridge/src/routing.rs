//! Which session or avatar drives which Live Link subject on which output targets.
//!
//! Sans-IO and free of the ECS: a table the world consults when a stream it has not seen
//! arrives, and the admin endpoint edits. A stream is resolved, in this order, by
//!
//! 1. a **session route** (`session:ID=Subject@targets`, from `BRIDGE_ROUTES` or the admin
//!    API): that session alone drives the subject;
//! 2. an **avatar route** (`avatar:N=Subject@targets`): every session of that avatar id drives
//!    the subject, the newest taking over (one inference pod per character);
//! 3. the **subject pool** (`BRIDGE_SUBJECT_POOL`): each new session takes the first free
//!    subject (one Unreal with several MetaHumans), and gives it back when its avatar is
//!    forgotten; when none is free the stream is refused;
//! 4. otherwise the **pattern** (`BRIDGE_SUBJECT_PATTERN`) on every target, as before routing
//!    existed.
//!
//! Named routes (1–3) may not share a subject on a common target, so two sessions never fight
//! over one face; pattern names are not checked against them.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;

use goassist_protocol::livelink::MAX_ID_LEN;
use serde::Serialize;

use crate::config::subject_name;

/// Most output targets (they are a bit set).
pub const MAX_TARGETS: usize = 64;
/// Longest target name.
pub const MAX_TARGET_NAME: usize = 32;

/// The kind of an output target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// Live Link Face v6 (Unreal's stock ARKit source).
    LiveLink,
    /// The native stream (face + audio) to the GoAssistLiveLink plugin.
    Plugin,
    /// VMC over OSC.
    Vmc,
}

impl TargetKind {
    /// The prefix of an unnamed target's name (`livelink0`, `plugin0`, `vmc0`).
    pub fn prefix(self) -> &'static str {
        match self {
            TargetKind::LiveLink => "livelink",
            TargetKind::Plugin => "plugin",
            TargetKind::Vmc => "vmc",
        }
    }
}

/// One place frames are sent to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// Name used by routes.
    pub name: String,
    /// What is sent there.
    pub kind: TargetKind,
    /// Where.
    pub addr: SocketAddr,
}

/// A set of targets, by their index in the configuration.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TargetSet(u64);

impl TargetSet {
    /// The first `n` targets.
    pub fn first(n: usize) -> TargetSet {
        match n {
            0 => TargetSet(0),
            n if n >= 64 => TargetSet(u64::MAX),
            n => TargetSet((1 << n) - 1),
        }
    }

    /// Adds target `index`.
    pub fn insert(&mut self, index: usize) {
        self.0 |= 1 << index;
    }

    /// Whether target `index` is in the set.
    pub fn contains(self, index: usize) -> bool {
        index < 64 && self.0 & (1 << index) != 0
    }

    /// Whether the sets share a target.
    pub fn overlaps(self, other: TargetSet) -> bool {
        self.0 & other.0 != 0
    }

    /// The indices in the set, ascending.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..64).filter(move |i| self.contains(*i))
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Debug for TargetSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// The configured output targets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Targets(Vec<Target>);

impl Targets {
    /// Checks names (unique, `[A-Za-z0-9_.-]`, ≤ 32 bytes) and the count.
    pub fn new(targets: Vec<Target>) -> Result<Targets, RouteError> {
        if targets.len() > MAX_TARGETS {
            return Err(RouteError::TooManyTargets);
        }
        for (i, t) in targets.iter().enumerate() {
            validate_target_name(&t.name)?;
            if targets[..i].iter().any(|o| o.name == t.name) {
                return Err(RouteError::DuplicateTarget(t.name.clone()));
            }
        }
        Ok(Targets(targets))
    }

    /// All targets.
    pub fn all(&self) -> TargetSet {
        TargetSet::first(self.0.len())
    }

    /// The targets in configuration order.
    pub fn list(&self) -> &[Target] {
        &self.0
    }

    /// Target `index`.
    pub fn get(&self, index: usize) -> Option<&Target> {
        self.0.get(index)
    }

    /// Whether any target of `set` has `kind`.
    pub fn any_of_kind(&self, set: TargetSet, kind: TargetKind) -> bool {
        set.iter()
            .any(|i| self.0.get(i).is_some_and(|t| t.kind == kind))
    }

    /// The set named by `names`; an empty list means every target.
    pub fn select<S: AsRef<str>>(&self, names: &[S]) -> Result<TargetSet, RouteError> {
        if names.is_empty() {
            return Ok(self.all());
        }
        let mut set = TargetSet::default();
        for name in names {
            let name = name.as_ref();
            let i = self
                .0
                .iter()
                .position(|t| t.name == name)
                .ok_or_else(|| RouteError::UnknownTarget(name.to_string()))?;
            set.insert(i);
        }
        Ok(set)
    }

    /// The names of the targets in `set`.
    pub fn names(&self, set: TargetSet) -> Vec<String> {
        set.iter()
            .filter_map(|i| self.0.get(i).map(|t| t.name.clone()))
            .collect()
    }
}

/// Where one avatar's frames go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The Live Link subject name.
    pub subject: String,
    /// The targets it is sent to.
    pub targets: TargetSet,
}

impl Route {
    /// A route after checking the subject name (1..=64 bytes, printable, none of `,@+=` so
    /// every route can also be written in `BRIDGE_ROUTES`).
    pub fn new(subject: &str, targets: TargetSet) -> Result<Route, RouteError> {
        validate_subject(subject)?;
        if targets.is_empty() {
            return Err(RouteError::NoTargets);
        }
        Ok(Route {
            subject: subject.to_string(),
            targets,
        })
    }

    fn conflicts_with(&self, other: &Route) -> bool {
        self.subject == other.subject && self.targets.overlaps(other.targets)
    }
}

/// What a route is keyed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteKey {
    /// One session (the id the inference server logs, 16 hex digits).
    Session(u64),
    /// Every session of an avatar id.
    Avatar(u32),
}

impl fmt::Display for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteKey::Session(s) => write!(f, "session:{s:016x}"),
            RouteKey::Avatar(a) => write!(f, "avatar:{a}"),
        }
    }
}

/// Where a route came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// `BRIDGE_ROUTES`.
    Config,
    /// The admin API.
    Admin,
}

/// The identity of a stream in the world: an avatar id, and the session when the stream's
/// subject belongs to one session (`None`: the sessions of that avatar share one subject).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamKey {
    /// The avatar id in the datagram header.
    pub avatar: u32,
    /// The session, for a subject of its own.
    pub session: Option<u64>,
}

impl StreamKey {
    /// The key of a session with a subject of its own.
    pub fn own(avatar: u32, session: u64) -> StreamKey {
        StreamKey {
            avatar,
            session: Some(session),
        }
    }

    /// The key of a subject the avatar's sessions share.
    pub fn shared(avatar: u32) -> StreamKey {
        StreamKey {
            avatar,
            session: None,
        }
    }
}

/// A route given to a new avatar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// Subject and targets.
    pub route: Route,
    /// Whether the subject was named by a route or the pool (then the plugin stream carries
    /// it; pattern names the plugin derives itself).
    pub named: bool,
    /// The pool entry held, to give back when the avatar goes.
    pub pool_slot: Option<usize>,
}

/// Why a new avatar gets no route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Every pool subject is held.
    NoFreeSubject,
}

/// A route that cannot be set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// A subject name outside the rules.
    #[error("subject {0:?} must be 1..={MAX_ID_LEN} bytes, printable, without `,` `@` `+` `=`")]
    Subject(String),
    /// A target name outside the rules.
    #[error("target name {0:?} must be 1..={MAX_TARGET_NAME} characters of A-Z a-z 0-9 _ . -")]
    TargetName(String),
    /// Two targets with one name.
    #[error("target name {0:?} is used twice")]
    DuplicateTarget(String),
    /// More than [`MAX_TARGETS`].
    #[error("at most {MAX_TARGETS} targets")]
    TooManyTargets,
    /// A target name no target has.
    #[error("no target is named {0:?}")]
    UnknownTarget(String),
    /// A route with no target (there are none configured).
    #[error("no output target is configured")]
    NoTargets,
    /// The subject is already driven on one of these targets.
    #[error("subject {subject:?} is already routed ({holder}) on a common target")]
    Conflict {
        /// The subject.
        subject: String,
        /// Who holds it (`session:…`, `avatar:…`, `pool`).
        holder: String,
    },
    /// A malformed `BRIDGE_ROUTES` / `BRIDGE_SUBJECT_POOL` entry.
    #[error("entry {entry:?}: {problem}")]
    Syntax {
        /// The entry.
        entry: String,
        /// What is wrong.
        problem: String,
    },
}

/// One pool entry and the stream holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PoolSlot {
    route: Route,
    holder: Option<StreamKey>,
}

/// The routing table. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTable {
    targets: Targets,
    pattern: String,
    per_session_pattern: bool,
    sessions: HashMap<u64, (Route, Origin)>,
    avatars: HashMap<u32, (Route, Origin)>,
    pool: Vec<PoolSlot>,
}

/// A read-only view of one route, for the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteView {
    /// `session:…` or `avatar:…`.
    #[serde(rename = "match")]
    pub key: String,
    /// The subject.
    pub subject: String,
    /// Target names.
    pub targets: Vec<String>,
    /// Config or admin.
    pub origin: Origin,
}

/// A read-only view of one pool entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolView {
    /// The subject.
    pub subject: String,
    /// Target names.
    pub targets: Vec<String>,
    /// The session holding it, if any (16 hex digits).
    pub held_by: Option<String>,
}

impl RouteTable {
    /// A table over `targets` with subjects named by `pattern` when nothing else routes.
    pub fn new(targets: Targets, pattern: &str) -> RouteTable {
        RouteTable {
            targets,
            per_session_pattern: pattern.contains("{session}"),
            pattern: pattern.to_string(),
            sessions: HashMap::new(),
            avatars: HashMap::new(),
            pool: Vec::new(),
        }
    }

    /// The output targets.
    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// Parses `BRIDGE_ROUTES` (`session:ID=Subject[@t1+t2]` or `avatar:N=Subject[@…]`,
    /// comma-separated) and `BRIDGE_SUBJECT_POOL` (`Subject[@t1+t2]`, comma-separated) into
    /// the table; `none` or empty means no entries.
    pub fn configure(&mut self, routes: &str, pool: &str) -> Result<(), RouteError> {
        for entry in entries(routes) {
            let (key, route) = entry.split_once('=').ok_or_else(|| RouteError::Syntax {
                entry: entry.to_string(),
                problem: "expected session:ID=Subject or avatar:N=Subject".into(),
            })?;
            let key = parse_key(key.trim()).ok_or_else(|| RouteError::Syntax {
                entry: entry.to_string(),
                problem: "the key must be session:HEX (1..=16 hex digits) or avatar:N".into(),
            })?;
            let route = self.parse_route(route.trim())?;
            self.set(key, route, Origin::Config)?;
        }
        for entry in entries(pool) {
            let route = self.parse_route(entry)?;
            self.check_free(&route, None)?;
            self.pool.push(PoolSlot {
                route,
                holder: None,
            });
        }
        Ok(())
    }

    /// `Subject` or `Subject@t1+t2`.
    fn parse_route(&self, text: &str) -> Result<Route, RouteError> {
        let (subject, targets) = match text.split_once('@') {
            Some((s, t)) => (s.trim(), t.split('+').map(str::trim).collect::<Vec<_>>()),
            None => (text.trim(), Vec::new()),
        };
        Route::new(subject, self.targets.select(&targets)?)
    }

    /// Sets (or replaces) the route for `key`.
    pub fn set(&mut self, key: RouteKey, route: Route, origin: Origin) -> Result<(), RouteError> {
        self.check_free(&route, Some(key))?;
        match key {
            RouteKey::Session(s) => self.sessions.insert(s, (route, origin)),
            RouteKey::Avatar(a) => self.avatars.insert(a, (route, origin)),
        };
        Ok(())
    }

    /// Removes the route for `key`; whether there was one.
    pub fn remove(&mut self, key: RouteKey) -> bool {
        match key {
            RouteKey::Session(s) => self.sessions.remove(&s).is_some(),
            RouteKey::Avatar(a) => self.avatars.remove(&a).is_some(),
        }
    }

    /// The route set for `key`, if any.
    pub fn get(&self, key: RouteKey) -> Option<&Route> {
        match key {
            RouteKey::Session(s) => self.sessions.get(&s),
            RouteKey::Avatar(a) => self.avatars.get(&a),
        }
        .map(|(r, _)| r)
    }

    /// Refuses a route whose subject a different key (or the pool) drives on a common target.
    fn check_free(&self, route: &Route, key: Option<RouteKey>) -> Result<(), RouteError> {
        let conflict = |holder: String| RouteError::Conflict {
            subject: route.subject.clone(),
            holder,
        };
        for (s, (r, _)) in &self.sessions {
            if key != Some(RouteKey::Session(*s)) && r.conflicts_with(route) {
                return Err(conflict(RouteKey::Session(*s).to_string()));
            }
        }
        for (a, (r, _)) in &self.avatars {
            if key != Some(RouteKey::Avatar(*a)) && r.conflicts_with(route) {
                return Err(conflict(RouteKey::Avatar(*a).to_string()));
            }
        }
        if self.pool.iter().any(|p| p.route.conflicts_with(route)) {
            return Err(conflict("pool".into()));
        }
        Ok(())
    }

    /// The key a frame of `avatar` / `session` is filed under: its own subject, or the one it
    /// shares with the other sessions of its avatar. Costs a hash lookup only when routes of
    /// that kind exist.
    pub fn stream_key(&self, avatar: u32, session: u64) -> StreamKey {
        let own = StreamKey::own(avatar, session);
        let shared = StreamKey::shared(avatar);
        if !self.sessions.is_empty() && self.sessions.contains_key(&session) {
            own
        } else if !self.avatars.is_empty() && self.avatars.contains_key(&avatar) {
            shared
        } else if !self.pool.is_empty() || self.per_session_pattern {
            own
        } else {
            shared
        }
    }

    /// The route of a new avatar filed under `key` (from [`RouteTable::stream_key`]); takes a
    /// pool subject when the pool decides.
    pub fn assign(&mut self, key: StreamKey, session: u64) -> Result<Assignment, Refusal> {
        if let Some(s) = key.session
            && let Some((route, _)) = self.sessions.get(&s)
        {
            return Ok(Assignment {
                route: route.clone(),
                named: true,
                pool_slot: None,
            });
        }
        if key.session.is_none()
            && let Some((route, _)) = self.avatars.get(&key.avatar)
        {
            return Ok(Assignment {
                route: route.clone(),
                named: true,
                pool_slot: None,
            });
        }
        if !self.pool.is_empty() {
            let (i, slot) = self
                .pool
                .iter_mut()
                .enumerate()
                .find(|(_, p)| p.holder.is_none())
                .ok_or(Refusal::NoFreeSubject)?;
            slot.holder = Some(key);
            return Ok(Assignment {
                route: slot.route.clone(),
                named: true,
                pool_slot: Some(i),
            });
        }
        Ok(Assignment {
            route: Route {
                subject: subject_name(&self.pattern, key.avatar, session),
                targets: self.targets.all(),
            },
            named: false,
            pool_slot: None,
        })
    }

    /// Gives a pool subject back.
    pub fn release(&mut self, pool_slot: usize) {
        if let Some(slot) = self.pool.get_mut(pool_slot) {
            slot.holder = None;
        }
    }

    /// The routes, sessions first, each sorted.
    pub fn routes(&self) -> Vec<RouteView> {
        let view = |key: RouteKey, (route, origin): &(Route, Origin)| RouteView {
            key: key.to_string(),
            subject: route.subject.clone(),
            targets: self.targets.names(route.targets),
            origin: *origin,
        };
        let mut sessions: Vec<_> = self.sessions.iter().collect();
        sessions.sort_by_key(|(s, _)| **s);
        let mut avatars: Vec<_> = self.avatars.iter().collect();
        avatars.sort_by_key(|(a, _)| **a);
        sessions
            .into_iter()
            .map(|(s, r)| view(RouteKey::Session(*s), r))
            .chain(
                avatars
                    .into_iter()
                    .map(|(a, r)| view(RouteKey::Avatar(*a), r)),
            )
            .collect()
    }

    /// The pool and who holds what.
    pub fn pool(&self) -> Vec<PoolView> {
        self.pool
            .iter()
            .map(|p| PoolView {
                subject: p.route.subject.clone(),
                targets: self.targets.names(p.route.targets),
                held_by: p
                    .holder
                    .and_then(|k| k.session)
                    .map(|s| format!("{s:016x}")),
            })
            .collect()
    }
}

fn entries(list: &str) -> impl Iterator<Item = &str> {
    let list = list.trim();
    let none = list.is_empty() || list.eq_ignore_ascii_case("none");
    list.split(',')
        .map(str::trim)
        .filter(move |e| !none && !e.is_empty())
}

/// `session:HEX` (1..=16 hex digits) or `avatar:N`.
pub fn parse_key(text: &str) -> Option<RouteKey> {
    if let Some(hex) = text.strip_prefix("session:") {
        return parse_session_id(hex).map(RouteKey::Session);
    }
    text.strip_prefix("avatar:")?
        .parse()
        .ok()
        .map(RouteKey::Avatar)
}

/// A session id as the inference server writes it: 1..=16 hex digits.
pub fn parse_session_id(hex: &str) -> Option<u64> {
    if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

fn validate_subject(subject: &str) -> Result<(), RouteError> {
    let ok = !subject.is_empty()
        && subject.len() <= MAX_ID_LEN
        && !subject
            .chars()
            .any(|c| c.is_control() || matches!(c, ',' | '@' | '+' | '='));
    if ok {
        Ok(())
    } else {
        Err(RouteError::Subject(subject.to_string()))
    }
}

fn validate_target_name(name: &str) -> Result<(), RouteError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_TARGET_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(RouteError::TargetName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> Targets {
        let t = |name: &str, kind, port: u16| Target {
            name: name.into(),
            kind,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        Targets::new(vec![
            t("ue1", TargetKind::LiveLink, 1),
            t("ue2", TargetKind::LiveLink, 2),
            t("plugin0", TargetKind::Plugin, 3),
        ])
        .unwrap()
    }

    fn table(routes: &str, pool: &str) -> Result<RouteTable, RouteError> {
        let mut t = RouteTable::new(targets(), "GoAssist_{avatar}");
        t.configure(routes, pool)?;
        Ok(t)
    }

    fn key(avatar: u32, session: Option<u64>) -> StreamKey {
        StreamKey { avatar, session }
    }

    #[test]
    fn without_routes_the_pattern_names_a_subject_shared_by_sessions() {
        let mut t = table("none", "").unwrap();
        let k = t.stream_key(3, 0xAB);
        assert_eq!(k, key(3, None));
        let a = t.assign(k, 0xAB).unwrap();
        assert_eq!(a.route.subject, "GoAssist_3");
        assert_eq!(a.route.targets, targets().all());
        assert!(!a.named);
        let mut per_session = RouteTable::new(targets(), "S{session}");
        assert_eq!(per_session.stream_key(3, 0xAB), key(3, Some(0xAB)));
        let a = per_session.assign(key(3, Some(0xAB)), 0xAB).unwrap();
        assert_eq!(a.route.subject, "Sab");
    }

    #[test]
    fn session_routes_come_before_avatar_routes_before_the_pool() {
        let mut t = table(
            "session:00000000000000ab=Ada@ue1, avatar:3=Bob@ue2+plugin0",
            "Cleo@ue1,Dan@ue1",
        )
        .unwrap();
        let k = t.stream_key(3, 0xAB);
        assert_eq!(k, key(3, Some(0xAB)));
        let a = t.assign(k, 0xAB).unwrap();
        assert_eq!((a.route.subject.as_str(), a.named), ("Ada", true));
        assert_eq!(t.targets().names(a.route.targets), ["ue1"]);
        let k = t.stream_key(3, 0xCD);
        assert_eq!(k, key(3, None), "avatar routes share the subject");
        let b = t.assign(k, 0xCD).unwrap();
        assert_eq!(t.targets().names(b.route.targets), ["ue2", "plugin0"]);
        let k = t.stream_key(4, 0xEF);
        let c = t.assign(k, 0xEF).unwrap();
        assert_eq!((c.route.subject.as_str(), c.pool_slot), ("Cleo", Some(0)));
        let d = t.assign(t.stream_key(4, 0xF0), 0xF0).unwrap();
        assert_eq!(d.route.subject, "Dan");
        assert_eq!(
            t.assign(t.stream_key(4, 0xF1), 0xF1),
            Err(Refusal::NoFreeSubject)
        );
        assert_eq!(t.pool()[0].held_by.as_deref(), Some("00000000000000ef"));
        t.release(0);
        let e = t.assign(t.stream_key(4, 0xF1), 0xF1).unwrap();
        assert_eq!(e.route.subject, "Cleo", "a released subject is reused");
    }

    #[test]
    fn a_subject_is_driven_by_one_route_per_target() {
        let e = table("avatar:1=Ada@ue1,avatar:2=Ada@ue1+ue2", "").unwrap_err();
        assert!(matches!(e, RouteError::Conflict { .. }), "{e}");
        assert!(e.to_string().contains("avatar:1"), "{e}");
        // The same name on disjoint targets is two different faces.
        table("avatar:1=Ada@ue1,avatar:2=Ada@ue2", "").unwrap();
        let e = table("avatar:1=Ada", "Ada@plugin0").unwrap_err();
        assert!(e.to_string().contains("avatar:1"), "{e}");
        let mut t = table("avatar:1=Ada@ue1", "").unwrap();
        // Replacing one's own route is not a conflict.
        let route = Route::new("Ada", t.targets().select(&["ue1", "ue2"]).unwrap()).unwrap();
        t.set(RouteKey::Avatar(1), route.clone(), Origin::Admin)
            .unwrap();
        assert!(matches!(
            t.set(RouteKey::Session(9), route, Origin::Admin),
            Err(RouteError::Conflict { .. })
        ));
        assert!(t.remove(RouteKey::Avatar(1)));
        assert!(!t.remove(RouteKey::Avatar(1)));
    }

    #[test]
    fn bad_entries_say_what_is_wrong() {
        for (routes, pool, needle) in [
            ("session:xyz=Ada", "", "session:HEX"),
            ("session:00000000000000000=Ada", "", "session:HEX"),
            ("avatar:-1=Ada", "", "avatar:N"),
            ("Ada", "", "expected"),
            ("avatar:1=Ada@ue9", "", "ue9"),
            ("avatar:1=", "", "subject"),
            ("", "Ada@", "no target is named \"\""),
            ("", &"x".repeat(65), "1..=64"),
            ("", "A\u{7}da", "printable"),
        ] {
            let e = table(routes, pool).unwrap_err().to_string();
            assert!(e.contains(needle), "{routes:?} {pool:?}: {e}");
        }
    }

    #[test]
    fn target_names_are_checked() {
        let t = |name: &str| Target {
            name: name.into(),
            kind: TargetKind::Vmc,
            addr: SocketAddr::from(([127, 0, 0, 1], 1)),
        };
        assert!(Targets::new(vec![t("a b")]).is_err());
        assert!(Targets::new(vec![t(&"a".repeat(33))]).is_err());
        assert_eq!(
            Targets::new(vec![t("a"), t("a")]),
            Err(RouteError::DuplicateTarget("a".into()))
        );
        assert!(Targets::new(vec![t("vmc-0.main_1")]).is_ok());
    }

    #[test]
    fn target_sets() {
        assert!(TargetSet::first(0).is_empty());
        assert_eq!(TargetSet::first(3).iter().collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(TargetSet::first(64).iter().count(), 64);
        let t = targets();
        let set = t.select(&["plugin0"]).unwrap();
        assert!(t.any_of_kind(set, TargetKind::Plugin));
        assert!(!t.any_of_kind(set, TargetKind::LiveLink));
        assert_eq!(format!("{set:?}"), "{2}");
    }

    #[test]
    fn keys_parse_and_print() {
        assert_eq!(parse_key("session:ab"), Some(RouteKey::Session(0xAB)));
        assert_eq!(parse_key("avatar:7"), Some(RouteKey::Avatar(7)));
        assert_eq!(parse_key("session:"), None);
        assert_eq!(parse_key("user:1"), None);
        assert_eq!(
            RouteKey::Session(0xAB).to_string(),
            "session:00000000000000ab"
        );
    }

    #[test]
    fn views_list_routes_and_pool() {
        let t = table("avatar:2=Bob,session:1=Ada@ue1", "Cleo@ue2").unwrap();
        let routes = t.routes();
        assert_eq!(routes[0].key, "session:0000000000000001");
        assert_eq!(routes[1].targets, ["ue1", "ue2", "plugin0"]);
        assert_eq!(routes[1].origin, Origin::Config);
        assert_eq!(t.pool()[0].held_by, None);
    }
}
