//! The server's listening path end to end on real speech, without the network: 20 ms packets
//! go through the Silero detector and the utterance capture, and the final utterance handed to
//! Moonshine at end of turn transcribes to the reference text.

mod speech_fixtures;

use goassist_engines::asr::{Asr, MoonshineAsr, word_error_rate};
use goassist_engines::vad::{
    CaptureConfig, SegmentEvent, SegmenterConfig, UtteranceCapture, VadEngine, VadModel,
};
use speech_fixtures::{RATE, models_dir, room_noise};

#[test]
fn two_spoken_turns_become_two_final_transcripts() {
    let models = models_dir();
    let vad = VadModel::load(VadEngine::Silero, &models).unwrap();
    let mut asr = MoonshineAsr::load(&models, 1).unwrap();
    let turns = [
        speech_fixtures::librivox().remove(1),
        speech_fixtures::librivox().remove(4),
    ];

    // Quiet, first turn, two seconds of quiet, second turn, quiet.
    let mut stream = room_noise(RATE, 1);
    for (i, turn) in turns.iter().enumerate() {
        stream.extend_from_slice(&turn.samples);
        stream.extend(room_noise(2 * RATE, i as u32 + 2));
    }

    let mut detector = vad.new_detector(SegmenterConfig::default());
    let mut capture = UtteranceCapture::new(CaptureConfig::default());
    let (mut finals, mut partials) = (Vec::new(), 0);
    for packet in stream.chunks(RATE / 50) {
        capture.push(packet);
        for event in detector.push(packet).unwrap() {
            if let Some(utterance) = capture.on_event(event) {
                assert!(matches!(event, SegmentEvent::SpeechEnd { .. }));
                finals.push(asr.transcribe(&utterance).unwrap());
            }
        }
        if capture.partial_due().is_some() {
            partials += 1; // the server would transcribe it; counting keeps the test fast
        }
    }
    assert_eq!(finals.len(), 2, "{finals:?}");
    for (turn, text) in turns.iter().zip(&finals) {
        let wer = word_error_rate(&turn.transcript, text);
        assert!(
            wer <= 0.1,
            "{}: WER {:.0} %: {text:?}",
            turn.name,
            wer * 100.0
        );
    }
    // ~3 s turns with a partial every 0.5 s.
    assert!((8..=16).contains(&partials), "{partials} partials");
}
