//! Malformed audio never panics a VAD: it is an `InvalidInput` error and the stream's state is
//! untouched, so the next good frame gives what it would have given anyway.

mod speech_fixtures;

use goassist_engines::EngineError;
use goassist_engines::vad::{SegmenterConfig, Vad, VadEngine, VadModel};
use speech_fixtures::models_dir;

fn bad_frames(frame_len: usize) -> Vec<Vec<f32>> {
    let mut nan = vec![0.1; frame_len];
    nan[frame_len / 2] = f32::NAN;
    let mut inf = vec![0.1; frame_len];
    inf[0] = f32::NEG_INFINITY;
    vec![
        Vec::new(),
        vec![0.0; 1],
        vec![0.0; frame_len - 1],
        vec![0.0; frame_len + 1],
        vec![0.0; frame_len * 4],
        nan,
        inf,
    ]
}

#[test]
fn bad_frames_are_errors_and_leave_the_stream_as_it_was() {
    let models = models_dir();
    let jfk = speech_fixtures::jfk();
    for engine in [VadEngine::Silero, VadEngine::Webrtc] {
        let model = VadModel::load(engine, &models).unwrap();
        let mut clean: Box<dyn Vad> = model.new_stream();
        let mut poked: Box<dyn Vad> = model.new_stream();
        let frame_len = clean.frame_len();
        for (i, frame) in jfk.samples.chunks_exact(frame_len).take(200).enumerate() {
            if i % 10 == 0 {
                for bad in bad_frames(frame_len) {
                    let err = poked.speech_probability(&bad).unwrap_err();
                    assert!(
                        matches!(err, EngineError::InvalidInput(_)),
                        "{engine}: {err}"
                    );
                }
            }
            let expected = clean.speech_probability(frame).unwrap();
            let got = poked.speech_probability(frame).unwrap();
            assert!((0.0..=1.0).contains(&got), "{engine}: probability {got}");
            assert_eq!(expected, got, "{engine}: frame {i} changed by bad input");
        }
    }
}

#[test]
fn loud_clipping_audio_is_accepted() {
    // Out-of-range samples (a clipping microphone, a bad gain) are legal input, not errors.
    for engine in [VadEngine::Silero, VadEngine::Webrtc] {
        let model = VadModel::load(engine, &models_dir()).unwrap();
        let mut vad = model.new_stream();
        let frame: Vec<f32> = (0..vad.frame_len())
            .map(|i| if i % 2 == 0 { 40.0 } else { -40.0 })
            .collect();
        let p = vad.speech_probability(&frame).unwrap();
        assert!((0.0..=1.0).contains(&p), "{engine}: {p}");
    }
}

#[test]
fn detector_rejects_a_packet_with_nan_whole_and_goes_on() {
    let jfk = speech_fixtures::jfk();
    let model = VadModel::load(VadEngine::Silero, &models_dir()).unwrap();
    let mut clean = model.new_detector(SegmenterConfig::default());
    let mut poked = model.new_detector(SegmenterConfig::default());
    let mut bad_packet = vec![0.0; 320];
    bad_packet[100] = f32::NAN;
    let (mut expected, mut got) = (Vec::new(), Vec::new());
    for (i, packet) in jfk.samples.chunks(320).enumerate() {
        if i % 25 == 0 {
            assert!(matches!(
                poked.push(&bad_packet),
                Err(EngineError::InvalidInput(_))
            ));
            assert_eq!(poked.samples_processed(), clean.samples_processed());
        }
        expected.extend(clean.push(packet).unwrap());
        got.extend(poked.push(packet).unwrap());
    }
    assert!(!expected.is_empty());
    assert_eq!(expected, got);
}
