//! The systems of one run, in schedule order (see the module docs of [`super`]).

use bevy_ecs::prelude::*;
use goassist_protocol::arkit::ARKIT_COUNT;
use goassist_protocol::bridge_stream;

use super::admission::{DropReason, SAMPLE_RATE, Track};
use super::components::{AudioChunks, Avatar, Detached, Motion, Outputs, Pose};
use super::encode::encode_emission;
use super::{
    Arrival, Arrivals, Clock, Emission, Emissions, Inbox, Outbox, Population, REFUSAL_LOG_LIMIT,
    RefusalLog, Routing, StreamIndex, Tally, WorldSettings,
};
use crate::routing::{Refusal, TargetKind};

/// Ingest: decodes this run's datagrams and files each under its stream key.
pub(super) fn sort_arrivals(
    inbox: Res<'_, Inbox>,
    routing: Res<'_, Routing>,
    index: Res<'_, StreamIndex>,
    mut arrivals: ResMut<'_, Arrivals>,
    mut tally: ResMut<'_, Tally>,
) {
    for i in 0..inbox.datagrams.len() {
        tally.frames_in += 1;
        let (avatar_id, frame, has_audio) = match bridge_stream::decode_face(inbox.bytes_of(i)) {
            Ok(d) => d,
            Err(e) => {
                tracing::trace!(error = %e, "malformed datagram");
                tally.malformed += 1;
                continue;
            }
        };
        let key = routing.0.stream_key(avatar_id, frame.session_id);
        arrivals.0.push(Arrival {
            datagram: i,
            avatar_id,
            entity: index.0.get(&key).copied(),
            frame,
            has_audio,
            key,
        });
    }
}

/// Gives each unknown stream key an avatar entity and a route, or refuses it.
#[allow(clippy::too_many_arguments)] // one system, each parameter a resource it needs
pub(super) fn spawn_avatars(
    mut commands: Commands<'_, '_>,
    inbox: Res<'_, Inbox>,
    settings: Res<'_, WorldSettings>,
    mut arrivals: ResMut<'_, Arrivals>,
    mut index: ResMut<'_, StreamIndex>,
    mut routing: ResMut<'_, Routing>,
    mut population: ResMut<'_, Population>,
    mut refusals: ResMut<'_, RefusalLog>,
    mut tally: ResMut<'_, Tally>,
) {
    for arrival in arrivals.0.iter_mut().filter(|a| a.entity.is_none()) {
        // An earlier datagram of this run may have created it.
        if let Some(entity) = index.0.get(&arrival.key) {
            arrival.entity = Some(*entity);
            continue;
        }
        let received = &inbox.datagrams[arrival.datagram];
        let sender = received.from.ip().to_canonical();
        let refused = if population.total >= settings.max_avatars {
            Some(DropReason::SubjectLimit)
        } else if population.of(sender) >= settings.max_avatars_per_sender {
            Some(DropReason::SenderLimit)
        } else {
            match routing.0.assign(arrival.key, arrival.frame.session_id) {
                Err(Refusal::NoFreeSubject) => Some(DropReason::NoFreeSubject),
                Ok(assignment) => {
                    let route = assignment.route;
                    let outputs = Outputs {
                        wants_audio: routing
                            .0
                            .targets()
                            .any_of_kind(route.targets, TargetKind::Plugin),
                        subject: route.subject,
                        targets: route.targets,
                        named: assignment.named,
                        pool_slot: assignment.pool_slot,
                    };
                    tracing::debug!(
                        avatar = arrival.avatar_id,
                        session = %format_args!("{:016x}", arrival.frame.session_id),
                        subject = %outputs.subject,
                        "avatar created"
                    );
                    let entity = commands
                        .spawn((
                            Avatar {
                                key: arrival.key,
                                avatar_id: arrival.avatar_id,
                                sender,
                            },
                            outputs,
                            Track::new(received.at, &arrival.frame),
                            Pose {
                                values: [0.0; ARKIT_COUNT],
                                sample_pos: arrival.frame.sample_pos,
                                last_arrival: received.at,
                                out_seq: 0,
                            },
                            Motion::Live,
                            AudioChunks::default(),
                        ))
                        .id();
                    index.0.insert(arrival.key, entity);
                    population.add(sender);
                    tally.spawned += 1;
                    arrival.entity = Some(entity);
                    None
                }
            }
        };
        if let Some(reason) = refused {
            tally.dropped[reason.index()] += 1;
            if refusals.0.len() < REFUSAL_LOG_LIMIT && refusals.0.insert((received.from, reason)) {
                tracing::warn!(
                    sender = %received.from,
                    avatar = arrival.avatar_id,
                    session = %format_args!("{:016x}", arrival.frame.session_id),
                    reason = reason.as_str(),
                    max_avatars = settings.max_avatars,
                    max_avatars_per_sender = settings.max_avatars_per_sender,
                    "new avatar refused; its frames are dropped and counted in \
                     goassist_bridge_frames_dropped_total (logged once per sender)"
                );
            }
        }
    }
}

/// Filter: epochs, order and lag; an admitted frame becomes the pose and is emitted now.
pub(super) fn admit(
    inbox: Res<'_, Inbox>,
    arrivals: Res<'_, Arrivals>,
    settings: Res<'_, WorldSettings>,
    mut avatars: Query<
        '_,
        '_,
        (
            &mut Track,
            &mut Pose,
            &mut Motion,
            &mut AudioChunks,
            &Outputs,
        ),
    >,
    mut emissions: ResMut<'_, Emissions>,
    mut tally: ResMut<'_, Tally>,
) {
    for arrival in &arrivals.0 {
        let Some(entity) = arrival.entity else {
            continue;
        };
        let Ok((mut track, mut pose, mut motion, mut chunks, outputs)) = avatars.get_mut(entity)
        else {
            continue;
        };
        let at = inbox.datagrams[arrival.datagram].at;
        let frame = &arrival.frame;
        if let Err(reason) = track.accept(at, frame, settings.drop_if_lag) {
            tally.dropped[reason.index()] += 1;
            continue;
        }
        pose.values = frame.values;
        pose.sample_pos = frame.sample_pos;
        pose.last_arrival = at;
        pose.out_seq = pose.out_seq.wrapping_add(1);
        if !matches!(*motion, Motion::Live) {
            *motion = Motion::Live;
        }
        let audio = (arrival.has_audio && outputs.wants_audio)
            .then(|| audio_samples(inbox.bytes_of(arrival.datagram)))
            .flatten()
            .map(|samples| chunks.push(samples));
        tally.live += 1;
        emissions.0.push(Emission {
            entity,
            session_id: frame.session_id,
            epoch: frame.epoch,
            out_seq: pose.out_seq,
            sample_pos: frame.sample_pos,
            values: frame.values,
            audio,
            received: Some(at),
        });
    }
}

/// The audio chunk of a datagram already validated by `decode_face`.
fn audio_samples(datagram: &[u8]) -> Option<impl Iterator<Item = i16> + '_> {
    let count_at = bridge_stream::FACE_ONLY_LEN;
    let n = usize::from(u16::from_le_bytes([
        *datagram.get(count_at)?,
        *datagram.get(count_at + 1)?,
    ]));
    let bytes = datagram.get(count_at + 2..count_at + 2 + 2 * n)?;
    Some(
        bytes
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]])),
    )
}

/// Hold and interpolate, on output frame ticks: a silent avatar holds its pose for the stall
/// time, eases to neutral over the slow-freeze time, goes quiet, and is forgotten after the
/// idle time (at once if detached).
#[allow(clippy::too_many_arguments)] // one system, each parameter a resource it needs
#[allow(clippy::type_complexity)] // the query names the components the system touches
pub(super) fn hold_and_ease(
    mut commands: Commands<'_, '_>,
    clock: Res<'_, Clock>,
    settings: Res<'_, WorldSettings>,
    mut avatars: Query<
        '_,
        '_,
        (
            Entity,
            &Avatar,
            &Track,
            &Outputs,
            &mut Pose,
            &mut Motion,
            Has<Detached>,
        ),
    >,
    mut index: ResMut<'_, StreamIndex>,
    mut routing: ResMut<'_, Routing>,
    mut population: ResMut<'_, Population>,
    mut emissions: ResMut<'_, Emissions>,
    mut tally: ResMut<'_, Tally>,
) {
    if !clock.tick {
        return;
    }
    let now = clock.now;
    for (entity, avatar, track, outputs, mut pose, mut motion, detached) in &mut avatars {
        let silent_for = now.saturating_duration_since(pose.last_arrival);
        match *motion {
            Motion::Live if silent_for >= settings.stall => {
                tally.freezes += 1;
                *motion = Motion::Freezing {
                    started: now,
                    from: pose.values,
                };
            }
            Motion::Quiet { .. } if detached || silent_for >= settings.subject_idle => {
                commands.entity(entity).despawn();
                if index.0.get(&avatar.key) == Some(&entity) {
                    index.0.remove(&avatar.key);
                }
                if let Some(slot) = outputs.pool_slot {
                    routing.0.release(slot);
                }
                population.remove(avatar.sender);
                tally.despawned += 1;
                tracing::debug!(subject = %outputs.subject, "avatar forgotten");
                continue;
            }
            _ => {}
        }
        let Motion::Freezing { started, from } = *motion else {
            continue;
        };
        let t = if settings.slow_freeze.is_zero() {
            1.0
        } else {
            (now.saturating_duration_since(started).as_secs_f64()
                / settings.slow_freeze.as_secs_f64())
            .min(1.0)
        };
        let keep = 1.0 - smoothstep(t) as f32;
        for (v, f) in pose.values.iter_mut().zip(from.iter()) {
            *v = f * keep;
        }
        if t >= 1.0 {
            // The final, all-zero frame; then the avatar goes quiet.
            pose.values = [0.0; ARKIT_COUNT];
            *motion = Motion::Quiet { since: now };
        }
        pose.out_seq = pose.out_seq.wrapping_add(1);
        emissions.0.push(Emission {
            entity,
            session_id: track.session,
            epoch: track.epoch,
            out_seq: pose.out_seq,
            // The audio clock keeps running while the face settles.
            sample_pos: pose.sample_pos + (silent_for.as_secs_f64() * SAMPLE_RATE) as u64,
            values: pose.values,
            audio: None,
            received: None,
        });
    }
}

/// Ease-in-out: starts and ends gently so the face neither snaps nor stops abruptly.
fn smoothstep(t: f64) -> f64 {
    let t = t.clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Encodes every emission for each of its avatar's targets into the outbox.
pub(super) fn emit(
    settings: Res<'_, WorldSettings>,
    routing: Res<'_, Routing>,
    mut emissions: ResMut<'_, Emissions>,
    mut avatars: Query<'_, '_, (&Avatar, &Outputs, &mut AudioChunks)>,
    mut outbox: ResMut<'_, Outbox>,
) {
    let targets = routing.0.targets();
    for emission in &emissions.0 {
        let Ok((avatar, outputs, chunks)) = avatars.get(emission.entity) else {
            continue;
        };
        let audio = emission.audio.clone().map(|range| &chunks.samples[range]);
        encode_emission(
            &mut outbox,
            &settings,
            targets,
            avatar,
            outputs,
            emission,
            audio,
        );
        if let Some(received) = emission.received {
            outbox.live_receipts.push(received);
        }
    }
    for emission in emissions.0.drain(..) {
        if emission.audio.is_some()
            && let Ok((_, _, mut chunks)) = avatars.get_mut(emission.entity)
        {
            chunks.samples.clear();
        }
    }
}
