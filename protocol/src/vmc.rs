//! VMC (Virtual Motion Capture) over OSC: the avatar convention of VSeeFace, VMC4UE, VRM4U and
//! friends (<https://protocol.vmc.info/english>). A performer sends, per frame, one OSC bundle:
//!
//! 1. `/VMC/Ext/OK (int 1)` — "tracking is available";
//! 2. `/VMC/Ext/T (float seconds)` — the performer's clock (here the 48 kHz audio clock);
//! 3. `/VMC/Ext/Blend/Val (string name, float value)` for each of the 52 ARKit shapes, named as
//!    "perfect sync" avatars name them ([`VmcNaming`]);
//! 4. `/VMC/Ext/Bone/Pos (string "Head", float px,py,pz, qx,qy,qz,qw)` from head yaw/pitch/roll;
//! 5. `/VMC/Ext/Blend/Apply` — commit the values.
//!
//! The marionette (receiver) listens on UDP 39539 by convention. Encoding and decoding use
//! `rosc`; the decoder exists for tests, fuzzing and tools, and never panics.

use rosc::{OscBundle, OscMessage, OscPacket, OscTime, OscType};

use crate::arkit::{ARKIT_COUNT, BLENDSHAPE_COUNT, CurveIndex, UNREAL_NAMES, apple_name, index_of};

/// Conventional UDP port of a VMC marionette.
pub const VMC_DEFAULT_PORT: u16 = 39539;
/// Address of one blendshape value.
pub const ADDR_BLEND_VAL: &str = "/VMC/Ext/Blend/Val";
/// Address that commits the blendshape values sent before it.
pub const ADDR_BLEND_APPLY: &str = "/VMC/Ext/Blend/Apply";
/// Address of the performer's time.
pub const ADDR_TIME: &str = "/VMC/Ext/T";
/// Address of the availability flag.
pub const ADDR_OK: &str = "/VMC/Ext/OK";
/// Address of a bone's local pose.
pub const ADDR_BONE_POS: &str = "/VMC/Ext/Bone/Pos";

/// How blendshape names are spelled on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VmcNaming {
    /// `EyeBlinkLeft`, `JawOpen`: the "perfect sync" clip names most VRM avatars use.
    #[default]
    PascalCase,
    /// `eyeBlinkLeft`, `jawOpen`: Apple's ARKit spelling.
    CamelCase,
}

/// Why a VMC packet could not be built or read.
#[derive(Debug, thiserror::Error)]
pub enum VmcError {
    /// rosc rejected the bytes or the packet.
    #[error("OSC: {0}")]
    Osc(String),
    /// A VMC message with the wrong argument types.
    #[error("{addr}: unexpected arguments")]
    Arguments {
        /// The message's address.
        addr: String,
    },
    /// Bundles nested deeper than this decoder follows.
    #[error("OSC bundles nested deeper than {0}")]
    TooDeep(usize),
}

impl From<rosc::OscError> for VmcError {
    fn from(e: rosc::OscError) -> Self {
        VmcError::Osc(e.to_string())
    }
}

/// What a VMC packet said, as far as faces go.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VmcUpdate {
    /// Blendshape values by ARKit index (Unreal order), for names this decoder recognizes.
    pub blend: Vec<(usize, f32)>,
    /// Names it did not recognize, with their values.
    pub unknown_blend: Vec<(String, f32)>,
    /// Whether `/VMC/Ext/Blend/Apply` was present.
    pub applied: bool,
    /// `/VMC/Ext/T`, if present.
    pub time: Option<f32>,
    /// The head bone's rotation quaternion (x, y, z, w), if present.
    pub head_rotation: Option<[f32; 4]>,
}

/// Builds the per-frame VMC bundle for the 61 values of a face frame (Unreal order). Head
/// rotation is degrees/180 as in [`crate::face_frame::FaceFrame`].
pub fn encode_frame(
    values: &[f32; ARKIT_COUNT],
    time_s: f32,
    naming: VmcNaming,
) -> Result<Vec<u8>, VmcError> {
    let mut content = Vec::with_capacity(BLENDSHAPE_COUNT + 4);
    content.push(message(ADDR_OK, vec![OscType::Int(1)]));
    content.push(message(ADDR_TIME, vec![OscType::Float(time_s)]));
    for (i, &v) in values.iter().enumerate().take(BLENDSHAPE_COUNT) {
        let name = match naming {
            VmcNaming::PascalCase => UNREAL_NAMES[i].to_string(),
            VmcNaming::CamelCase => apple_name(i).unwrap_or_default(),
        };
        let v = if v.is_nan() { 0.0 } else { v };
        content.push(message(
            ADDR_BLEND_VAL,
            vec![OscType::String(name), OscType::Float(v)],
        ));
    }
    let q = head_quaternion(
        values[CurveIndex::HEAD_YAW],
        values[CurveIndex::HEAD_PITCH],
        values[CurveIndex::HEAD_ROLL],
    );
    let mut bone = vec![OscType::String("Head".into())];
    bone.extend([0.0, 0.0, 0.0].map(OscType::Float));
    bone.extend(q.map(OscType::Float));
    content.push(message(ADDR_BONE_POS, bone));
    content.push(message(ADDR_BLEND_APPLY, vec![]));
    let bundle = OscPacket::Bundle(OscBundle {
        // "Immediately", as VMC performers send.
        timetag: OscTime {
            seconds: 0,
            fractional: 1,
        },
        content,
    });
    Ok(rosc::encoder::encode(&bundle)?)
}

/// Reads a VMC packet (a message or a bundle) and collects what it says about the face.
pub fn decode(bytes: &[u8]) -> Result<VmcUpdate, VmcError> {
    let (_, packet) = rosc::decoder::decode_udp(bytes)?;
    let mut update = VmcUpdate::default();
    collect(&packet, &mut update, 0)?;
    Ok(update)
}

/// How deep nested bundles may go; VMC senders use one level.
const MAX_DEPTH: usize = 8;

fn collect(packet: &OscPacket, update: &mut VmcUpdate, depth: usize) -> Result<(), VmcError> {
    match packet {
        OscPacket::Bundle(b) => {
            if depth >= MAX_DEPTH {
                return Err(VmcError::TooDeep(MAX_DEPTH));
            }
            for p in &b.content {
                collect(p, update, depth + 1)?;
            }
        }
        OscPacket::Message(m) => read_message(m, update)?,
    }
    Ok(())
}

fn read_message(m: &OscMessage, update: &mut VmcUpdate) -> Result<(), VmcError> {
    let bad = || VmcError::Arguments {
        addr: m.addr.clone(),
    };
    match m.addr.as_str() {
        ADDR_BLEND_VAL => match m.args.as_slice() {
            [OscType::String(name), OscType::Float(v)] => match index_of(name) {
                Some(i) if i < BLENDSHAPE_COUNT => update.blend.push((i, *v)),
                _ => update.unknown_blend.push((name.clone(), *v)),
            },
            _ => return Err(bad()),
        },
        ADDR_BLEND_APPLY => update.applied = true,
        ADDR_TIME => match m.args.as_slice() {
            [OscType::Float(t)] => update.time = Some(*t),
            _ => return Err(bad()),
        },
        ADDR_BONE_POS => match m.args.as_slice() {
            [OscType::String(name), rest @ ..] if name == "Head" => {
                let floats: Vec<f32> = rest.iter().filter_map(|a| a.clone().float()).collect();
                if rest.len() != 7 || floats.len() != 7 {
                    return Err(bad());
                }
                update.head_rotation = Some([floats[3], floats[4], floats[5], floats[6]]);
            }
            [OscType::String(_), ..] => {}
            _ => return Err(bad()),
        },
        _ => {}
    }
    Ok(())
}

fn message(addr: &str, args: Vec<OscType>) -> OscPacket {
    OscPacket::Message(OscMessage {
        addr: addr.to_string(),
        args,
    })
}

/// Unity-style rotation (VMC receivers are mostly Unity: Y up, left-handed, applied Z then X
/// then Y) from yaw/pitch/roll given as degrees/180. The sign convention is ARKit's as Live
/// Link carries it; avatars that look mirrored need a receiver-side flip.
pub fn head_quaternion(yaw: f32, pitch: f32, roll: f32) -> [f32; 4] {
    let half = |v: f32| (if v.is_nan() { 0.0 } else { v }) * std::f32::consts::PI / 2.0;
    let (sy, cy) = half(yaw).sin_cos();
    let (sp, cp) = half(pitch).sin_cos();
    let (sr, cr) = half(roll).sin_cos();
    // q = qy * qx * qz
    let x = cy * sp * cr + sy * cp * sr;
    let y = sy * cp * cr - cy * sp * sr;
    let z = cy * cp * sr - sy * sp * cr;
    let w = cy * cp * cr + sy * sp * sr;
    [x, y, z, w]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> [f32; ARKIT_COUNT] {
        let mut v = [0.0; ARKIT_COUNT];
        v[CurveIndex::JAW_OPEN] = 0.5;
        v[CurveIndex::EYE_BLINK_RIGHT] = 0.25;
        v[CurveIndex::HEAD_YAW] = 0.5; // 90 degrees
        v
    }

    /// Golden vector for the fixed parts of the bundle: the OSC framing and the first messages.
    #[test]
    fn golden_vector_prefix() {
        let bytes = encode_frame(&values(), 1.5, VmcNaming::PascalCase).unwrap();
        assert_eq!(&bytes[..8], b"#bundle\0");
        assert_eq!(
            &bytes[8..16],
            &[0, 0, 0, 0, 0, 0, 0, 1],
            "time tag: immediately"
        );
        // First element: size 16, "/VMC/Ext/OK\0" ",i\0\0" int 1.
        assert_eq!(&bytes[16..20], &[0, 0, 0, 20]);
        assert_eq!(&bytes[20..32], b"/VMC/Ext/OK\0");
        assert_eq!(&bytes[32..36], b",i\0\0");
        assert_eq!(&bytes[36..40], &[0, 0, 0, 1]);
        // Second: "/VMC/Ext/T\0\0" ",f\0\0" 1.5
        assert_eq!(&bytes[40..44], &[0, 0, 0, 20]);
        assert_eq!(&bytes[44..56], b"/VMC/Ext/T\0\0");
        assert_eq!(&bytes[56..60], b",f\0\0");
        assert_eq!(&bytes[60..64], &1.5f32.to_be_bytes());
        // Third: the first blendshape value.
        assert_eq!(&bytes[68..88], b"/VMC/Ext/Blend/Val\0\0");
        assert_eq!(&bytes[88..92], b",sf\0");
        assert_eq!(&bytes[92..105], b"EyeBlinkLeft\0");
    }

    #[test]
    fn round_trip_through_rosc() {
        let v = values();
        for naming in [VmcNaming::PascalCase, VmcNaming::CamelCase] {
            let u = decode(&encode_frame(&v, 2.0, naming).unwrap()).unwrap();
            assert!(u.applied);
            assert_eq!(u.time, Some(2.0));
            assert_eq!(u.blend.len(), BLENDSHAPE_COUNT);
            assert!(u.unknown_blend.is_empty());
            for (i, x) in &u.blend {
                assert_eq!(*x, v[*i], "curve {i}");
            }
            let q = u.head_rotation.unwrap();
            // 90 degrees of yaw about Y.
            let h = std::f32::consts::FRAC_1_SQRT_2;
            assert!((q[1] - h).abs() < 1e-6 && (q[3] - h).abs() < 1e-6, "{q:?}");
        }
    }

    #[test]
    fn quaternions_are_unit_length() {
        for (y, p, r) in [(0.1, -0.3, 0.7), (1.0, 1.0, -1.0), (f32::NAN, 0.0, 0.2)] {
            let q = head_quaternion(y, p, r);
            let n: f32 = q.iter().map(|c| c * c).sum();
            assert!((n - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn malformed_input_sweep_never_panics() {
        let good = encode_frame(&values(), 0.0, VmcNaming::PascalCase).unwrap();
        for n in 0..good.len() {
            let _ = decode(&good[..n]);
        }
        for i in (0..good.len()).step_by(3) {
            for b in [0x00, 0x2C, 0x7F, 0xFF] {
                let mut bad = good.clone();
                bad[i] = b;
                let _ = decode(&bad);
            }
        }
        assert!(decode(&[]).is_err());
        assert!(decode(b"not osc").is_err());
        // Wrong argument types are a typed error.
        let wrong = rosc::encoder::encode(&message(ADDR_BLEND_VAL, vec![OscType::Int(3)])).unwrap();
        assert!(matches!(decode(&wrong), Err(VmcError::Arguments { .. })));
    }

    #[test]
    fn deep_bundles_are_refused() {
        let mut p = message(ADDR_BLEND_APPLY, vec![]);
        for _ in 0..MAX_DEPTH + 1 {
            p = OscPacket::Bundle(OscBundle {
                timetag: OscTime {
                    seconds: 0,
                    fractional: 1,
                },
                content: vec![p],
            });
        }
        let bytes = rosc::encoder::encode(&p).unwrap();
        assert!(matches!(decode(&bytes), Err(VmcError::TooDeep(_))));
    }
}
