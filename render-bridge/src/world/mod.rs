//! The bridge's sans-IO core: a bevy_ecs [`World`] of avatars and the [`Schedule`] that moves
//! face frames through it. It takes `now` as an argument and never touches a socket or a
//! clock, so tests drive it in virtual time.
//!
//! Each avatar is an entity: [`components::Avatar`] (its stream key), [`components::Outputs`]
//! (subject and targets), [`admission::Track`] (the filter state), [`components::Pose`] (the
//! latest frame), [`components::Motion`] (hold and ease-to-neutral) and
//! [`components::AudioChunks`]. One [`BridgeWorld::run`] runs these systems in order:
//!
//! 1. `sort_arrivals` (ingest): decodes the datagrams received since the last run and files
//!    each under its stream key (the routing table decides the key);
//! 2. `spawn_avatars`: gives unknown keys an entity and a route, or refuses them (the avatar
//!    cap, a full subject pool), counted and logged once per sender;
//! 3. `admit` (filter): epochs, order and lag ([`admission`]); an admitted frame becomes the
//!    pose and is emitted in this same run (no tick between arrival and send);
//! 4. `hold_and_ease` (hold / interpolate), on the output frame clock only: an avatar whose
//!    frames stopped holds its pose for the stall time, then eases to neutral at the configured
//!    fps, goes quiet, and is forgotten after the idle time;
//! 5. `emit`: encodes every emission for each of the avatar's targets into the [`Outbox`]:
//!    Live Link Face v6, the plugin's native stream (with the audio chunks), VMC/OSC.
//!
//! The I/O shell ([`crate::ingest`]) feeds datagrams in with [`BridgeWorld::receive`], calls
//! [`BridgeWorld::run`] after each burst and at [`BridgeWorld::next_wake`], and sends what the
//! outbox holds.

pub mod admission;
pub mod components;
mod encode;
mod systems;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::time::{Duration, Instant};

use bevy_ecs::prelude::*;
use goassist_protocol::FaceFrame;
use goassist_protocol::arkit::ARKIT_COUNT;
use goassist_protocol::vmc::VmcNaming;
use serde::Serialize;

use crate::config::BridgeConfig;
use crate::routing::{
    Origin, PoolView, Route, RouteError, RouteKey, RouteTable, RouteView, StreamKey, Target,
    TargetKind,
};
use admission::{DropReason, Track};
use components::{Avatar, Detached, Motion, Outputs};

/// The part of the configuration the world uses.
#[derive(Resource, Debug, Clone)]
pub struct WorldSettings {
    /// Live Link device id.
    pub device_id: String,
    /// Output frame rate: Live Link frame times and ease frames.
    pub fps: u32,
    /// VMC blendshape spelling.
    pub vmc_naming: VmcNaming,
    /// Ease-to-neutral time.
    pub slow_freeze: Duration,
    /// Lateness beyond which frames are dropped.
    pub drop_if_lag: Duration,
    /// Silence that starts the freeze.
    pub stall: Duration,
    /// Silence after which a quiet avatar is forgotten.
    pub subject_idle: Duration,
    /// Most avatars held at once.
    pub max_avatars: usize,
    /// Most avatars one sender address holds at once.
    pub max_avatars_per_sender: usize,
}

impl From<&BridgeConfig> for WorldSettings {
    fn from(c: &BridgeConfig) -> Self {
        WorldSettings {
            device_id: c.device_id.clone(),
            fps: c.livelink_fps,
            vmc_naming: c.vmc_naming,
            slow_freeze: c.slow_freeze,
            drop_if_lag: c.drop_if_lag,
            stall: c.stall,
            subject_idle: c.subject_idle,
            max_avatars: c.max_avatars,
            max_avatars_per_sender: c.max_avatars_per_sender,
        }
    }
}

impl WorldSettings {
    /// One output frame.
    pub fn frame_interval(&self) -> Duration {
        Duration::from_secs(1) / self.fps.max(1)
    }
}

/// The instant of this run and whether it is an output frame tick.
#[derive(Resource, Debug, Clone, Copy)]
pub(crate) struct Clock {
    now: Instant,
    tick: bool,
    next_tick: Instant,
}

/// One datagram received since the last run.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    range: Range<usize>,
    from: SocketAddr,
    at: Instant,
}

/// Datagrams received since the last run, back to back in one buffer.
#[derive(Resource, Debug, Default)]
pub(crate) struct Inbox {
    bytes: Vec<u8>,
    datagrams: Vec<Received>,
}

impl Inbox {
    fn bytes_of(&self, i: usize) -> &[u8] {
        &self.bytes[self.datagrams[i].range.clone()]
    }
}

/// A decoded datagram on its way to an avatar.
#[derive(Debug, Clone)]
pub(crate) struct Arrival {
    datagram: usize,
    avatar_id: u32,
    frame: FaceFrame,
    has_audio: bool,
    key: StreamKey,
    entity: Option<Entity>,
}

/// This run's decoded datagrams.
#[derive(Resource, Debug, Default)]
pub(crate) struct Arrivals(Vec<Arrival>);

/// Stream key → avatar entity (detached avatars are not in it).
#[derive(Resource, Debug, Default)]
pub(crate) struct StreamIndex(HashMap<StreamKey, Entity>);

/// The routing table.
#[derive(Resource, Debug)]
pub(crate) struct Routing(RouteTable);

/// Avatar entities held, detached ones included (the caps count them: they still send), in
/// all and per sender address. The map changes only when an avatar comes or goes, never per
/// frame; a sender with no avatar left is removed from it.
#[derive(Resource, Debug, Default)]
pub(crate) struct Population {
    total: usize,
    by_sender: HashMap<IpAddr, usize>,
}

impl Population {
    /// Avatars held by `sender`.
    fn of(&self, sender: IpAddr) -> usize {
        self.by_sender.get(&sender).copied().unwrap_or(0)
    }

    fn add(&mut self, sender: IpAddr) {
        self.total += 1;
        *self.by_sender.entry(sender).or_insert(0) += 1;
    }

    fn remove(&mut self, sender: IpAddr) {
        self.total = self.total.saturating_sub(1);
        if let Some(n) = self.by_sender.get_mut(&sender) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.by_sender.remove(&sender);
            }
        }
    }
}

/// Senders already told about a refusal for a reason, so each is logged once; bounded.
#[derive(Resource, Debug, Default)]
pub(crate) struct RefusalLog(HashSet<(SocketAddr, DropReason)>);

/// Most senders remembered by the refusal log.
const REFUSAL_LOG_LIMIT: usize = 1_024;

/// A pose to send to an avatar's targets in this run.
#[derive(Debug, Clone)]
pub(crate) struct Emission {
    entity: Entity,
    session_id: u64,
    epoch: u32,
    out_seq: u32,
    sample_pos: u64,
    values: [f32; ARKIT_COUNT],
    /// The audio chunk in the avatar's [`components::AudioChunks`].
    audio: Option<Range<usize>>,
    /// When the frame was received (live frames; eased ones are the bridge's own).
    received: Option<Instant>,
}

/// This run's emissions, in order.
#[derive(Resource, Debug, Default)]
pub(crate) struct Emissions(Vec<Emission>);

/// One datagram to send.
#[derive(Debug, Clone)]
pub struct Transmit {
    range: Range<usize>,
    /// Where to.
    pub to: SocketAddr,
    /// Which kind of output it is.
    pub kind: TargetKind,
}

/// What one run produced: datagrams to send, and when the live frames among them arrived.
#[derive(Resource, Debug, Default)]
pub struct Outbox {
    bytes: Vec<u8>,
    transmits: Vec<Transmit>,
    live_receipts: Vec<Instant>,
    /// Scratch space for one plugin datagram.
    scratch: Vec<u8>,
}

impl Outbox {
    /// The datagrams, in send order.
    pub fn transmits(&self) -> impl Iterator<Item = (&Transmit, &[u8])> {
        self.transmits
            .iter()
            .map(|t| (t, &self.bytes[t.range.clone()]))
    }

    /// How many datagrams there are.
    pub fn len(&self) -> usize {
        self.transmits.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.transmits.is_empty()
    }

    /// When each live frame emitted in this run was received.
    pub fn live_receipts(&self) -> &[Instant] {
        &self.live_receipts
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.transmits.clear();
        self.live_receipts.clear();
    }
}

/// Counters since start, for the metrics layer.
#[derive(Resource, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Datagrams received.
    pub frames_in: u64,
    /// Datagrams that did not decode.
    pub malformed: u64,
    /// Well-formed frames not emitted, by [`DropReason::index`].
    pub dropped: [u64; DropReason::ALL.len()],
    /// Live frames emitted.
    pub live: u64,
    /// Slow-freezes started.
    pub freezes: u64,
    /// Avatars created.
    pub spawned: u64,
    /// Avatars forgotten.
    pub despawned: u64,
}

impl Tally {
    /// Frames dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()]
    }
}

/// One avatar, for the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AvatarView {
    /// Avatar id in the datagrams.
    pub avatar: u32,
    /// The session driving it (16 hex digits).
    pub session: String,
    /// Whether the subject is the session's own (else shared by the avatar's sessions).
    pub own_subject: bool,
    /// Live Link subject.
    pub subject: String,
    /// Target names.
    pub targets: Vec<String>,
    /// `live`, `freezing` or `quiet`.
    pub state: &'static str,
    /// Routed elsewhere; easing out on its old subject.
    pub detached: bool,
    /// Frames sent for it (wrapping counter).
    pub frames_sent: u32,
}

/// The routing state, for the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoutingView {
    /// The output targets.
    pub targets: Vec<Target>,
    /// Fixed and admin routes.
    pub routes: Vec<RouteView>,
    /// The subject pool.
    pub pool: Vec<PoolView>,
    /// Avatars held now.
    pub avatars: Vec<AvatarView>,
    /// `BRIDGE_MAX_AVATARS`.
    pub max_avatars: usize,
}

/// The world and its schedule. See the module docs.
pub struct BridgeWorld {
    world: World,
    schedule: Schedule,
    interval: Duration,
}

impl BridgeWorld {
    /// A world with no avatars, configured from `config`.
    pub fn new(config: &BridgeConfig, now: Instant) -> BridgeWorld {
        BridgeWorld::with_settings(WorldSettings::from(config), config.routes.clone(), now)
    }

    /// A world from its parts (tests, benchmarks).
    pub fn with_settings(settings: WorldSettings, routes: RouteTable, now: Instant) -> Self {
        let interval = settings.frame_interval();
        let mut world = World::new();
        world.insert_resource(settings);
        world.insert_resource(Clock {
            now,
            tick: false,
            next_tick: now,
        });
        world.insert_resource(Routing(routes));
        world.init_resource::<Inbox>();
        world.init_resource::<Arrivals>();
        world.init_resource::<StreamIndex>();
        world.init_resource::<Population>();
        world.init_resource::<RefusalLog>();
        world.init_resource::<Emissions>();
        world.init_resource::<Outbox>();
        world.init_resource::<Tally>();
        let mut schedule = Schedule::default();
        schedule.add_systems(
            (
                systems::sort_arrivals,
                systems::spawn_avatars,
                systems::admit,
                systems::hold_and_ease,
                systems::emit,
            )
                .chain(),
        );
        BridgeWorld {
            world,
            schedule,
            interval,
        }
    }

    /// Queues a datagram received at `at` from `from` for the next run.
    pub fn receive(&mut self, at: Instant, from: SocketAddr, datagram: &[u8]) {
        let mut inbox = self.world.resource_mut::<Inbox>();
        let start = inbox.bytes.len();
        inbox.bytes.extend_from_slice(datagram);
        let end = inbox.bytes.len();
        inbox.datagrams.push(Received {
            range: start..end,
            from,
            at,
        });
    }

    /// Datagrams queued for the next run.
    pub fn pending(&self) -> usize {
        self.world.resource::<Inbox>().datagrams.len()
    }

    /// Runs the schedule at `now`: the queued datagrams are judged and emitted, and on an
    /// output frame tick silent avatars advance. Returns what to send (until the next run).
    pub fn run(&mut self, now: Instant) -> &Outbox {
        self.world.resource_mut::<Outbox>().clear();
        {
            let mut clock = self.world.resource_mut::<Clock>();
            clock.now = now;
            clock.tick = now >= clock.next_tick;
            if clock.tick {
                clock.next_tick = now + self.interval;
            }
        }
        self.schedule.run(&mut self.world);
        let mut inbox = self.world.resource_mut::<Inbox>();
        inbox.bytes.clear();
        inbox.datagrams.clear();
        self.world.resource_mut::<Arrivals>().0.clear();
        self.world.resource::<Outbox>()
    }

    /// What the last run produced.
    pub fn outbox(&self) -> &Outbox {
        self.world.resource::<Outbox>()
    }

    /// When the next output frame tick is due (run by then to keep easing smooth).
    pub fn next_wake(&self) -> Instant {
        self.world.resource::<Clock>().next_tick
    }

    /// One output frame.
    pub fn frame_interval(&self) -> Duration {
        self.interval
    }

    /// Counters since start.
    pub fn tally(&self) -> Tally {
        *self.world.resource::<Tally>()
    }

    /// Avatars held (quiet and detached ones included).
    pub fn avatars(&self) -> usize {
        self.world.resource::<Population>().total
    }

    /// Avatars live or easing to neutral.
    pub fn active_avatars(&mut self) -> usize {
        let mut q = self.world.query::<&Motion>();
        q.iter(&self.world)
            .filter(|m| !matches!(m, Motion::Quiet { .. }))
            .count()
    }

    /// Sets the route for `key` (admin API). Live avatars it moves either keep their entity
    /// (same subject on common targets: only the targets change) or are detached: they ease
    /// to neutral on their old subject while the session's next frame starts a new avatar on
    /// the new one.
    pub fn set_route(&mut self, key: RouteKey, route: Route) -> Result<(), RouteError> {
        self.world
            .resource_mut::<Routing>()
            .0
            .set(key, route, Origin::Admin)?;
        self.reroute(key);
        Ok(())
    }

    /// Removes the route for `key` (admin API); whether there was one. Avatars it routed are
    /// detached; their sessions' next frames are routed afresh.
    pub fn remove_route(&mut self, key: RouteKey) -> bool {
        let removed = self.world.resource_mut::<Routing>().0.remove(key);
        if removed {
            self.reroute(key);
        }
        removed
    }

    /// After a routing change: every indexed avatar whose key would now differ, or whose
    /// route `changed` names, is updated in place or detached.
    fn reroute(&mut self, changed: RouteKey) {
        let mut avatars = self
            .world
            .query_filtered::<(Entity, &Avatar, &Track, &mut Outputs), Without<Detached>>();
        let mut detach = Vec::new();
        // A copy, so the query can borrow the world mutably (admin calls only, never per frame).
        let routing = self.world.resource::<Routing>().0.clone();
        for (entity, avatar, track, mut outputs) in avatars.iter_mut(&mut self.world) {
            let key = routing.stream_key(avatar.avatar_id, track.session);
            if key != avatar.key {
                detach.push(entity);
                continue;
            }
            let covered = match changed {
                RouteKey::Session(s) => avatar.key.session == Some(s),
                RouteKey::Avatar(a) => avatar.key == StreamKey::shared(a),
            };
            if !covered {
                continue;
            }
            match routing.get(changed) {
                Some(route)
                    if route.subject == outputs.subject
                        && route.targets.overlaps(outputs.targets) =>
                {
                    outputs.targets = route.targets;
                    outputs.named = true;
                    outputs.wants_audio = routing
                        .targets()
                        .any_of_kind(route.targets, TargetKind::Plugin);
                }
                _ => detach.push(entity),
            }
        }
        for entity in detach {
            let key = self.world.get::<Avatar>(entity).map(|a| a.key);
            if let Some(key) = key {
                let mut index = self.world.resource_mut::<StreamIndex>();
                if index.0.get(&key) == Some(&entity) {
                    index.0.remove(&key);
                }
            }
            self.world.entity_mut(entity).insert(Detached);
        }
    }

    /// The routing state and the avatars held.
    pub fn view(&mut self) -> RoutingView {
        let mut q = self.world.query::<(
            &Avatar,
            &Track,
            &Outputs,
            &Motion,
            &components::Pose,
            Has<Detached>,
        )>();
        let routing = &self.world.resource::<Routing>().0;
        let mut avatars: Vec<AvatarView> = q
            .iter(&self.world)
            .map(
                |(avatar, track, outputs, motion, pose, detached)| AvatarView {
                    avatar: avatar.avatar_id,
                    session: format!("{:016x}", track.session),
                    own_subject: avatar.key.session.is_some(),
                    subject: outputs.subject.clone(),
                    targets: routing.targets().names(outputs.targets),
                    state: match motion {
                        Motion::Live => "live",
                        Motion::Freezing { .. } => "freezing",
                        Motion::Quiet { .. } => "quiet",
                    },
                    detached,
                    frames_sent: pose.out_seq,
                },
            )
            .collect();
        avatars.sort_by(|a, b| (&a.subject, &a.session).cmp(&(&b.subject, &b.session)));
        RoutingView {
            targets: routing.targets().list().to_vec(),
            routes: routing.routes(),
            pool: routing.pool(),
            avatars,
            max_avatars: self.world.resource::<WorldSettings>().max_avatars,
        }
    }
}

#[cfg(test)]
mod tests;
