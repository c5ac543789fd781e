//! One conversational turn as a user takes it, timed at the client: shared by bench_voice
//! (latency tables) and load_test (many sessions for a long time).
//!
//! Voice-to-voice = the last packet of the user's utterance sent → the first voiced assistant
//! packet received; barge-in = the first packet of an interrupting utterance sent → the first
//! silent packet received.

use std::time::{Duration, Instant};

use goassist_client::{Recording, VoiceClient};

/// RMS above which a received packet counts as voiced.
pub const VOICED: f32 = 0.01;
/// RMS below which a received packet counts as silent.
const SILENT: f32 = 0.002;

/// RMS level of a packet.
pub fn level(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    (samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32).sqrt()
}

/// When the utterance that ends at `end_pos` on the client's clock had its last sample sent.
pub fn last_sent_at(rec: &Recording, end_pos: u64) -> Option<Instant> {
    rec.sent
        .iter()
        .filter(|s| s.sample_pos + s.samples as u64 >= end_pos)
        .map(|s| s.at)
        .next()
}

/// Whether voiced assistant audio arrived after `after`.
pub fn voiced_after(rec: &Recording, after: Instant) -> bool {
    rec.audio
        .iter()
        .any(|a| a.at > after && level(&a.samples_48k) > VOICED)
}

pub fn first_voiced_after(rec: &Recording, after: Instant) -> Option<Instant> {
    rec.audio
        .iter()
        .filter(|a| a.at > after)
        .find(|a| level(&a.samples_48k) > VOICED)
        .map(|a| a.at)
}

pub fn first_silent_after(rec: &Recording, after: Instant) -> Option<Instant> {
    rec.audio
        .iter()
        .filter(|a| a.at > after)
        .find(|a| level(&a.samples_48k) < SILENT)
        .map(|a| a.at)
}

/// How many answers have finished playing.
pub fn answers_done(rec: &Recording) -> usize {
    rec.events
        .iter()
        .filter(|e| e.data.contains("\"assistant_done\""))
        .count()
}

/// One question and its whole answer: the client-side voice-to-voice latency in seconds, or
/// `None` when no answer finished within `timeout`.
pub async fn ask(client: &VoiceClient, question: &[f32], timeout: Duration) -> Option<f64> {
    let done_before = client.inspect(answers_done);
    let (_, end) = client.send_audio_48k(question.to_vec());
    client.send_audio_48k(vec![0.0; 48_000 * 2]);
    client.wait_sent(end, timeout).await;
    let ok = client
        .wait_for(timeout, |r| answers_done(r) > done_before)
        .await;
    let rec = client.snapshot();
    let sent_at = last_sent_at(&rec, end)?;
    let v2v = first_voiced_after(&rec, sent_at)?
        .duration_since(sent_at)
        .as_secs_f64();
    ok.then_some(v2v)
}

/// Asks, interrupts the answer once half a second of it played, and waits for the answer to
/// the interruption: the client-side barge-in latency in seconds, or `None` when the answer
/// never played, the server never said it was interrupted, or its next answer did not finish
/// within `timeout`.
pub async fn interrupt(
    client: &VoiceClient,
    question: &[f32],
    interruption: &[f32],
    timeout: Duration,
) -> Option<f64> {
    let (_, end) = client.send_audio_48k(question.to_vec());
    client.send_audio_48k(vec![0.0; 48_000]);
    client.wait_sent(end, timeout).await;
    let asked_at = Instant::now();
    let playing = client
        .wait_for(timeout, |r| {
            r.audio
                .iter()
                .filter(|a| a.at > asked_at)
                .filter(|a| level(&a.samples_48k) > VOICED)
                .count()
                > 25
        })
        .await;
    if !playing {
        return None;
    }
    let done_before = client.inspect(answers_done);
    let (start, end) = client.send_audio_48k(interruption.to_vec());
    client.send_audio_48k(vec![0.0; 48_000 * 2]);
    client.wait_sent(end, timeout).await;
    client
        .wait_for_event("\"interrupted\"", Duration::from_secs(10))
        .await?;
    let rec = client.snapshot();
    let onset = rec.sent.iter().find(|s| s.sample_pos >= start)?.at;
    let stopped = first_silent_after(&rec, onset)?;
    // The interruption is a question of its own: let its answer finish before the next turn.
    client
        .wait_for(timeout, |r| answers_done(r) > done_before)
        .await
        .then(|| stopped.duration_since(onset).as_secs_f64())
}
