//! The ARKit-52 blendshapes plus head and eye rotations, in the order Unreal numbers them
//! (`EARFaceBlendShape`, see docs/protocols.md). Live Link Face packets carry exactly these 61
//! values in this order. Map other tools' curves by name, never by index: orders differ.

/// The 52 ARKit blendshapes (weights in 0..1).
pub const BLENDSHAPE_COUNT: usize = 52;
/// The 52 blendshapes followed by head yaw/pitch/roll and each eye's yaw/pitch/roll.
pub const ARKIT_COUNT: usize = 61;

/// Unreal's PascalCase curve names, index = position in a Live Link Face frame.
#[rustfmt::skip]
pub const UNREAL_NAMES: [&str; ARKIT_COUNT] = [
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft",
    "EyeSquintLeft", "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight",
    "EyeLookOutRight", "EyeLookUpRight", "EyeSquintRight", "EyeWideRight", "JawForward",
    "JawLeft", "JawRight", "JawOpen", "MouthClose", "MouthFunnel",
    "MouthPucker", "MouthLeft", "MouthRight", "MouthSmileLeft", "MouthSmileRight",
    "MouthFrownLeft", "MouthFrownRight", "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft",
    "MouthStretchRight", "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper",
    "MouthPressLeft", "MouthPressRight", "MouthLowerDownLeft", "MouthLowerDownRight", "MouthUpperUpLeft",
    "MouthUpperUpRight", "BrowDownLeft", "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft",
    "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft", "CheekSquintRight", "NoseSneerLeft",
    "NoseSneerRight", "TongueOut",
    "HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
    "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
];

/// Apple's camelCase name of a curve (`EyeBlinkLeft` → `eyeBlinkLeft`), as ARKit, glTF heads
/// and most web tools spell them.
pub fn apple_name(index: usize) -> Option<String> {
    let name = UNREAL_NAMES.get(index)?;
    let mut chars = name.chars();
    let first = chars.next()?.to_ascii_lowercase();
    Some(std::iter::once(first).chain(chars).collect())
}

/// Finds a curve by name, accepting Unreal (`JawOpen`), Apple (`jawOpen`) and the `_L`/`_R`
/// suffix style some meshes use (`eyeBlink_L`). Case-insensitive.
pub fn index_of(name: &str) -> Option<usize> {
    let normalized = normalize(name);
    UNREAL_NAMES.iter().position(|n| normalize(n) == normalized)
}

fn normalize(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let lower = if let Some(stem) = lower.strip_suffix("_l") {
        format!("{stem}left")
    } else if let Some(stem) = lower.strip_suffix("_r") {
        format!("{stem}right")
    } else {
        lower
    };
    lower.replace('_', "")
}

/// Named indices for the curves code refers to directly.
#[allow(missing_docs)]
pub struct CurveIndex;
#[allow(missing_docs)]
impl CurveIndex {
    pub const EYE_BLINK_LEFT: usize = 0;
    pub const EYE_LOOK_DOWN_LEFT: usize = 1;
    pub const EYE_LOOK_IN_LEFT: usize = 2;
    pub const EYE_LOOK_OUT_LEFT: usize = 3;
    pub const EYE_LOOK_UP_LEFT: usize = 4;
    pub const EYE_BLINK_RIGHT: usize = 7;
    pub const EYE_LOOK_DOWN_RIGHT: usize = 8;
    pub const EYE_LOOK_IN_RIGHT: usize = 9;
    pub const EYE_LOOK_OUT_RIGHT: usize = 10;
    pub const EYE_LOOK_UP_RIGHT: usize = 11;
    pub const JAW_FORWARD: usize = 14;
    pub const JAW_OPEN: usize = 17;
    pub const MOUTH_CLOSE: usize = 18;
    pub const MOUTH_FUNNEL: usize = 19;
    pub const MOUTH_PUCKER: usize = 20;
    pub const MOUTH_SMILE_LEFT: usize = 23;
    pub const MOUTH_SMILE_RIGHT: usize = 24;
    pub const MOUTH_STRETCH_LEFT: usize = 29;
    pub const MOUTH_STRETCH_RIGHT: usize = 30;
    pub const MOUTH_ROLL_LOWER: usize = 31;
    pub const MOUTH_ROLL_UPPER: usize = 32;
    pub const MOUTH_PRESS_LEFT: usize = 35;
    pub const MOUTH_PRESS_RIGHT: usize = 36;
    pub const MOUTH_LOWER_DOWN_LEFT: usize = 37;
    pub const MOUTH_LOWER_DOWN_RIGHT: usize = 38;
    pub const MOUTH_UPPER_UP_LEFT: usize = 39;
    pub const MOUTH_UPPER_UP_RIGHT: usize = 40;
    pub const BROW_INNER_UP: usize = 43;
    pub const CHEEK_PUFF: usize = 46;
    pub const TONGUE_OUT: usize = 51;
    pub const HEAD_YAW: usize = 52;
    pub const HEAD_PITCH: usize = 53;
    pub const HEAD_ROLL: usize = 54;
    pub const LEFT_EYE_YAW: usize = 55;
    pub const LEFT_EYE_PITCH: usize = 56;
    pub const RIGHT_EYE_YAW: usize = 58;
    pub const RIGHT_EYE_PITCH: usize = 59;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreal_order_matches_the_engine_enum() {
        assert_eq!(UNREAL_NAMES.len(), 61);
        assert_eq!(UNREAL_NAMES[0], "EyeBlinkLeft");
        assert_eq!(UNREAL_NAMES[17], "JawOpen");
        assert_eq!(UNREAL_NAMES[21], "MouthLeft");
        assert_eq!(UNREAL_NAMES[22], "MouthRight");
        assert_eq!(UNREAL_NAMES[51], "TongueOut");
        assert_eq!(UNREAL_NAMES[60], "RightEyeRoll");
        assert_eq!(UNREAL_NAMES[CurveIndex::JAW_OPEN], "JawOpen");
        assert_eq!(
            UNREAL_NAMES[CurveIndex::MOUTH_UPPER_UP_RIGHT],
            "MouthUpperUpRight"
        );
        assert_eq!(UNREAL_NAMES[CurveIndex::HEAD_YAW], "HeadYaw");
        assert_eq!(UNREAL_NAMES[CurveIndex::JAW_FORWARD], "JawForward");
        assert_eq!(UNREAL_NAMES[CurveIndex::CHEEK_PUFF], "CheekPuff");
    }

    #[test]
    fn names_map_in_every_spelling() {
        assert_eq!(index_of("JawOpen"), Some(17));
        assert_eq!(index_of("jawOpen"), Some(17));
        assert_eq!(index_of("eyeBlink_L"), Some(0));
        assert_eq!(index_of("eyeBlink_R"), Some(7));
        assert_eq!(index_of("mouthSmile_L"), Some(23));
        assert_eq!(index_of("nonsense"), None);
        assert_eq!(apple_name(17).as_deref(), Some("jawOpen"));
        let unique: std::collections::HashSet<_> = UNREAL_NAMES.iter().collect();
        assert_eq!(unique.len(), ARKIT_COUNT);
    }
}
