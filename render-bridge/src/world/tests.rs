//! The world in virtual time: datagrams in, datagrams out, no sockets.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use goassist_protocol::FaceFrame;
use goassist_protocol::bridge_stream::{self, BridgeDatagram};
use goassist_protocol::livelink::LiveLinkPacket;

use super::*;
use crate::routing::{Route, RouteKey, RouteTable, Target, TargetKind, Targets};

const FRAME: Duration = Duration::from_micros(16_667);
const POD: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    40_000,
));

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn settings() -> WorldSettings {
    WorldSettings {
        device_id: "GA".into(),
        fps: 60,
        vmc_naming: goassist_protocol::vmc::VmcNaming::PascalCase,
        slow_freeze: Duration::from_millis(300),
        drop_if_lag: Duration::from_millis(150),
        stall: Duration::from_millis(100),
        subject_idle: Duration::from_secs(60),
        max_avatars: 64,
        max_avatars_per_sender: 64,
    }
}

/// Live Link targets ll0 (port 1), ll1 (port 2), plugin (port 3), vmc (port 4).
fn targets() -> Targets {
    let t = |name: &str, kind, port| Target {
        name: name.into(),
        kind,
        addr: addr(port),
    };
    Targets::new(vec![
        t("ll0", TargetKind::LiveLink, 1),
        t("ll1", TargetKind::LiveLink, 2),
        t("plugin", TargetKind::Plugin, 3),
        t("vmc", TargetKind::Vmc, 4),
    ])
    .unwrap()
}

fn world_with(settings: WorldSettings, pattern: &str, routes: &str, pool: &str) -> BridgeWorld {
    let mut table = RouteTable::new(targets(), pattern);
    table.configure(routes, pool).unwrap();
    BridgeWorld::with_settings(settings, table, Instant::now())
}

fn world() -> BridgeWorld {
    world_with(settings(), "GoAssist_{avatar}", "", "")
}

fn frame(session: u64, epoch: u32, seq: u32, jaw: f32) -> FaceFrame {
    let mut f = FaceFrame::neutral(session, epoch, seq, u64::from(seq) * 800);
    f.values[17] = jaw;
    f
}

fn datagram(avatar: u32, f: &FaceFrame, audio: Option<&[i16]>) -> Vec<u8> {
    bridge_stream::encode(avatar, f, audio).unwrap()
}

/// What one run sent: (port, kind, bytes).
fn sent(outbox: &Outbox) -> Vec<(u16, TargetKind, Vec<u8>)> {
    outbox
        .transmits()
        .map(|(t, b)| (t.to.port(), t.kind, b.to_vec()))
        .collect()
}

/// The Live Link packets sent to `port`: (subject, jaw). The bridge stream carries weights as
/// 16-bit fractions (0.1 arrives as 0.1000076), so the jaw is rounded to 1/1000, well below
/// the 0.1 steps the tests tell sessions apart by.
fn livelink(outbox: &Outbox, port: u16) -> Vec<(String, f32)> {
    sent(outbox)
        .into_iter()
        .filter(|(p, k, _)| *p == port && *k == TargetKind::LiveLink)
        .map(|(_, _, b)| {
            let p = LiveLinkPacket::decode(&b).unwrap();
            (
                p.subject.to_string(),
                (p.values[17] * 1000.0).round() / 1000.0,
            )
        })
        .collect()
}

#[test]
fn a_frame_goes_to_every_target_in_the_run_it_arrives() {
    let mut w = world();
    let t0 = Instant::now();
    let audio: Vec<i16> = (0..800).map(|i| i as i16).collect();
    w.receive(t0, POD, &datagram(2, &frame(9, 1, 0, 0.5), Some(&audio)));
    let out = w.run(t0);
    let ports: Vec<_> = sent(out).iter().map(|(p, k, _)| (*p, *k)).collect();
    assert_eq!(
        ports,
        [
            (1, TargetKind::LiveLink),
            (2, TargetKind::LiveLink),
            (3, TargetKind::Plugin),
            (4, TargetKind::Vmc)
        ]
    );
    assert_eq!(livelink(out, 1), [("GoAssist_2".to_string(), 0.5)]);
    let native = BridgeDatagram::decode(&sent(out)[2].2).unwrap();
    assert_eq!(
        (native.avatar_id, native.frame.seq),
        (2, 1),
        "the bridge's own seq"
    );
    assert_eq!(native.audio.as_deref(), Some(&audio[..]));
    assert_eq!(
        native.subject, None,
        "pattern subjects are not named on the wire"
    );
    assert_eq!(out.live_receipts(), [t0]);
    assert_eq!(w.tally().live, 1);
    assert_eq!(w.avatars(), 1);
    // The next run sends nothing new.
    assert!(w.run(t0 + Duration::from_millis(1)).is_empty());
}

#[test]
fn malformed_and_filtered_frames_are_counted() {
    let mut w = world();
    let t0 = Instant::now();
    w.receive(t0, POD, b"junk");
    w.receive(t0, POD, &datagram(0, &frame(1, 3, 10, 0.1), None));
    w.receive(t0, POD, &datagram(0, &frame(1, 2, 11, 0.1), None));
    w.receive(t0, POD, &datagram(0, &frame(1, 3, 10, 0.1), None));
    w.run(t0);
    let tally = w.tally();
    assert_eq!((tally.frames_in, tally.malformed, tally.live), (4, 1, 1));
    assert_eq!(tally.dropped(DropReason::StaleEpoch), 1);
    assert_eq!(tally.dropped(DropReason::OutOfOrder), 1);
}

#[test]
fn several_frames_of_one_avatar_in_one_run_all_go_out_in_order() {
    let mut w = world();
    let t0 = Instant::now();
    for seq in 0..3 {
        w.receive(
            t0,
            POD,
            &datagram(0, &frame(1, 1, seq, 0.1 * seq as f32), None),
        );
    }
    let jaws: Vec<f32> = livelink(w.run(t0), 1).into_iter().map(|(_, j)| j).collect();
    assert_eq!(jaws.len(), 3);
    assert!(jaws.windows(2).all(|p| p[0] < p[1]), "{jaws:?}");
}

/// Runs the world every output frame from `from` for `span`, collecting Live Link packets to
/// target 1 with the time they left.
fn tick_for(w: &mut BridgeWorld, from: Instant, span: Duration) -> Vec<(Duration, String, f32)> {
    let mut out = Vec::new();
    let mut now = from;
    while now < from + span {
        now = w.next_wake().max(now + Duration::from_millis(1));
        for (subject, jaw) in livelink(w.run(now), 1) {
            out.push((now - from, subject, jaw));
        }
    }
    out
}

#[test]
fn silence_holds_then_eases_to_neutral_at_the_output_rate_then_goes_quiet() {
    let mut w = world();
    let t0 = Instant::now();
    w.receive(t0, POD, &datagram(0, &frame(1, 1, 0, 0.8), None));
    w.run(t0);
    let eased = tick_for(&mut w, t0, Duration::from_secs(1));
    let first = eased.first().unwrap();
    assert!(first.0 >= Duration::from_millis(100), "held for the stall");
    assert!(first.2 > 0.79, "eases, does not snap: {}", first.2);
    let last = eased.last().unwrap();
    assert_eq!(last.2, 0.0, "ends neutral");
    assert!(
        last.0 <= Duration::from_millis(100 + 300 + 40),
        "{:?}",
        last.0
    );
    // One frame per output frame interval.
    let gaps: Vec<Duration> = eased.windows(2).map(|p| p[1].0 - p[0].0).collect();
    assert!(
        gaps.iter()
            .all(|g| *g >= FRAME - Duration::from_millis(1) && *g <= FRAME * 2),
        "{gaps:?}"
    );
    let jaws: Vec<f32> = eased.iter().map(|e| e.2).collect();
    assert!(jaws.windows(2).all(|p| p[1] <= p[0]), "monotone: {jaws:?}");
    assert_eq!(w.tally().freezes, 1);
    assert_eq!(w.active_avatars(), 0);
    assert_eq!(w.avatars(), 1, "quiet, remembered");
    // A frame brings it back to life at once.
    let now = t0 + Duration::from_secs(1);
    w.receive(now, POD, &datagram(0, &frame(1, 1, 60, 0.3), None));
    assert_eq!(livelink(w.run(now), 1).len(), 1);
    assert_eq!(w.active_avatars(), 1);
}

#[test]
fn zero_freeze_time_snaps_to_neutral() {
    let mut s = settings();
    s.slow_freeze = Duration::ZERO;
    let mut w = world_with(s, "GoAssist_{avatar}", "", "");
    let t0 = Instant::now();
    w.receive(t0, POD, &datagram(0, &frame(1, 1, 0, 0.8), None));
    w.run(t0);
    let eased = tick_for(&mut w, t0, Duration::from_millis(300));
    assert_eq!(eased.len(), 1, "{eased:?}");
    assert_eq!(eased[0].2, 0.0);
}

#[test]
fn quiet_avatars_are_forgotten_after_the_idle_time() {
    let mut s = settings();
    s.subject_idle = Duration::from_secs(2);
    let mut w = world_with(s, "GoAssist_{avatar}", "", "");
    let t0 = Instant::now();
    w.receive(t0, POD, &datagram(0, &frame(1, 1, 0, 0.8), None));
    w.run(t0);
    tick_for(&mut w, t0, Duration::from_millis(1_900));
    assert_eq!(w.avatars(), 1);
    tick_for(
        &mut w,
        t0 + Duration::from_millis(1_900),
        Duration::from_millis(200),
    );
    assert_eq!(w.avatars(), 0);
    assert_eq!(w.tally().despawned, 1);
    // A frame of an old epoch now starts a new avatar (its epoch was forgotten too).
    let now = t0 + Duration::from_secs(3);
    w.receive(now, POD, &datagram(0, &frame(1, 1, 0, 0.8), None));
    assert_eq!(livelink(w.run(now), 1).len(), 1);
}

#[test]
fn the_avatar_cap_refuses_new_avatars_and_counts_them() {
    let mut s = settings();
    s.max_avatars = 3;
    let mut w = world_with(s, "S{session}", "", "");
    let t0 = Instant::now();
    for session in 0..5u64 {
        w.receive(
            t0,
            addr(50_000 + session as u16),
            &datagram(0, &frame(session, 1, 0, 0.1), None),
        );
    }
    let subjects: Vec<String> = livelink(w.run(t0), 1).into_iter().map(|(s, _)| s).collect();
    assert_eq!(subjects, ["S0", "S1", "S2"]);
    assert_eq!(w.tally().dropped(DropReason::SubjectLimit), 2);
    // Admitted avatars keep flowing; refused ones keep being refused (and counted).
    w.receive(t0 + FRAME, POD, &datagram(0, &frame(0, 1, 1, 0.1), None));
    w.receive(t0 + FRAME, POD, &datagram(0, &frame(4, 1, 1, 0.1), None));
    assert_eq!(livelink(w.run(t0 + FRAME), 1).len(), 1);
    assert_eq!(w.tally().dropped(DropReason::SubjectLimit), 3);
    // Once one is forgotten, a new one gets in.
    tick_for(&mut w, t0 + FRAME, Duration::from_secs(61));
    let later = t0 + Duration::from_secs(62);
    assert_eq!(w.avatars(), 0);
    w.receive(later, POD, &datagram(0, &frame(4, 1, 2, 0.1), None));
    assert_eq!(livelink(w.run(later), 1), [("S4".to_string(), 0.1)]);
}

#[test]
fn a_sender_past_its_cap_is_refused_while_other_senders_go_on() {
    let mut s = settings();
    s.max_avatars_per_sender = 2;
    let mut w = world_with(s, "S{session}", "", "");
    // Pod A sends from 10.0.0.1, one source port per session (the cap counts the address).
    let pod_a = |port: u16| SocketAddr::from(([10, 0, 0, 1], port));
    let pod_b = SocketAddr::from(([10, 0, 0, 2], 40_000));
    let t0 = Instant::now();
    for session in 0..3u64 {
        w.receive(
            t0,
            pod_a(50_000 + session as u16),
            &datagram(0, &frame(0xA0 + session, 1, 0, 0.1), None),
        );
    }
    let subjects: Vec<String> = livelink(w.run(t0), 1).into_iter().map(|(s, _)| s).collect();
    assert_eq!(subjects, ["Sa0", "Sa1"], "A's third avatar is over its cap");
    assert_eq!(w.tally().dropped(DropReason::SenderLimit), 1);
    assert_eq!(w.tally().dropped(DropReason::SubjectLimit), 0);
    // B's new avatar is accepted while A's stay refused, and A's admitted ones keep flowing.
    let t1 = t0 + FRAME;
    w.receive(t1, pod_b, &datagram(0, &frame(0xB0, 1, 0, 0.2), None));
    w.receive(
        t1,
        pod_a(50_002),
        &datagram(0, &frame(0xA2, 1, 1, 0.1), None),
    );
    w.receive(
        t1,
        pod_a(50_000),
        &datagram(0, &frame(0xA0, 1, 1, 0.3), None),
    );
    let out = livelink(w.run(t1), 1);
    assert_eq!(
        out,
        [("Sb0".to_string(), 0.2), ("Sa0".to_string(), 0.3)],
        "B accepted, A's admitted avatar flows, A's third refused"
    );
    assert_eq!(w.tally().dropped(DropReason::SenderLimit), 2);
    assert_eq!(w.avatars(), 3);
    // When A's avatars are forgotten, A may start new ones again.
    tick_for(&mut w, t1, Duration::from_secs(61));
    let later = t0 + Duration::from_secs(62);
    assert_eq!(w.avatars(), 0);
    w.receive(
        later,
        pod_a(50_002),
        &datagram(0, &frame(0xA2, 1, 2, 0.1), None),
    );
    assert_eq!(livelink(w.run(later), 1), [("Sa2".to_string(), 0.1)]);
}

#[test]
fn sessions_share_the_avatar_subject_unless_the_pattern_names_sessions() {
    let mut w = world();
    let t0 = Instant::now();
    w.receive(t0, POD, &datagram(1, &frame(0x10, 1, 0, 0.1), None));
    w.receive(t0, POD, &datagram(1, &frame(0x11, 1, 0, 0.2), None));
    let out = livelink(w.run(t0), 1);
    assert_eq!(out.len(), 2, "the newer session takes the subject over");
    assert!(out.iter().all(|(s, _)| s == "GoAssist_1"));
    assert_eq!(w.avatars(), 1);

    let mut w = world_with(settings(), "A{avatar}_S{session}", "", "");
    w.receive(t0, POD, &datagram(1, &frame(0x10, 1, 0, 0.1), None));
    w.receive(t0, POD, &datagram(1, &frame(0x11, 1, 0, 0.1), None));
    let subjects: Vec<String> = livelink(w.run(t0), 1).into_iter().map(|(s, _)| s).collect();
    assert_eq!(subjects, ["A1_S10", "A1_S11"]);
    assert_eq!(w.avatars(), 2);
}

#[test]
fn routes_choose_subject_and_targets_and_name_the_subject_for_the_plugin() {
    let mut w = world_with(
        settings(),
        "GoAssist_{avatar}",
        "session:a1=Ada@ll0+plugin,avatar:7=Bob@ll1",
        "",
    );
    let t0 = Instant::now();
    w.receive(
        t0,
        POD,
        &datagram(0, &frame(0xA1, 1, 0, 0.1), Some(&[5; 10])),
    );
    w.receive(
        t0,
        POD,
        &datagram(7, &frame(0xB2, 1, 0, 0.2), Some(&[6; 10])),
    );
    let out = w.run(t0);
    assert_eq!(livelink(out, 1), [("Ada".to_string(), 0.1)]);
    assert_eq!(livelink(out, 2), [("Bob".to_string(), 0.2)]);
    let plugin: Vec<BridgeDatagram> = sent(out)
        .iter()
        .filter(|(p, _, _)| *p == 3)
        .map(|(_, _, b)| BridgeDatagram::decode(b).unwrap())
        .collect();
    assert_eq!(plugin.len(), 1, "Bob is not routed to the plugin");
    assert_eq!(plugin[0].subject.as_deref(), Some("Ada"));
    assert_eq!(plugin[0].audio.as_deref(), Some(&[5i16; 10][..]));
    assert!(sent(out).iter().all(|(p, _, _)| *p != 4), "nobody on vmc");
}

#[test]
fn the_pool_hands_out_subjects_and_refuses_when_empty_then_reuses() {
    let mut s = settings();
    s.subject_idle = Duration::from_secs(1);
    let mut w = world_with(s, "GoAssist_{avatar}", "", "Ada@ll0,Bob@ll0");
    let t0 = Instant::now();
    for session in 1..=3u64 {
        w.receive(
            t0,
            addr(50_000),
            &datagram(0, &frame(session, 1, 0, 0.1), None),
        );
    }
    let subjects: Vec<String> = livelink(w.run(t0), 1).into_iter().map(|(s, _)| s).collect();
    assert_eq!(subjects, ["Ada", "Bob"]);
    assert_eq!(w.tally().dropped(DropReason::NoFreeSubject), 1);
    let view = w.view();
    assert_eq!(view.pool[0].held_by.as_deref(), Some("0000000000000001"));
    // Session 1 and 2 go silent, are forgotten, and give their subjects back.
    tick_for(&mut w, t0, Duration::from_millis(1_600));
    assert_eq!(w.avatars(), 0);
    let now = t0 + Duration::from_secs(2);
    w.receive(now, POD, &datagram(0, &frame(3, 1, 5, 0.1), None));
    assert_eq!(livelink(w.run(now), 1), [("Ada".to_string(), 0.1)]);
}

/// The acceptance case in virtual time (tests/routing.rs repeats it over real UDP):
/// eight sessions into eight subjects on two Unreal instances, interleaved, every frame on its
/// own subject and only there.
#[test]
fn eight_sessions_drive_eight_subjects() {
    let routes: Vec<String> = (0..8)
        .map(|i| format!("session:{:x}=Face{i}@ll{}", 0x100 + i, i % 2))
        .collect();
    let mut w = world_with(settings(), "GoAssist_{avatar}", &routes.join(","), "");
    let t0 = Instant::now();
    let mut seen = vec![Vec::new(); 8];
    for seq in 0..30u32 {
        let now = t0 + FRAME * seq;
        for i in 0..8u64 {
            let jaw = (i as f32 + 1.0) / 10.0;
            w.receive(now, POD, &datagram(0, &frame(0x100 + i, 1, seq, jaw), None));
        }
        let out = w.run(now);
        for port in [1, 2] {
            for (subject, jaw) in livelink(out, port) {
                let i: usize = subject.strip_prefix("Face").unwrap().parse().unwrap();
                assert_eq!(port as usize - 1, i % 2, "{subject} on the wrong instance");
                assert!(
                    (jaw - (i as f32 + 1.0) / 10.0).abs() < 1e-6,
                    "{subject}: {jaw}"
                );
                seen[i].push(seq);
            }
        }
    }
    for (i, seqs) in seen.iter().enumerate() {
        assert_eq!(seqs.len(), 30, "Face{i}");
    }
}

#[test]
fn rerouting_a_live_session_eases_the_old_subject_and_starts_the_new_one() {
    let mut w = world_with(settings(), "GoAssist_{avatar}", "session:1=Ada@ll0", "");
    let t0 = Instant::now();
    w.receive(t0, POD, &datagram(0, &frame(1, 1, 0, 0.8), None));
    assert_eq!(livelink(w.run(t0), 1), [("Ada".to_string(), 0.8)]);
    let targets = targets();
    // Same subject, more targets: the avatar keeps its entity and pose.
    let both = targets.select(&["ll0", "ll1"]).unwrap();
    w.set_route(RouteKey::Session(1), Route::new("Ada", both).unwrap())
        .unwrap();
    w.receive(t0 + FRAME, POD, &datagram(0, &frame(1, 1, 1, 0.7), None));
    let out = w.run(t0 + FRAME);
    assert_eq!((livelink(out, 1).len(), livelink(out, 2).len()), (1, 1));
    assert_eq!(w.avatars(), 1);
    // Another subject: the old one eases out, the new one takes the next frame.
    let ll0 = targets.select(&["ll0"]).unwrap();
    w.set_route(RouteKey::Session(1), Route::new("Eve", ll0).unwrap())
        .unwrap();
    let mut now = t0 + FRAME * 2;
    let mut subjects = Vec::new();
    for seq in 2..40 {
        w.receive(now, POD, &datagram(0, &frame(1, 1, seq, 0.6), None));
        subjects.extend(livelink(w.run(now), 1));
        now += FRAME;
    }
    let ada: Vec<f32> = subjects
        .iter()
        .filter(|(s, _)| s == "Ada")
        .map(|p| p.1)
        .collect();
    let eve = subjects.iter().filter(|(s, _)| s == "Eve").count();
    assert_eq!(eve, 38);
    assert!(
        ada.len() >= 5 && *ada.last().unwrap() == 0.0,
        "Ada eases out: {ada:?}"
    );
    assert_eq!(
        w.avatars(),
        1,
        "the detached avatar is forgotten once neutral"
    );
    // Removing the route sends the session back to the pattern.
    assert!(w.remove_route(RouteKey::Session(1)));
    w.receive(now, POD, &datagram(0, &frame(1, 1, 40, 0.6), None));
    assert_eq!(livelink(w.run(now), 1), [("GoAssist_0".to_string(), 0.6)]);
    let view = w.view();
    assert!(
        view.avatars
            .iter()
            .any(|a| a.subject == "Eve" && a.detached)
    );
}

#[test]
fn conflicting_admin_routes_are_refused() {
    let mut w = world_with(
        settings(),
        "GoAssist_{avatar}",
        "session:1=Ada@ll0",
        "Bob@ll1",
    );
    let ll0 = targets().select(&["ll0"]).unwrap();
    let ll1 = targets().select(&["ll1"]).unwrap();
    assert!(matches!(
        w.set_route(RouteKey::Session(2), Route::new("Ada", ll0).unwrap()),
        Err(RouteError::Conflict { .. })
    ));
    assert!(matches!(
        w.set_route(RouteKey::Avatar(3), Route::new("Bob", ll1).unwrap()),
        Err(RouteError::Conflict { .. })
    ));
    w.set_route(RouteKey::Session(2), Route::new("Ada", ll1).unwrap())
        .unwrap();
    assert_eq!(w.view().routes.len(), 2);
}
