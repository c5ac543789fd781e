//! The server's listening path end to end on real speech, without the network: 20 ms packets
//! go through the Silero detector and the utterance capture, and the final utterance handed to
//! Moonshine at end of turn transcribes to the reference text. The utterance cut where the
//! trailing silence began (for an early transcription) is exactly the final one.

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
    // The early final: the utterance cut where the trailing silence began.
    let mut speculative: Option<(u64, Vec<f32>)> = None;
    let mut speculative_hits = 0;
    for packet in stream.chunks(RATE / 50) {
        capture.push(packet);
        for event in detector.push(packet).unwrap() {
            if let Some(utterance) = capture.on_event(event) {
                let SegmentEvent::SpeechEnd { at_sample } = event else {
                    panic!("audio returned on {event:?}");
                };
                if let Some((silence_start, early)) = speculative.take()
                    && silence_start == at_sample + 1
                {
                    assert!(
                        early == utterance,
                        "early final ({} samples) differs from the final ({} samples)",
                        early.len(),
                        utterance.len()
                    );
                    speculative_hits += 1;
                }
                finals.push(asr.transcribe(&utterance).unwrap());
            }
        }
        if let Some(silence_start) = detector.trailing_silence_start()
            && speculative
                .as_ref()
                .is_none_or(|(s, _)| *s != silence_start)
            && let Some(early) = capture.audio_until(silence_start - 1)
        {
            // The server would start transcribing `early` here.
            speculative = Some((silence_start, early.to_vec()));
        }
        // As the server's listener: no partial while the speech is in a pause.
        if capture
            .partial_due(detector.trailing_silence_start().is_some())
            .is_some()
        {
            partials += 1; // the server would transcribe it; counting keeps the test fast
        }
    }
    assert_eq!(finals.len(), 2, "{finals:?}");
    assert_eq!(
        speculative_hits, 2,
        "each final was known when the silence began"
    );
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
