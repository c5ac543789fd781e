//! The end of the user's turn with real processes and models: the inference server on the
//! embedded models hears JFK's "And so my fellow Americans, ask not what your country can do
//! for you, ask what you can do for your country" over WebRTC. Its pauses are long (up to about
//! 0.9 s): the fixed-silence rule cuts the sentence into several turns and answers a fragment;
//! the Smart Turn rule (audio verdict + the LLM's end-of-turn probability for the words so far)
//! keeps it one turn.
//!
//! Checked, for each rule: the final user transcripts the client receives, and the turn ends
//! the server counts (`goassist_turn_ends_total{reason}`).

use std::time::Duration;

use goassist_client::VoiceClient;
use goassist_e2e::{Server, http_get, models_dir, read_wav, tail};

/// What one session heard: the final user transcripts, and the server's turn-end counts.
struct Heard {
    finals: Vec<String>,
    turn_ends: Vec<(String, u64)>,
}

/// JFK's sentence, then silence until no new turn has come for a while.
async fn speak_jfk(detector: &str) -> Heard {
    let models = models_dir();
    let (speech, rate) = read_wav(&models.join("speech/jfk.wav"));
    let mut server = Server::start(&[
        ("TURN_DETECTOR", detector.into()),
        ("ANIMATION_ENABLED", "false".into()),
        ("LLM_MAX_NEW_TOKENS", "24".into()),
    ]);
    server.wait_ready(Duration::from_secs(240));
    let client = VoiceClient::connect(&format!("{}/v1/sessions", server.url()))
        .await
        .expect("WebRTC session");
    client.send_audio_48k(vec![0.0; 48_000]);
    client.send_audio(&speech, rate).unwrap();
    let (_, end) = client.send_audio_48k(vec![0.0; 48_000 * 4]);
    assert!(client.wait_sent(end, Duration::from_secs(60)).await);
    let finals = |client: &VoiceClient| {
        client.inspect(|r| {
            r.events
                .iter()
                .filter(|e| e.data.contains(r#""type":"user_transcript""#))
                .filter(|e| e.data.contains(r#""final":true"#))
                .map(|e| e.data.clone())
                .collect::<Vec<_>>()
        })
    };
    // Every turn has ended by now (the speech and 4 s of silence were sent); wait until the
    // answer to the last one is done.
    let answered = |r: &goassist_client::Recording| {
        let last = |needle: &str| r.events.iter().rposition(|e| e.data.contains(needle));
        matches!(
            (last(r#""final":true"#), last(r#""type":"assistant_done""#)),
            (Some(asked), Some(done)) if done > asked
        )
    };
    assert!(
        client.wait_for(Duration::from_secs(120), answered).await,
        "no answer to the last turn; server log:\n{}",
        tail(&server.logs(), 40)
    );
    let finals = finals(&client);
    let (_, metrics) = http_get(server.port, "/metrics").expect("metrics");
    let turn_ends = metrics
        .lines()
        .filter_map(|line| line.strip_prefix("goassist_turn_ends_total{reason=\""))
        .filter_map(|rest| {
            let (reason, count) = rest.split_once("\"} ")?;
            Some((reason.to_string(), count.trim().parse().ok()?))
        })
        .collect::<Vec<(String, u64)>>();
    eprintln!("{detector}: finals {finals:?}, turn ends {turn_ends:?}");
    Heard { finals, turn_ends }
}

fn count(heard: &Heard, reason: &str) -> u64 {
    heard
        .turn_ends
        .iter()
        .find(|(r, _)| r == reason)
        .map_or(0, |(_, n)| *n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentence_with_long_pauses_is_one_turn_with_smart_turn_and_several_on_silence() {
    let smart = speak_jfk("smart_turn").await;
    assert_eq!(
        smart.finals.len(),
        1,
        "one turn for the whole sentence: {:?}",
        smart.finals
    );
    let text = smart.finals[0].to_lowercase();
    assert!(
        text.contains("americans") && text.contains("country"),
        "the final transcript holds the whole sentence: {text}"
    );
    let at_pauses = ["complete", "audio_only", "max_silence"]
        .iter()
        .map(|r| count(&smart, r))
        .sum::<u64>();
    assert_eq!(at_pauses, 1, "ended by the detector: {:?}", smart.turn_ends);

    // The control: the same speech on the fixed 600 ms silence is cut at its pauses.
    let silence = speak_jfk("silence").await;
    assert!(
        silence.finals.len() >= 2,
        "the fixed silence cuts the sentence: {:?}",
        silence.finals
    );
    assert_eq!(count(&silence, "silence") as usize, silence.finals.len());
}
