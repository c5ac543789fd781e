//! Both VAD engines on real recordings: speech is found where speech is, the silence around it
//! never starts speech, a short burst is ignored, and end of turn follows the configured pause.

mod speech_fixtures;

use goassist_engines::vad::{SegmentEvent, SegmenterConfig, VadEngine, VadModel};
use speech_fixtures::{RATE, Utterance, models_dir, room_noise};

/// Network packets are 20 ms.
const PACKET: usize = RATE / 50;
const PAD_SECONDS: f64 = 1.5;

fn engines() -> Vec<VadModel> {
    let models = models_dir();
    [VadEngine::Silero, VadEngine::Webrtc]
        .into_iter()
        .map(|engine| VadModel::load(engine, &models).expect("VAD loads"))
        .collect()
}

/// Runs `audio` through a fresh detector in `packet`-sized pushes, then ends the stream.
fn segment(
    model: &VadModel,
    config: SegmenterConfig,
    audio: &[f32],
    packet: usize,
) -> Vec<SegmentEvent> {
    let mut detector = model.new_detector(config);
    let mut events = Vec::new();
    for chunk in audio.chunks(packet) {
        events.extend(detector.push(chunk).expect("valid audio"));
    }
    events.extend(detector.finish());
    events
}

/// `(start, end)` sample pairs; panics if the events do not alternate start/end.
fn segments(events: &[SegmentEvent]) -> Vec<(u64, u64)> {
    events
        .chunks(2)
        .map(|pair| match pair {
            [
                SegmentEvent::SpeechStart { at_sample: s },
                SegmentEvent::SpeechEnd { at_sample: e },
            ] => {
                assert!(s <= e, "segment ends before it starts: {pair:?}");
                (*s, *e)
            }
            other => panic!("events do not alternate start/end: {other:?} in {events:?}"),
        })
        .collect()
}

fn seconds(samples: u64) -> f64 {
    samples as f64 / RATE as f64
}

fn padded(utterance: &Utterance, seed: u32) -> Vec<f32> {
    let pad = (PAD_SECONDS * RATE as f64) as usize;
    let mut audio = room_noise(pad, seed);
    audio.extend_from_slice(&utterance.samples);
    audio.extend(room_noise(pad, seed + 1));
    audio
}

#[test]
fn speech_is_found_in_every_recording_and_not_in_the_silence_around_it() {
    for model in engines() {
        for (i, utterance) in speech_fixtures::all().iter().enumerate() {
            let audio = padded(utterance, i as u32 + 1);
            let found = segments(&segment(&model, SegmenterConfig::default(), &audio, PACKET));
            let what = format!("{} on {}: {found:?}", model.engine(), utterance.name);
            assert!(!found.is_empty(), "no speech found: {what}");
            let speech_start = PAD_SECONDS;
            let speech_end = PAD_SECONDS + seconds(utterance.samples.len() as u64);
            let first_start = seconds(found[0].0);
            let last_end = seconds(found[found.len() - 1].1);
            // The recordings open with ~0.3 s of quiet and close with ~0.2 s.
            assert!(
                (speech_start..speech_start + 1.0).contains(&first_start),
                "speech starts at {first_start:.2} s, recording at {speech_start:.2} s: {what}"
            );
            assert!(
                (speech_end - 1.0..speech_end + 0.5).contains(&last_end),
                "speech ends at {last_end:.2} s, recording at {speech_end:.2} s: {what}"
            );
            let voiced: f64 = found.iter().map(|(s, e)| seconds(e - s)).sum();
            let length = seconds(utterance.samples.len() as u64);
            assert!(
                voiced >= 0.6 * length,
                "only {voiced:.2} s of {length:.2} s voiced: {what}"
            );
        }
    }
}

#[test]
fn silence_and_room_noise_alone_never_start_speech() {
    for model in engines() {
        let noise = room_noise(5 * RATE, 99);
        let zeros = vec![0.0; 5 * RATE];
        for (name, audio) in [("noise", noise), ("zeros", zeros)] {
            let events = segment(&model, SegmenterConfig::default(), &audio, PACKET);
            assert!(
                events.is_empty(),
                "{} on {name}: {events:?}",
                model.engine()
            );
        }
    }
}

#[test]
fn end_of_turn_follows_the_configured_silence_on_real_pauses() {
    // jfk.wav has two pauses of about a second between three phrases.
    let jfk = speech_fixtures::jfk();
    for model in engines() {
        let short = SegmenterConfig {
            end_of_turn_silence_ms: 600,
            ..SegmenterConfig::default()
        };
        let long = SegmenterConfig {
            end_of_turn_silence_ms: 1500,
            ..SegmenterConfig::default()
        };
        let phrases = segments(&segment(&model, short, &jfk.samples, PACKET));
        let turns = segments(&segment(&model, long, &jfk.samples, PACKET));
        assert_eq!(phrases.len(), 3, "{}: {phrases:?}", model.engine());
        assert_eq!(turns.len(), 1, "{}: {turns:?}", model.engine());
        assert_eq!(turns[0].0, phrases[0].0, "{}: same onset", model.engine());
    }
}

#[test]
fn a_burst_shorter_than_min_speech_is_ignored() {
    // 150 ms cut from the middle of a word-dense stretch of a real recording.
    let source = &speech_fixtures::librivox()[0];
    let burst_start = 2 * RATE;
    let burst = &source.samples[burst_start..burst_start + RATE * 15 / 100];
    let mut audio = room_noise(RATE, 7);
    audio.extend_from_slice(burst);
    audio.extend(room_noise(RATE, 8));
    for model in engines() {
        // The default minimum (250 ms) rejects it...
        let events = segment(&model, SegmenterConfig::default(), &audio, PACKET);
        assert!(
            events.is_empty(),
            "{}: burst started speech: {events:?}",
            model.engine()
        );
        // ...although it is speech to the model: with a lower minimum it does start.
        let lenient = SegmenterConfig {
            min_speech_ms: 60,
            ..SegmenterConfig::default()
        };
        let events = segment(&model, lenient, &audio, PACKET);
        assert!(
            matches!(events.first(), Some(SegmentEvent::SpeechStart { .. })),
            "{}: burst not detected at all: {events:?}",
            model.engine()
        );
    }
}

#[test]
fn packet_size_does_not_change_the_events() {
    let jfk = speech_fixtures::jfk();
    for model in engines() {
        let reference = segment(
            &model,
            SegmenterConfig::default(),
            &jfk.samples,
            jfk.samples.len(),
        );
        assert!(!reference.is_empty());
        for packet in [PACKET, 7, 1000] {
            let events = segment(&model, SegmenterConfig::default(), &jfk.samples, packet);
            assert_eq!(
                events,
                reference,
                "{} with {packet}-sample packets",
                model.engine()
            );
        }
    }
}

#[test]
fn streams_on_one_shared_model_keep_their_own_state() {
    let model = VadModel::load(VadEngine::Silero, &models_dir()).unwrap();
    let recordings = speech_fixtures::librivox();
    let (a, b) = (&recordings[0].samples, &recordings[3].samples);
    let alone_a = segment(&model, SegmenterConfig::default(), a, PACKET);
    let alone_b = segment(&model, SegmenterConfig::default(), b, PACKET);

    let mut stream_a = model.new_detector(SegmenterConfig::default());
    let mut stream_b = model.new_detector(SegmenterConfig::default());
    let (mut events_a, mut events_b) = (Vec::new(), Vec::new());
    let mut chunks_a = a.chunks(PACKET);
    let mut chunks_b = b.chunks(PACKET);
    loop {
        let (next_a, next_b) = (chunks_a.next(), chunks_b.next());
        if next_a.is_none() && next_b.is_none() {
            break;
        }
        if let Some(chunk) = next_a {
            events_a.extend(stream_a.push(chunk).unwrap());
        }
        if let Some(chunk) = next_b {
            events_b.extend(stream_b.push(chunk).unwrap());
        }
    }
    events_a.extend(stream_a.finish());
    events_b.extend(stream_b.finish());
    assert_eq!(events_a, alone_a);
    assert_eq!(events_b, alone_b);
}
