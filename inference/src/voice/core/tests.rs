//! Whole conversations through the session core in virtual time: nothing sleeps, time moves
//! only when a test advances it, and every output is recorded with the instant it came out.

use super::*;
use goassist_protocol::CurveIndex;

const MS: Duration = Duration::from_millis(1);
/// 20 ms at 48 kHz.
const PACKET: u64 = 960;
/// 30 fps at 48 kHz.
const FRAME: u64 = 1600;

struct Harness {
    core: SessionCore,
    now: Instant,
    /// (when, position, carries speech).
    packets: Vec<(Instant, u64, bool)>,
    events: Vec<ServerEvent>,
    engine: Vec<EngineRequest>,
    face: Vec<FaceCommand>,
    frames: Vec<FaceFrame>,
    bridge: Vec<BridgeOut>,
    observed: Vec<(Instant, Observation)>,
    end: Option<(Instant, EndReason)>,
    segments: u32,
}

fn settings() -> CoreSettings {
    CoreSettings {
        session_id: "s1".into(),
        packetizer: PacketizerConfig {
            sample_rate: 48_000,
            packet_ms: 20,
            overlap_ms: 0,
        },
        barge_in_min_speech: Duration::from_millis(250),
        idle_timeout: Duration::from_secs(60),
        max_duration: None,
        face_fps: 30,
        face_configured: true,
        face_engine: true,
        bridge: Some(false),
        turn: TurnRuleConfig::default(),
        // Its own tests below; the others count the conversation's own LLM requests.
        preemptive_answer: false,
    }
}

impl Harness {
    /// A connected session whose first packet (silence) went out at t0.
    fn connected() -> Self {
        Self::with(settings())
    }

    fn with(settings: CoreSettings) -> Self {
        let now = Instant::now();
        let core = SessionCore::new(settings, now).unwrap();
        let mut h = Harness {
            core,
            now,
            packets: Vec::new(),
            events: Vec::new(),
            engine: Vec::new(),
            face: Vec::new(),
            frames: Vec::new(),
            bridge: Vec::new(),
            observed: Vec::new(),
            end: None,
            segments: 0,
        };
        h.input(Input::Connected);
        h.advance(Duration::ZERO);
        h
    }

    fn drain(&mut self) {
        while let Some(output) = self.core.poll_output() {
            match output {
                Output::Packet {
                    sample_pos,
                    samples,
                } => {
                    let voiced = samples.iter().any(|s| s.abs() > 1e-6);
                    self.packets.push((self.now, sample_pos, voiced));
                }
                Output::End(reason) => self.end = Some((self.now, reason)),
                Output::Engine(request) => self.engine.push(request),
                Output::Face(command) => self.face.push(command),
                Output::Event(event) => self.events.push(event),
                Output::FaceFrame(frame) => self.frames.push(frame),
                Output::Bridge(out) => self.bridge.push(out),
                Output::Observe(o) => self.observed.push((self.now, o)),
                Output::State(_) => {}
            }
        }
    }

    /// Feeds an input, then fires what became due at once (the I/O loop's next wake-up).
    fn input(&mut self, input: Input) {
        self.core.handle(self.now, input);
        self.drain();
        self.advance(Duration::ZERO);
    }

    /// Moves virtual time forward by `by`, firing every timeout on the way.
    fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        while let Some(due) = self.core.poll_timeout(self.now) {
            if due > until {
                break;
            }
            self.now = self.now.max(due);
            self.core.handle_timeout(self.now);
            self.drain();
        }
        self.now = until;
    }

    /// The listener's next segment number (each speech start is a new one).
    fn next_segment(&mut self) -> u32 {
        self.segments += 1;
        self.segments
    }

    /// The user says something and the turn ends; the final transcript comes back as `text`.
    fn user_turn(&mut self, text: &str) {
        let at = self.now;
        let segment = self.next_segment();
        self.input(Input::Heard(Heard::SpeechStart {
            segment,
            onset_at: at,
        }));
        self.advance(500 * MS);
        self.input(Input::Heard(Heard::SpeechEnd {
            segment,
            last_speech_at: self.now,
            utterance: vec![0.1; 16_000],
        }));
        assert!(
            self.engine.iter().any(|r| matches!(
                r,
                EngineRequest::Transcribe {
                    kind: TranscriptKind::Final,
                    ..
                }
            )),
            "the end of the turn asks for the final transcript"
        );
        self.input(Input::Transcript {
            kind: TranscriptKind::Final,
            result: Ok(text.into()),
        });
    }

    /// The LLM request of the current turn.
    fn llm_epoch(&self) -> u32 {
        self.engine
            .iter()
            .rev()
            .find_map(|r| match r {
                EngineRequest::StartLlm { epoch, .. } => Some(*epoch),
                _ => None,
            })
            .expect("an LLM request")
    }

    /// The LLM answers `text` at once and finishes.
    fn answer(&mut self, text: &str) -> u32 {
        let epoch = self.llm_epoch();
        self.input(Input::Llm {
            epoch,
            event: Some(LlmEvent::Token(text.into())),
        });
        self.llm_done(epoch);
        epoch
    }

    /// The LLM request of `epoch` finishes.
    fn llm_done(&mut self, epoch: u32) {
        self.input(Input::Llm {
            epoch,
            event: Some(LlmEvent::Done(crate::llm::LlmStats {
                prompt_tokens: 10,
                reused_prompt_tokens: 0,
                generated_tokens: 3,
                queue_wait: Duration::ZERO,
                time_to_first_token: Duration::ZERO,
                total: Duration::ZERO,
            })),
        });
    }

    fn synth_requests(&self) -> Vec<(u32, usize)> {
        self.engine
            .iter()
            .filter_map(|r| match r {
                EngineRequest::Synthesize { epoch, clause, .. } => Some((*epoch, *clause)),
                _ => None,
            })
            .collect()
    }

    fn synthesized(&mut self, epoch: u32, clause: usize, packets: usize) {
        self.input(Input::Synthesized {
            epoch,
            clause,
            result: Ok(SynthesizedClause {
                samples_48k: vec![0.5; PACKET as usize * packets],
                phonemes: vec![],
            }),
        });
    }

    fn voiced_packets(&self) -> Vec<u64> {
        self.packets
            .iter()
            .filter(|(_, _, voiced)| *voiced)
            .map(|(_, pos, _)| *pos)
            .collect()
    }

    fn latency(&self, metric: Metric) -> Option<f64> {
        self.observed.iter().find_map(|(_, o)| match o {
            Observation::Latency { metric: m, seconds } if *m == metric => Some(*seconds),
            _ => None,
        })
    }

    fn has_event(&self, f: impl Fn(&ServerEvent) -> bool) -> bool {
        self.events.iter().any(f)
    }

    /// A face frame with the mouth open, as the engine makes them.
    fn speaking_frame(epoch: u32, pos: u64) -> FaceFrame {
        let mut f = FaceFrame::neutral(1, epoch, 0, pos);
        f.values[CurveIndex::JAW_OPEN] = 0.6;
        f
    }
}

#[test]
fn connecting_announces_the_session_and_starts_the_packet_clock() {
    let mut h = Harness::connected();
    assert!(matches!(
        &h.events[..2],
        [
            ServerEvent::Session { face_fps: 30, .. },
            ServerEvent::State {
                state: TurnState::Listening,
                ..
            }
        ]
    ));
    h.advance(100 * MS);
    // t0, +20, ..., +100: six packets of silence, one per 20 ms, positions contiguous.
    let positions: Vec<u64> = h.packets.iter().map(|p| p.1).collect();
    assert_eq!(positions, (0..6).map(|k| k * PACKET).collect::<Vec<_>>());
    assert!(h.voiced_packets().is_empty());
}

#[test]
fn the_first_packet_of_an_answer_leaves_as_soon_as_its_clause_is_queued() {
    let mut h = Harness::connected();
    h.user_turn("what time is it");
    let epoch = h.answer("It is noon.");
    assert_eq!(h.synth_requests(), [(epoch, 0)]);
    assert!(matches!(
        h.engine.last(),
        Some(EngineRequest::Synthesize { first: true, .. })
    ));
    // Synthesis finishes 7 ms after a silent packet went out (between grid slots).
    h.advance(7 * MS);
    let queued_at = h.now;
    h.synthesized(epoch, 0, 3);
    h.advance(Duration::ZERO);
    let (sent_at, pos, voiced) = *h.packets.iter().find(|p| p.2).unwrap();
    assert!(voiced);
    assert_eq!(sent_at, queued_at, "no wait for the next 20 ms slot");
    // The TTFA runs from the end of the turn (the transcript came back at once) to now.
    let ttfa = h.latency(Metric::Ttfa).expect("TTFA observed");
    assert!((ttfa - 0.007).abs() < 1e-9, "TTFA {ttfa}");
    // That packet was the next grid slot's (t0 + 520 ms), sent early; the ones after it stay
    // on the 20 ms grid, so the sender's clock never runs ahead of the RTP clock.
    h.advance(60 * MS);
    let after: Vec<(Duration, u64)> = h
        .packets
        .iter()
        .filter(|p| p.1 > pos)
        .map(|p| (p.0 - sent_at, p.1))
        .collect();
    assert_eq!(after[0], (33 * MS, pos + PACKET));
    assert_eq!(after[1], (53 * MS, pos + 2 * PACKET));
}

#[test]
fn clauses_are_queued_in_speaking_order_whatever_order_synthesis_finishes_in() {
    let mut h = Harness::connected();
    h.user_turn("tell me two things");
    let epoch = h.answer("First, one thing. Then another thing to say.");
    let clauses = h.synth_requests();
    assert!(clauses.len() >= 2, "two clauses: {clauses:?}");
    h.synthesized(epoch, 1, 2);
    h.advance(40 * MS);
    assert!(h.voiced_packets().is_empty(), "clause 1 waits for clause 0");
    h.synthesized(epoch, 0, 3);
    h.advance(200 * MS);
    let voiced = h.voiced_packets();
    assert_eq!(voiced.len(), 5, "3 + 2 packets of speech");
    assert!(voiced.windows(2).all(|w| w[1] == w[0] + PACKET));
    let texts: Vec<u64> = h
        .events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::AssistantText { sample_pos, .. } => Some(*sample_pos),
            _ => None,
        })
        .collect();
    assert_eq!(
        texts,
        [voiced[0], voiced[3]],
        "clause 1 starts after clause 0"
    );
}

/// Speaking: clause 0 (1 s) queued, face frames for all of it sent ahead, 200 ms played.
fn speaking() -> (Harness, u32) {
    let mut h = Harness::connected();
    h.user_turn("hello");
    let epoch = h.llm_epoch();
    h.input(Input::Llm {
        epoch,
        event: Some(LlmEvent::Token("Hello there my good friend! ".into())),
    });
    h.synthesized(epoch, 0, 50);
    let start = h.voiced_packets()[0];
    for k in 0..30 {
        h.input(Input::FaceFrame(Harness::speaking_frame(
            epoch,
            start + k * FRAME,
        )));
    }
    h.advance(200 * MS);
    assert_eq!(h.core.state(), TurnState::Speaking);
    (h, epoch)
}

#[test]
fn a_cough_pauses_the_voice_then_resumes_it_later_with_the_face_moved_onto_it() {
    let (mut h, epoch) = speaking();
    let speech_start = h.voiced_packets()[0];
    let played_until = *h.voiced_packets().last().unwrap() + PACKET;
    let frames_before = h.frames.len();
    // A voice onset while the assistant speaks: silence goes out, the mouth rests at once.
    h.input(Input::Heard(Heard::VoiceOnset { at: h.now }));
    let rest = h.frames[frames_before].clone();
    assert_eq!(rest.sample_pos, played_until);
    assert_eq!(rest.values[CurveIndex::JAW_OPEN], 0.0);
    h.advance(300 * MS);
    assert_eq!(
        *h.voiced_packets().last().unwrap() + PACKET,
        played_until,
        "no speech while paused"
    );
    // Never confirmed as speech: after the confirmation window (250 + 150 ms) it resumes.
    h.advance(200 * MS);
    let voiced = h.voiced_packets();
    let resumed_at = voiced.iter().copied().find(|p| *p >= played_until).unwrap();
    let pause = resumed_at - played_until;
    assert!(
        (18 * PACKET..=22 * PACKET).contains(&pause),
        "paused ~400 ms: {} ms",
        pause / 48
    );
    // The frames whose audio had not gone out were sent again on their audio's new place.
    let moved: Vec<&FaceFrame> = h.frames[frames_before + 1..]
        .iter()
        .filter(|f| f.values[CurveIndex::JAW_OPEN] > 0.0)
        .collect();
    assert!(!moved.is_empty());
    for f in &moved {
        let queued_at = f.sample_pos - pause;
        assert!(queued_at >= played_until && (queued_at - speech_start).is_multiple_of(FRAME));
    }
    assert!(moved.windows(2).all(|w| w[1].seq > w[0].seq));
    // No barge-in happened.
    assert_eq!(h.core.epoch(), epoch);
    assert!(!h.has_event(|e| matches!(e, ServerEvent::Interrupted { .. })));
}

#[test]
fn clauses_synthesized_during_a_pause_wait_for_it_and_then_follow_on() {
    let (mut h, epoch) = speaking();
    h.input(Input::Heard(Heard::VoiceOnset { at: h.now }));
    h.input(Input::Llm {
        epoch,
        event: Some(LlmEvent::Token("How are you today? ".into())),
    });
    assert_eq!(h.synth_requests().len(), 2);
    h.synthesized(epoch, 1, 5);
    assert!(
        !h.face
            .iter()
            .any(|c| matches!(c, FaceCommand::Segment { start_pos, .. } if *start_pos > 48_000)),
        "held, not queued: where it plays is not known until the pause ends"
    );
    h.advance(2_000 * MS);
    let voiced = h.voiced_packets();
    assert_eq!(voiced.len(), 55, "all of clause 0 and clause 1");
    let clause1_start = voiced[50];
    assert_eq!(clause1_start, voiced[49] + PACKET, "right after clause 0");
}

#[test]
fn a_barge_in_mid_clause_silences_the_voice_and_drops_the_old_turn() {
    let (mut h, epoch) = speaking();
    let onset = h.now;
    h.input(Input::Heard(Heard::VoiceOnset { at: onset }));
    h.advance(260 * MS);
    h.input(Input::Heard(Heard::SpeechStart {
        segment: 1,
        onset_at: onset,
    }));
    assert!(h.engine.contains(&EngineRequest::CancelLlm));
    assert!(h.engine.contains(&EngineRequest::CancelSynthesis));
    assert!(h.face.contains(&FaceCommand::Interrupt(epoch + 1)));
    let heard = h.events.iter().find_map(|e| match e {
        ServerEvent::Interrupted { heard_text, .. } => Some(heard_text.clone()),
        _ => None,
    });
    assert_eq!(
        heard.as_deref(),
        Some("Hello"),
        "a fifth of the clause's five words was heard"
    );
    // Stopped within the packet the voice arrived in: the barge-in latency is ~0.
    assert!(h.latency(Metric::BargeIn).unwrap() < 0.001);
    let voiced_before = h.voiced_packets().len();
    // Work of the old turn that arrives late goes nowhere.
    h.synthesized(epoch, 1, 5);
    h.input(Input::Llm {
        epoch,
        event: Some(LlmEvent::Token("more".into())),
    });
    h.advance(1_000 * MS);
    assert_eq!(
        h.voiced_packets().len(),
        voiced_before,
        "nothing more is spoken"
    );
    assert_eq!(h.core.state(), TurnState::UserSpeaking);
}

#[test]
fn frames_reach_the_bridge_when_their_audio_goes_out() {
    let (mut h, _epoch) = speaking();
    let played = *h.voiced_packets().last().unwrap() + PACKET;
    assert!(!h.bridge.is_empty());
    // Released on the estimated clock between packets: at most one packet ahead of the last.
    assert!(
        h.bridge
            .iter()
            .all(|b| b.frame.sample_pos < played + PACKET),
        "nothing ahead of its audio"
    );
    let before = h.bridge.len();
    h.advance(200 * MS);
    assert!(h.bridge.len() >= before + 5, "about 6 frames per 200 ms");
}

#[test]
fn an_idle_session_ends_after_the_timeout_and_only_user_voice_counts_as_activity() {
    let mut h = Harness::connected();
    h.advance(Duration::from_secs(30));
    h.input(Input::ClientText(r#"{"type":"ping"}"#.into()));
    h.advance(Duration::from_secs(29));
    assert!(h.end.is_none());
    h.advance(Duration::from_secs(2));
    let (at, reason) = h.end.expect("idle timeout");
    assert_eq!(reason, EndReason::IdleTimeout);
    let started = h.packets[0].0;
    assert_eq!(
        at - started,
        Duration::from_secs(60),
        "pings do not hold the session"
    );

    let mut h = Harness::connected();
    h.advance(Duration::from_secs(50));
    h.input(Input::Heard(Heard::SpeechStart {
        segment: 1,
        onset_at: h.now,
    }));
    h.advance(Duration::from_secs(59));
    assert!(h.end.is_none(), "speech restarted the idle clock");
    h.advance(Duration::from_secs(2));
    assert!(h.end.is_some());
}

#[test]
fn no_session_outlives_its_length_cap_however_active() {
    let mut h = Harness::with(CoreSettings {
        max_duration: Some(Duration::from_secs(120)),
        ..settings()
    });
    let started = h.now;
    for minute_third in 1..=5 {
        h.advance(Duration::from_secs(20));
        h.input(Input::ClientText(
            r#"{"type":"user_text","text":"still here"}"#.into(),
        ));
        assert!(h.end.is_none(), "{minute_third} × 20 s: under the cap");
    }
    h.advance(Duration::from_secs(30));
    let (at, reason) = h.end.expect("the cap ended it");
    assert_eq!(reason, EndReason::MaxDuration);
    assert_eq!(
        at - started,
        Duration::from_secs(120),
        "at the cap, to the tick"
    );
}

#[test]
fn a_bad_client_message_gets_an_error_event_and_the_session_goes_on() {
    let mut h = Harness::connected();
    h.input(Input::ClientText("{not json".into()));
    assert!(h.has_event(|e| matches!(e, ServerEvent::Error { code, .. } if code == "bad_message")));
    assert!(
        h.observed
            .iter()
            .any(|(_, o)| *o == Observation::MalformedClientMessage)
    );
    h.input(Input::ClientText(
        r#"{"type":"user_text","text":"hi"}"#.into(),
    ));
    assert!(
        h.engine
            .iter()
            .any(|r| matches!(r, EngineRequest::StartLlm { .. }))
    );
}

#[test]
fn a_failed_answer_tells_the_client_that_it_failed_but_not_what_the_server_said() {
    let mut h = Harness::connected();
    h.user_turn("what is the weather");
    let epoch = h.llm_epoch();
    let server_detail = "LLM server answered 500: CUDA error at ggml-cuda.cu:1234 on 10.0.3.7";
    h.input(Input::Llm {
        epoch,
        event: Some(LlmEvent::Error(crate::llm::LlmError::Failed(
            server_detail.into(),
        ))),
    });
    let told: Vec<String> = h
        .events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Error { code, message } if code == "llm_unavailable" => {
                Some(message.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(told, vec!["the answer could not be completed".to_string()]);
    assert!(
        h.synth_requests().iter().any(|(e, _)| *e == epoch),
        "the spoken unavailable line still follows"
    );
}

#[test]
fn the_kill_switch_stops_face_frames_but_not_the_voice() {
    let mut h = Harness::connected();
    h.core.set_animation(false);
    h.user_turn("hello");
    let epoch = h.answer("Hi.");
    h.synthesized(epoch, 0, 5);
    h.input(Input::FaceFrame(Harness::speaking_frame(epoch, 0)));
    h.advance(200 * MS);
    assert!(h.frames.is_empty() && h.bridge.is_empty());
    assert_eq!(h.voiced_packets().len(), 5);
}

// --- the end of the user's turn at a pause (TURN_DETECTOR=smart_turn) ------------------------

impl Harness {
    /// The listener confirms speech (a new segment) at the current time.
    fn speech_starts(&mut self) -> u32 {
        let segment = self.next_segment();
        self.input(Input::Heard(Heard::SpeechStart {
            segment,
            onset_at: self.now,
        }));
        segment
    }

    /// The listener reports a pause that began 200 ms ago (the probe length); returns it.
    fn pause(&mut self, segment: u32) -> Instant {
        let since = self.now - 200 * MS;
        self.input(Input::Heard(Heard::Pause {
            segment,
            since,
            audio: vec![0.1; 24_000],
            voiced_len: 20_000,
        }));
        since
    }

    fn judged(&self, pause: Instant) -> (bool, Option<Vec<ChatTurn>>) {
        let audio = self
            .engine
            .iter()
            .any(|r| matches!(r, EngineRequest::JudgeAudio { pause: p, .. } if *p == pause));
        let text = self.engine.iter().find_map(|r| match r {
            EngineRequest::JudgeText { pause: p, history } if *p == pause => Some(history.clone()),
            _ => None,
        });
        (audio, text)
    }

    fn final_asr_requests(&self) -> usize {
        self.engine
            .iter()
            .filter(|r| {
                matches!(
                    r,
                    EngineRequest::Transcribe {
                        kind: TranscriptKind::Final,
                        ..
                    }
                )
            })
            .count()
    }

    fn llm_requests(&self) -> Vec<Vec<ChatTurn>> {
        self.engine
            .iter()
            .filter_map(|r| match r {
                EngineRequest::StartLlm { history, .. } => Some(history.clone()),
                _ => None,
            })
            .collect()
    }

    fn segments_ended(&self) -> Vec<u32> {
        self.engine
            .iter()
            .filter_map(|r| match r {
                EngineRequest::EndSegment { segment } => Some(*segment),
                _ => None,
            })
            .collect()
    }

    fn turn_ends(&self) -> Vec<TurnEndReason> {
        self.observed
            .iter()
            .filter_map(|(_, o)| match o {
                Observation::TurnEnded(reason) => Some(*reason),
                _ => None,
            })
            .collect()
    }

    /// The pause's transcript, Smart Turn's and the LLM's verdicts come back.
    fn verdicts(&mut self, pause: Instant, text: &str, audio: f32, llm: Option<f32>) {
        self.input(Input::TurnAudio {
            pause,
            result: Ok(audio),
        });
        self.input(Input::Transcript {
            kind: TranscriptKind::Pause(pause),
            result: Ok(text.into()),
        });
        if self.judged(pause).1.is_some() {
            self.input(Input::TurnText {
                pause,
                probability: llm,
            });
        }
    }
}

#[test]
fn a_pause_mid_sentence_keeps_the_turn_open_and_its_end_answers_the_whole_sentence() {
    let mut h = Harness::connected();
    let segment = h.speech_starts();
    h.advance(1_500 * MS);
    // "And so my fellow Americans," — the voice sounds finished (Smart Turn 0.97 here), the
    // words do not (the LLM expects more).
    let first = h.pause(segment);
    assert!(
        h.engine.contains(&EngineRequest::Transcribe {
            audio: vec![0.1; 20_000],
            kind: TranscriptKind::Pause(first),
        }),
        "the speech up to the pause is transcribed at once"
    );
    h.verdicts(first, "And so my fellow Americans,", 0.97, Some(0.02));
    let (audio, text) = h.judged(first);
    assert!(audio, "Smart Turn judges the pause");
    let history = text.expect("the LLM judges the words so far");
    assert_eq!(history.last().unwrap().text, "And so my fellow Americans,");
    h.advance(600 * MS);
    assert_eq!(
        h.core.state(),
        TurnState::UserSpeaking,
        "still the user's turn"
    );
    assert!(h.segments_ended().is_empty() && h.llm_requests().is_empty());

    // The voice comes back, then a pause where both say the sentence is over.
    h.input(Input::Heard(Heard::Resumed { segment }));
    h.advance(2_500 * MS);
    assert!(
        h.segments_ended().is_empty(),
        "a resumed pause is forgotten"
    );
    let second = h.pause(segment);
    let sentence = "And so my fellow Americans, ask not what your country can do for you.";
    h.verdicts(second, sentence, 0.9, Some(0.95));
    assert_eq!(
        h.segments_ended(),
        vec![segment],
        "the listener ends the speech"
    );
    assert_eq!(h.turn_ends(), vec![TurnEndReason::Complete]);
    let asked = h.llm_requests();
    assert_eq!(asked.len(), 1, "one turn, one answer");
    assert_eq!(asked[0].last().unwrap().text, sentence);
    assert_eq!(
        h.final_asr_requests(),
        0,
        "the pause's transcript is the final one"
    );
    // The VAD's own end of that speech, later, changes nothing.
    h.input(Input::Heard(Heard::SpeechEnd {
        segment,
        last_speech_at: second,
        utterance: vec![0.1; 20_000],
    }));
    assert_eq!(h.final_asr_requests(), 0);
    assert_eq!(h.llm_requests().len(), 1);
    assert_eq!(h.core.state(), TurnState::Thinking);
}

#[test]
fn the_longest_pause_ends_the_turn_and_waits_for_the_transcript_under_way() {
    let mut h = Harness::connected();
    let segment = h.speech_starts();
    h.advance(800 * MS);
    let pause = h.pause(segment);
    let max = TurnRuleConfig::default().max_silence;
    h.advance(max - 200 * MS - MS);
    assert!(
        h.segments_ended().is_empty(),
        "not before the longest pause"
    );
    h.advance(2 * MS);
    assert_eq!(h.segments_ended(), vec![segment]);
    assert_eq!(h.turn_ends(), vec![TurnEndReason::MaxSilence]);
    assert!(
        h.llm_requests().is_empty(),
        "the transcript is not back yet"
    );
    h.input(Input::Transcript {
        kind: TranscriptKind::Pause(pause),
        result: Ok("Well".into()),
    });
    assert_eq!(h.llm_requests()[0].last().unwrap().text, "Well");
    assert_eq!(h.final_asr_requests(), 0);
}

#[test]
fn without_a_text_signal_sure_audio_ends_the_turn_at_once() {
    let mut h = Harness::connected();
    let segment = h.speech_starts();
    h.advance(800 * MS);
    let pause = h.pause(segment);
    // A remote LLM computes no end-of-turn probability.
    h.verdicts(pause, "What time is it?", 0.95, None);
    assert_eq!(h.turn_ends(), vec![TurnEndReason::AudioOnly]);
    assert_eq!(h.llm_requests()[0].last().unwrap().text, "What time is it?");
}

#[test]
fn the_vads_silence_still_ends_a_turn_the_detector_did_not() {
    let mut h = Harness::connected();
    let segment = h.speech_starts();
    h.advance(800 * MS);
    let pause = h.pause(segment);
    h.verdicts(pause, "Hmm", 0.3, Some(0.3));
    h.input(Input::Heard(Heard::SpeechEnd {
        segment,
        last_speech_at: pause,
        utterance: vec![0.1; 20_000],
    }));
    assert_eq!(h.turn_ends(), vec![TurnEndReason::Silence]);
    assert_eq!(h.final_asr_requests(), 1, "recognized afresh");
    // The detector forgot the pause: nothing more comes of it.
    h.advance(Duration::from_secs(3));
    assert!(h.segments_ended().is_empty());
    assert_eq!(h.turn_ends().len(), 1);
}

#[test]
fn with_the_silence_rule_pauses_are_not_judged() {
    let mut h = Harness::with(CoreSettings {
        turn: TurnRuleConfig::silence(600 * MS),
        ..settings()
    });
    let segment = h.speech_starts();
    h.advance(800 * MS);
    let pause = h.pause(segment);
    assert_eq!(h.judged(pause), (false, None));
    assert!(h.engine.iter().all(|r| !matches!(
        r,
        EngineRequest::Transcribe {
            kind: TranscriptKind::Pause(_),
            ..
        }
    )));
    h.advance(Duration::from_secs(3));
    assert!(h.segments_ended().is_empty());
}

#[test]
fn a_barge_in_is_a_new_turn_judged_with_the_interrupted_answer_in_its_history() {
    let (mut h, _epoch) = speaking();
    h.input(Input::Heard(Heard::VoiceOnset { at: h.now }));
    h.advance(260 * MS);
    let segment = h.speech_starts();
    assert!(h.engine.contains(&EngineRequest::CancelLlm));
    h.advance(1_000 * MS);
    let pause = h.pause(segment);
    h.verdicts(pause, "Wait, stop.", 0.8, Some(0.9));
    let (_, history) = h.judged(pause);
    let history = history.expect("the LLM is free again: it judges the words");
    let speakers: Vec<Speaker> = history.iter().map(|t| t.speaker).collect();
    assert_eq!(
        speakers,
        [Speaker::User, Speaker::Assistant, Speaker::User],
        "hello / the heard part of the answer / the barge-in"
    );
    assert_eq!(h.llm_requests().len(), 2, "the barge-in is answered");
}

#[test]
fn the_pause_judgement_is_timed_stage_by_stage_even_when_a_reply_comes_late() {
    let mut h = Harness::connected();
    let segment = h.speech_starts();
    h.advance(800 * MS);
    let pause = h.pause(segment); // the pause began 200 ms ago
    h.advance(40 * MS);
    h.input(Input::TurnAudio {
        pause,
        result: Ok(0.3),
    });
    h.advance(260 * MS);
    h.input(Input::Transcript {
        kind: TranscriptKind::Pause(pause),
        result: Ok("Well".into()),
    });
    // The longest pause ends the turn before the LLM's verdict is back.
    let max = TurnRuleConfig::default().max_silence;
    h.advance(max - 500 * MS);
    assert_eq!(h.turn_ends(), vec![TurnEndReason::MaxSilence]);
    h.advance(100 * MS);
    h.input(Input::TurnText {
        pause,
        probability: Some(0.1),
    });
    let stages: Vec<(&str, Duration)> = h
        .observed
        .iter()
        .filter_map(|(_, o)| match o {
            Observation::Stage { stage, elapsed }
                if stage.starts_with("turn_") || *stage == "endpoint" =>
            {
                Some((*stage, *elapsed))
            }
            _ => None,
        })
        .collect();
    let text_asked_after = 40 * MS + 260 * MS;
    assert_eq!(
        stages,
        vec![
            ("turn_audio", 40 * MS),
            ("turn_asr", 300 * MS),
            ("endpoint", max),
            ("turn_text", max - 200 * MS - text_asked_after + 100 * MS),
        ]
    );
}

// --- the preemptive answer at a pause still being judged (TURN_PREEMPTIVE_ANSWER) ------------

impl Harness {
    fn preemptive() -> Self {
        Self::with(CoreSettings {
            preemptive_answer: true,
            ..settings()
        })
    }

    /// The user speaks, pauses, and the models leave the pause open (both doubt the end);
    /// returns the segment and the pause.
    fn open_pause(&mut self, words: &str) -> (u32, Instant) {
        let segment = self.speech_starts();
        self.advance(1_000 * MS);
        let pause = self.pause(segment);
        self.verdicts(pause, words, 0.3, Some(0.1));
        assert!(self.turn_ends().is_empty(), "the pause stays open");
        (segment, pause)
    }

    fn llm_token(&mut self, epoch: u32, text: &str) {
        self.input(Input::Llm {
            epoch,
            event: Some(LlmEvent::Token(text.into())),
        });
    }

    fn preemptive_outcomes(&self) -> Vec<(bool, usize)> {
        self.observed
            .iter()
            .filter_map(|(_, o)| match o {
                Observation::Preemptive { used, tokens } => Some((*used, *tokens)),
                _ => None,
            })
            .collect()
    }

    fn cancels(&self) -> usize {
        self.engine
            .iter()
            .filter(|r| matches!(r, EngineRequest::CancelLlm))
            .count()
    }
}

#[test]
fn an_open_pause_is_answered_at_once_and_the_answer_is_used_when_the_turn_ends_there() {
    let mut h = Harness::preemptive();
    let (segment, _) = h.open_pause("He was not an ill disposed young man");
    let asked = h.llm_requests();
    assert_eq!(asked.len(), 1, "the answer is asked for during the pause");
    assert_eq!(
        asked[0].last().unwrap().text,
        "He was not an ill disposed young man"
    );
    let epoch = h.llm_epoch();
    // The answer streams in while the pause is open; its first clause is synthesized ahead,
    // and nothing is said yet.
    h.llm_token(epoch, "Then what was he, ");
    assert_eq!(h.synth_requests(), vec![(epoch, 0)]);
    h.llm_token(epoch, "in your view?");
    h.synthesized(epoch, 0, 10);
    assert!(h.voiced_packets().is_empty(), "unheard until the turn ends");
    assert_eq!(h.core.state(), TurnState::UserSpeaking);

    // The longest pause ends the turn with those words.
    h.advance(TurnRuleConfig::default().max_silence);
    assert_eq!(h.segments_ended(), vec![segment]);
    assert_eq!(h.llm_requests().len(), 1, "no second request");
    assert_eq!(h.preemptive_outcomes(), vec![(true, 2)]);
    assert_eq!(
        h.synth_requests(),
        vec![(epoch, 0)],
        "not synthesized twice"
    );
    let turn_end = h.observed.iter().find_map(|(at, o)| match o {
        Observation::TurnEnded(_) => Some(*at),
        _ => None,
    });
    let first_voiced = h.packets.iter().find(|p| p.2).map(|p| p.0);
    assert_eq!(
        first_voiced, turn_end,
        "the first clause goes out the moment the turn ends"
    );
    // The rest of the answer streams on as usual.
    h.llm_token(epoch, " Tell me.");
    h.llm_done(epoch);
    // "in your view?" and "Tell me."
    assert_eq!(h.synth_requests(), vec![(epoch, 0), (epoch, 1), (epoch, 2)]);
    assert_eq!(h.cancels(), 0);
}

#[test]
fn voice_coming_back_throws_the_preemptive_answer_away_and_the_sentence_is_answered_whole() {
    let mut h = Harness::preemptive();
    let (segment, _) = h.open_pause("And so my fellow Americans");
    let first = h.llm_epoch();
    h.llm_token(first, "Hello, fellow American! ");
    assert_eq!(h.synth_requests(), vec![(first, 0)], "synthesized ahead");
    h.input(Input::Heard(Heard::Resumed { segment }));
    assert_eq!(h.cancels(), 1, "its request is stopped");
    assert!(
        h.engine.contains(&EngineRequest::CancelSynthesis),
        "and its first clause's synthesis"
    );
    assert_eq!(h.preemptive_outcomes(), vec![(false, 1)]);
    // A late token of the stopped request is ignored.
    h.llm_token(first, " More.");
    assert_eq!(h.synth_requests().len(), 1);

    h.advance(2_000 * MS);
    let pause = h.pause(segment);
    let sentence = "And so my fellow Americans ask not what your country can do for you";
    h.verdicts(pause, sentence, 0.9, Some(0.95));
    let asked = h.llm_requests();
    assert_eq!(asked.len(), 2, "the whole sentence is asked for afresh");
    assert_eq!(asked[1].last().unwrap().text, sentence);
    assert_eq!(
        h.llm_epoch(),
        first,
        "the turn's epoch, as the discarded one had"
    );
    h.llm_token(first, "Ask what you can do. You");
    assert_eq!(h.synth_requests(), vec![(first, 0), (first, 0)]);
}

#[test]
fn other_final_words_never_get_the_preemptive_answer() {
    let mut h = Harness::preemptive();
    let (segment, pause) = h.open_pause("What is the capital of Spain");
    let epoch = h.llm_epoch();
    h.llm_token(epoch, "Madrid. It");
    // The VAD ends the turn on its own; the final transcript is recognized afresh and
    // differs from the pause's.
    h.input(Input::Heard(Heard::SpeechEnd {
        segment,
        last_speech_at: pause,
        utterance: vec![0.1; 20_000],
    }));
    h.input(Input::Transcript {
        kind: TranscriptKind::Final,
        result: Ok("What is the capital of France".into()),
    });
    let asked = h.llm_requests();
    assert_eq!(asked.len(), 2, "a new request replaces the preemptive one");
    assert_eq!(
        asked[1].last().unwrap().text,
        "What is the capital of France"
    );
    assert_eq!(h.preemptive_outcomes(), vec![(false, 1)]);
    assert!(
        h.engine.contains(&EngineRequest::CancelSynthesis),
        "'Madrid.' was being synthesized ahead: dropped"
    );
    h.llm_token(epoch, "Paris. It is");
    assert_eq!(h.synth_requests(), vec![(epoch, 0), (epoch, 0)]);
    assert!(
        matches!(h.engine.last(), Some(EngineRequest::Synthesize { text, .. }) if text == "Paris."),
        "the clause asked for is the new answer's"
    );
    assert!(h.voiced_packets().is_empty());
}

#[test]
fn a_barge_in_while_an_answer_is_held_throws_it_away() {
    // The assistant is still speaking the previous answer when the user talks over it.
    let (mut h, speaking_epoch) = speaking();
    h.core.settings.preemptive_answer = true;
    h.input(Input::Heard(Heard::VoiceOnset { at: h.now }));
    h.advance(260 * MS);
    let segment = h.speech_starts();
    let new_epoch = h.core.epoch();
    assert!(
        new_epoch > speaking_epoch,
        "the barge-in opened a new epoch"
    );
    h.advance(1_000 * MS);
    let pause = h.pause(segment);
    h.verdicts(pause, "Wait, what about", 0.3, Some(0.1));
    let held = h.llm_epoch();
    assert_eq!(held, new_epoch + 1, "the next turn's epoch");
    h.llm_token(held, "About what?");
    // A second voice starts a new segment before the pause ends the turn.
    h.input(Input::Heard(Heard::VoiceOnset { at: h.now }));
    h.advance(260 * MS);
    h.speech_starts();
    assert_eq!(h.preemptive_outcomes(), vec![(false, 1)]);
    assert!(h.synth_requests().iter().all(|(e, _)| *e != held));
}

#[test]
fn a_failed_preemptive_answer_is_asked_again_when_the_turn_ends() {
    let mut h = Harness::preemptive();
    let (_, _) = h.open_pause("Tell me a joke");
    let epoch = h.llm_epoch();
    h.input(Input::Llm {
        epoch,
        event: Some(LlmEvent::Error(crate::llm::LlmError::Busy { waiting: 5 })),
    });
    assert_eq!(h.preemptive_outcomes(), vec![(false, 0)]);
    assert_eq!(h.cancels(), 0, "nothing left running to stop");
    h.advance(TurnRuleConfig::default().max_silence);
    assert_eq!(h.llm_requests().len(), 2, "the turn asks again");
}

#[test]
fn a_first_clause_still_being_synthesized_at_the_turn_end_is_spoken_when_it_arrives() {
    let mut h = Harness::preemptive();
    h.open_pause("he was not an ill disposed young man");
    let epoch = h.llm_epoch();
    h.llm_token(epoch, "Then what was he, ");
    h.advance(TurnRuleConfig::default().max_silence);
    assert_eq!(h.preemptive_outcomes(), vec![(true, 1)]);
    assert_eq!(h.synth_requests(), vec![(epoch, 0)], "not asked again");
    assert!(h.voiced_packets().is_empty());
    h.advance(100 * MS);
    h.synthesized(epoch, 0, 10);
    assert!(
        !h.voiced_packets().is_empty(),
        "spoken as soon as it is back"
    );
}
