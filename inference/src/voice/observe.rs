//! The session's observations into the server's Prometheus metrics.

use super::core::Observation;
use crate::conversation::Metric;
use crate::metrics::Metrics;
use crate::webrtc::StatsDirection;

/// Records what the session core observed.
pub fn observe(metrics: &Metrics, observation: &Observation) {
    match *observation {
        Observation::Latency { metric, seconds } => match metric {
            Metric::Ttfa => &metrics.ttfa_seconds,
            Metric::VoiceToVoice => &metrics.voice_to_voice_seconds,
            Metric::BargeIn => &metrics.barge_in_seconds,
        }
        .observe(seconds),
        Observation::Stage { stage, elapsed } => metrics
            .stage_seconds
            .with_label_values(&[stage])
            .observe(elapsed.as_secs_f64()),
        Observation::SpeechPacket { interval } => {
            metrics.audio_packets_sent_total.inc();
            if let Some(interval) = interval {
                metrics
                    .audio_send_interval_seconds
                    .observe(interval.as_secs_f64());
            }
        }
        Observation::BargeIn => metrics.barge_ins_total.inc(),
        Observation::FaceFrameSent => metrics.animation_frames_sent_total.inc(),
        Observation::BridgeFramesDropped(n) => metrics
            .render_bridge_frames_total
            .with_label_values(&["dropped"])
            .inc_by(n),
        Observation::MalformedClientMessage => metrics
            .malformed_input_total
            .with_label_values(&["data_channel"])
            .inc(),
        Observation::TurnEnded(reason) => metrics
            .turn_ends_total
            .with_label_values(&[reason.as_str()])
            .inc(),
        Observation::Preemptive { used, tokens } => {
            let outcome = if used { "used" } else { "discarded" };
            metrics
                .preemptive_answers_total
                .with_label_values(&[outcome])
                .inc();
            if !used {
                metrics
                    .preemptive_discarded_tokens_total
                    .inc_by(tokens as u64);
            }
        }
    }
}

/// A frame handed to the render-bridge link (`sent`), or dropped on a full queue.
pub fn bridge_frame(metrics: &Metrics, sent: bool) {
    let outcome = if sent { "sent" } else { "dropped" };
    metrics
        .render_bridge_frames_total
        .with_label_values(&[outcome])
        .inc();
}

/// RTCP statistics of the user's audio.
pub fn webrtc_stats(metrics: &Metrics, direction: StatsDirection, loss_ratio: f64, jitter: f64) {
    if direction == StatsDirection::Ingress {
        metrics.webrtc_packet_loss_ratio.observe(loss_ratio);
        metrics.webrtc_jitter_seconds.observe(jitter);
    }
}
