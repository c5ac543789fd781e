//! The 15 Oculus visemes, their ARKit-52 poses, and IPA phoneme → viseme rules.
//!
//! The pose table is ours (tuned by eye on the built-in face; openfacefx's ARKit preset was a
//! reference for which shapes each viseme needs). Weights are the shape at full articulation;
//! the animator scales them by how strongly the viseme is active. `jawOpen` is listed separately
//! because the animator drives the jaw from the speech envelope and uses the viseme only to
//! shape how far it opens.

use goassist_protocol::CurveIndex as C;

use super::FaceValues;

/// Number of visemes.
pub const VISEME_COUNT: usize = 15;

/// Oculus viseme set, numbered as the HeadAudio model numbers them.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Viseme {
    Aa = 0,
    E = 1,
    I = 2,
    O = 3,
    U = 4,
    PP = 5,
    SS = 6,
    TH = 7,
    DD = 8,
    FF = 9,
    Kk = 10,
    Nn = 11,
    RR = 12,
    CH = 13,
    Sil = 14,
}

impl Viseme {
    /// All visemes in id order.
    pub const ALL: [Viseme; VISEME_COUNT] = [
        Viseme::Aa,
        Viseme::E,
        Viseme::I,
        Viseme::O,
        Viseme::U,
        Viseme::PP,
        Viseme::SS,
        Viseme::TH,
        Viseme::DD,
        Viseme::FF,
        Viseme::Kk,
        Viseme::Nn,
        Viseme::RR,
        Viseme::CH,
        Viseme::Sil,
    ];

    /// The viseme with HeadAudio id `id`, if in range.
    pub fn from_id(id: u8) -> Option<Viseme> {
        Viseme::ALL.get(usize::from(id)).copied()
    }

    /// How far the jaw may open on this viseme, relative to an open vowel (0..1).
    pub fn jaw_scale(self) -> f32 {
        match self {
            Viseme::Aa => 1.0,
            Viseme::E => 0.8,
            Viseme::O => 0.8,
            Viseme::I => 0.55,
            Viseme::U => 0.5,
            Viseme::Kk | Viseme::RR => 0.6,
            Viseme::DD | Viseme::Nn | Viseme::TH => 0.5,
            Viseme::CH | Viseme::SS => 0.35,
            Viseme::FF => 0.25,
            Viseme::PP => 0.1,
            Viseme::Sil => 0.3,
        }
    }

    /// How strongly this viseme dominates its neighbours (coarticulation): lip closures and
    /// lip-teeth contacts must be reached, vowels and alveolars yield to their context.
    pub fn dominance(self) -> f32 {
        match self {
            Viseme::PP | Viseme::FF => 1.0,
            Viseme::U | Viseme::O | Viseme::CH => 0.8,
            Viseme::Aa | Viseme::E | Viseme::I | Viseme::RR => 0.6,
            Viseme::SS | Viseme::TH => 0.5,
            Viseme::DD | Viseme::Nn | Viseme::Kk => 0.35,
            Viseme::Sil => 0.4,
        }
    }

    /// The mouth pose of this viseme at full articulation (without `jawOpen`).
    pub fn pose(self) -> FaceValues {
        let mut p = super::NEUTRAL;
        fn both(p: &mut FaceValues, left: usize, right: usize, w: f32) {
            p[left] = w;
            p[right] = w;
        }
        match self {
            Viseme::Aa => both(
                &mut p,
                C::MOUTH_LOWER_DOWN_LEFT,
                C::MOUTH_LOWER_DOWN_RIGHT,
                0.15,
            ),
            Viseme::E => {
                both(&mut p, C::MOUTH_STRETCH_LEFT, C::MOUTH_STRETCH_RIGHT, 0.3);
                both(
                    &mut p,
                    C::MOUTH_LOWER_DOWN_LEFT,
                    C::MOUTH_LOWER_DOWN_RIGHT,
                    0.1,
                );
            }
            Viseme::I => {
                both(&mut p, C::MOUTH_STRETCH_LEFT, C::MOUTH_STRETCH_RIGHT, 0.45);
                both(&mut p, C::MOUTH_SMILE_LEFT, C::MOUTH_SMILE_RIGHT, 0.25);
                both(
                    &mut p,
                    C::MOUTH_UPPER_UP_LEFT,
                    C::MOUTH_UPPER_UP_RIGHT,
                    0.15,
                );
            }
            Viseme::O => {
                p[C::MOUTH_FUNNEL] = 0.55;
                p[C::MOUTH_PUCKER] = 0.25;
            }
            Viseme::U => {
                p[C::MOUTH_PUCKER] = 0.7;
                p[C::MOUTH_FUNNEL] = 0.3;
            }
            Viseme::PP => {
                both(&mut p, C::MOUTH_PRESS_LEFT, C::MOUTH_PRESS_RIGHT, 0.55);
                p[C::MOUTH_ROLL_LOWER] = 0.2;
                p[C::MOUTH_ROLL_UPPER] = 0.2;
                p[C::MOUTH_CLOSE] = 0.15;
            }
            Viseme::SS => {
                both(&mut p, C::MOUTH_STRETCH_LEFT, C::MOUTH_STRETCH_RIGHT, 0.35);
                both(
                    &mut p,
                    C::MOUTH_UPPER_UP_LEFT,
                    C::MOUTH_UPPER_UP_RIGHT,
                    0.25,
                );
                both(
                    &mut p,
                    C::MOUTH_LOWER_DOWN_LEFT,
                    C::MOUTH_LOWER_DOWN_RIGHT,
                    0.25,
                );
            }
            Viseme::TH => {
                p[C::TONGUE_OUT] = 0.6;
                both(&mut p, C::MOUTH_UPPER_UP_LEFT, C::MOUTH_UPPER_UP_RIGHT, 0.1);
            }
            Viseme::DD => {
                p[C::TONGUE_OUT] = 0.15;
                both(&mut p, C::MOUTH_UPPER_UP_LEFT, C::MOUTH_UPPER_UP_RIGHT, 0.1);
            }
            Viseme::FF => {
                p[C::MOUTH_ROLL_LOWER] = 0.45;
                both(
                    &mut p,
                    C::MOUTH_UPPER_UP_LEFT,
                    C::MOUTH_UPPER_UP_RIGHT,
                    0.25,
                );
                p[33] = 0.3; // MouthShrugLower lifts the lower lip to the teeth
            }
            Viseme::Kk => both(
                &mut p,
                C::MOUTH_LOWER_DOWN_LEFT,
                C::MOUTH_LOWER_DOWN_RIGHT,
                0.1,
            ),
            Viseme::Nn => {
                p[C::TONGUE_OUT] = 0.1;
                both(
                    &mut p,
                    C::MOUTH_LOWER_DOWN_LEFT,
                    C::MOUTH_LOWER_DOWN_RIGHT,
                    0.08,
                );
            }
            Viseme::RR => {
                p[C::MOUTH_PUCKER] = 0.4;
                p[C::MOUTH_FUNNEL] = 0.25;
            }
            Viseme::CH => {
                p[C::MOUTH_FUNNEL] = 0.5;
                p[C::MOUTH_PUCKER] = 0.35;
                both(&mut p, C::MOUTH_UPPER_UP_LEFT, C::MOUTH_UPPER_UP_RIGHT, 0.1);
            }
            Viseme::Sil => {}
        }
        p
    }
}

/// The viseme of one IPA phoneme as espeak-ng/Piper write them (stress and length marks are
/// ignored; unknown symbols give `None`).
pub fn viseme_of_phoneme(phoneme: &str) -> Option<Viseme> {
    let core: String = phoneme
        .chars()
        .filter(|c| !matches!(c, 'ˈ' | 'ˌ' | 'ː' | 'ˑ' | '̃' | '̩'))
        .collect();
    let v = match core.as_str() {
        "tʃ" | "dʒ" | "ts" | "dz" | "ʧ" | "ʤ" => Viseme::CH,
        "aɪ" | "aʊ" => Viseme::Aa,
        "eɪ" => Viseme::E,
        "oʊ" | "ɔɪ" => Viseme::O,
        "" | "‖" | "|" | " " | "." | "," => Viseme::Sil,
        _ => {
            let mut chars = core.chars();
            let first = chars.next()?;
            match first {
                'a' | 'ɑ' | 'ɐ' | 'æ' | 'ä' => Viseme::Aa,
                'ɛ' | 'e' | 'œ' | 'ɜ' | 'ʌ' | 'ə' | 'ɚ' | 'ɘ' => Viseme::E,
                'i' | 'ɪ' | 'ɨ' | 'y' | 'ʏ' => Viseme::I,
                'o' | 'ɔ' | 'ɒ' | 'ø' => Viseme::O,
                'u' | 'ʊ' | 'ɯ' | 'ɤ' => Viseme::U,
                'p' | 'b' | 'm' => Viseme::PP,
                's' | 'z' | 'ʃ' | 'ʒ' | 'ɕ' | 'ʑ' | 'ç' | 'ʝ' | 'x' | 'ɣ' | 'h' => {
                    Viseme::SS
                }
                'θ' | 'ð' => Viseme::TH,
                't' | 'd' | 'ɾ' => Viseme::DD,
                'f' | 'v' => Viseme::FF,
                'k' | 'g' | 'ɡ' | 'q' | 'ɢ' => Viseme::Kk,
                'n' | 'ŋ' | 'ɲ' | 'ɳ' => Viseme::Nn,
                'ɹ' | 'r' | 'ɽ' | 'l' | 'ɫ' | 'j' | 'w' => Viseme::RR,
                _ => return None,
            }
        }
    };
    Some(v)
}

/// A distance prior from a segment's phonemes: visemes the text says will occur are favoured
/// (distance × 0.8), so the classifier picks among plausible mouth shapes. No phonemes, no prior.
pub fn phoneme_prior(phonemes: &[String]) -> [f32; VISEME_COUNT] {
    let mut prior = [1.0; VISEME_COUNT];
    let present: Vec<Viseme> = phonemes
        .iter()
        .filter_map(|p| viseme_of_phoneme(p))
        .collect();
    if present.is_empty() {
        return prior;
    }
    for v in present {
        prior[v as usize] = 0.8;
    }
    prior[Viseme::Sil as usize] = 1.0;
    prior
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for (i, v) in Viseme::ALL.iter().enumerate() {
            assert_eq!(*v as usize, i);
            assert_eq!(Viseme::from_id(i as u8), Some(*v));
        }
        assert_eq!(Viseme::from_id(15), None);
    }

    #[test]
    fn poses_are_in_range_and_distinct() {
        for v in Viseme::ALL {
            let p = v.pose();
            assert!(p.iter().all(|w| (0.0..=1.0).contains(w)), "{v:?}");
            assert_eq!(p[C::JAW_OPEN], 0.0, "jaw is driven by the envelope");
        }
        assert!(Viseme::U.pose()[C::MOUTH_PUCKER] > 0.5);
        assert!(Viseme::PP.pose()[C::MOUTH_PRESS_LEFT] > 0.3);
        assert!(Viseme::Sil.pose().iter().all(|w| *w == 0.0));
        assert!(Viseme::Aa.jaw_scale() > Viseme::PP.jaw_scale());
    }

    #[test]
    fn phonemes_map_to_visemes() {
        assert_eq!(viseme_of_phoneme("ˈɑː"), Some(Viseme::Aa));
        assert_eq!(viseme_of_phoneme("m"), Some(Viseme::PP));
        assert_eq!(viseme_of_phoneme("tʃ"), Some(Viseme::CH));
        assert_eq!(viseme_of_phoneme("ð"), Some(Viseme::TH));
        assert_eq!(viseme_of_phoneme("uː"), Some(Viseme::U));
        assert_eq!(viseme_of_phoneme("ɹ"), Some(Viseme::RR));
        assert_eq!(viseme_of_phoneme("☃"), None);
        let prior = phoneme_prior(&["h".into(), "ə".into(), "l".into(), "oʊ".into()]);
        assert_eq!(prior[Viseme::E as usize], 0.8);
        assert_eq!(prior[Viseme::PP as usize], 1.0);
        assert_eq!(phoneme_prior(&[]), [1.0; VISEME_COUNT]);
    }
}
