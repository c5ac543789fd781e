//! One emission → the datagrams for each of its avatar's targets, appended to the outbox.
//! Each wire form is encoded once per emission and shared by every target of its kind.

use goassist_protocol::FaceFrame;
use goassist_protocol::bridge_stream::{self, AUDIO_SAMPLE_RATE};
use goassist_protocol::livelink::{FrameTime, LiveLinkPacket, MAX_PACKET_LEN};
use goassist_protocol::vmc;

use super::components::{Avatar, Outputs};
use super::{Emission, Outbox, Transmit, WorldSettings};
use crate::routing::{TargetKind, Targets};

pub(super) fn encode_emission(
    outbox: &mut Outbox,
    settings: &WorldSettings,
    targets: &Targets,
    avatar: &Avatar,
    outputs: &Outputs,
    e: &Emission,
    audio: Option<&[i16]>,
) {
    let mut livelink = None;
    let mut plugin = None;
    let mut vmc = None;
    for i in outputs.targets.iter() {
        let Some(target) = targets.get(i) else {
            continue;
        };
        let range = match target.kind {
            TargetKind::LiveLink => livelink
                .get_or_insert_with(|| encode_livelink(outbox, settings, outputs, e))
                .clone(),
            TargetKind::Plugin => plugin
                .get_or_insert_with(|| encode_plugin(outbox, avatar, outputs, e, audio))
                .clone(),
            TargetKind::Vmc => vmc
                .get_or_insert_with(|| encode_vmc(outbox, settings, e))
                .clone(),
        };
        // Encoding cannot fail for validated subjects and chunk lengths; if it ever does the
        // frame is skipped for that kind (the next one supersedes it).
        if let Some(range) = range {
            outbox.transmits.push(Transmit {
                range,
                to: target.addr,
                kind: target.kind,
            });
        }
    }
}

type Encoded = Option<std::ops::Range<usize>>;

fn encode_livelink(
    outbox: &mut Outbox,
    settings: &WorldSettings,
    outputs: &Outputs,
    e: &Emission,
) -> Encoded {
    let packet = LiveLinkPacket {
        device_id: &settings.device_id,
        subject: &outputs.subject,
        time: FrameTime::from_sample_pos(e.sample_pos, settings.fps),
        values: e.values,
    };
    let start = outbox.bytes.len();
    outbox.bytes.resize(start + MAX_PACKET_LEN, 0);
    match packet.encode_into(&mut outbox.bytes[start..]) {
        Ok(n) => {
            outbox.bytes.truncate(start + n);
            Some(start..start + n)
        }
        Err(e) => {
            outbox.bytes.truncate(start);
            tracing::debug!(error = %e, "live link encode failed");
            None
        }
    }
}

fn encode_plugin(
    outbox: &mut Outbox,
    avatar: &Avatar,
    outputs: &Outputs,
    e: &Emission,
    audio: Option<&[i16]>,
) -> Encoded {
    let frame = FaceFrame {
        session_id: e.session_id,
        epoch: e.epoch,
        seq: e.out_seq,
        sample_pos: e.sample_pos,
        values: e.values,
    };
    let subject = outputs.named.then_some(outputs.subject.as_str());
    let mut scratch = std::mem::take(&mut outbox.scratch);
    let encoded =
        bridge_stream::encode_routed_into(avatar.avatar_id, &frame, audio, subject, &mut scratch);
    let range = match encoded {
        Ok(()) => {
            let start = outbox.bytes.len();
            outbox.bytes.extend_from_slice(&scratch);
            Some(start..outbox.bytes.len())
        }
        Err(err) => {
            tracing::debug!(error = %err, "plugin stream encode failed");
            None
        }
    };
    outbox.scratch = scratch;
    range
}

fn encode_vmc(outbox: &mut Outbox, settings: &WorldSettings, e: &Emission) -> Encoded {
    let time = e.sample_pos as f32 / AUDIO_SAMPLE_RATE as f32;
    match vmc::encode_frame(&e.values, time, settings.vmc_naming) {
        Ok(bytes) => {
            let start = outbox.bytes.len();
            outbox.bytes.extend_from_slice(&bytes);
            Some(start..outbox.bytes.len())
        }
        Err(err) => {
            tracing::debug!(error = %err, "vmc encode failed");
            None
        }
    }
}
