//! Turn-taking, barge-in and epochs, driven in virtual time through the sans-IO machine.

use std::time::{Duration, Instant};

use goassist_inference::conversation::{
    ChatTurn, Command, Conversation, Input, Metric, Settings, Speaker,
};
use goassist_protocol::events::{ServerEvent, TurnState};

const MS: Duration = Duration::from_millis(1);

struct Harness {
    t0: Instant,
    now: Instant,
    c: Conversation,
}

impl Harness {
    fn new() -> Self {
        let t0 = Instant::now();
        Harness {
            t0,
            now: t0,
            c: Conversation::new(Settings::new(250 * MS)),
        }
    }
    fn at(&mut self, ms: u64) -> Instant {
        self.now = self.t0 + Duration::from_millis(ms);
        self.now
    }
    fn feed(&mut self, ms: u64, input: Input) -> Vec<Command> {
        let now = self.at(ms);
        self.c.handle(now, input);
        self.drain()
    }
    fn tick(&mut self, ms: u64) -> Vec<Command> {
        let now = self.at(ms);
        self.c.handle_timeout(now);
        self.drain()
    }
    fn drain(&mut self) -> Vec<Command> {
        std::iter::from_fn(|| self.c.poll()).collect()
    }
    /// A user utterance from `start` to `end` ms, answered by the ASR with `text`.
    fn user_says(&mut self, start: u64, end: u64, text: &str) -> Vec<Command> {
        let onset = self.t0 + Duration::from_millis(start);
        let mut out = self.feed(start + 250, Input::SpeechStart { onset_at: onset });
        let last = self.t0 + Duration::from_millis(end);
        out.extend(self.feed(
            end + 600,
            Input::SpeechEnd {
                last_speech_at: last,
            },
        ));
        assert!(out.contains(&Command::RunFinalAsr), "{out:?}");
        out.extend(self.feed(end + 700, Input::FinalTranscript(text.into())));
        out
    }
}

fn events(cmds: &[Command]) -> Vec<ServerEvent> {
    cmds.iter()
        .filter_map(|c| {
            if let Command::Event(e) = c {
                Some(e.clone())
            } else {
                None
            }
        })
        .collect()
}

fn states(cmds: &[Command]) -> Vec<TurnState> {
    events(cmds)
        .into_iter()
        .filter_map(|e| {
            if let ServerEvent::State { state, .. } = e {
                Some(state)
            } else {
                None
            }
        })
        .collect()
}

fn synths(cmds: &[Command]) -> Vec<(u32, usize, String)> {
    cmds.iter()
        .filter_map(|c| {
            if let Command::Synthesize {
                epoch,
                clause,
                text,
            } = c
            {
                Some((*epoch, *clause, text.clone()))
            } else {
                None
            }
        })
        .collect()
}

fn observed(cmds: &[Command], metric: Metric) -> Option<f64> {
    cmds.iter().find_map(|c| match c {
        Command::Observe { metric: m, seconds } if *m == metric => Some(*seconds),
        _ => None,
    })
}

fn start_epoch(cmds: &[Command]) -> u32 {
    cmds.iter()
        .find_map(|c| {
            if let Command::StartLlm { epoch, .. } = c {
                Some(*epoch)
            } else {
                None
            }
        })
        .expect("StartLlm")
}

#[test]
fn a_full_turn_measures_ttfa_and_records_the_answer() {
    let mut h = Harness::new();
    let out = h.user_says(1000, 3000, "what is the capital of france");
    assert_eq!(
        states(&out),
        vec![TurnState::UserSpeaking, TurnState::Thinking]
    );
    let epoch = start_epoch(&out);
    assert!(
        matches!(&out.last(), Some(Command::StartLlm { history, .. }) if history == &vec![ChatTurn { speaker: Speaker::User, text: "what is the capital of france".into() }])
    );

    let out = h.feed(
        3800,
        Input::LlmToken {
            epoch,
            text: "The capital of France".into(),
        },
    );
    assert!(synths(&out).is_empty(), "no clause boundary yet");
    let out = h.feed(
        3850,
        Input::LlmToken {
            epoch,
            text: " is Paris. It is".into(),
        },
    );
    assert_eq!(
        synths(&out),
        vec![(epoch, 0, "The capital of France is Paris.".to_string())]
    );
    let out = h.feed(
        3900,
        Input::LlmToken {
            epoch,
            text: " lovely.".into(),
        },
    );
    let mut all = synths(&out);
    all.extend(synths(&h.feed(3950, Input::LlmDone { epoch })));
    assert_eq!(all, vec![(epoch, 1, "It is lovely.".to_string())]);

    h.feed(
        4000,
        Input::ClauseQueued {
            epoch,
            clause: 0,
            samples: 1920,
            start_pos: 96_000,
        },
    );
    let out = h.feed(
        4010,
        Input::AudioSent {
            epoch,
            clause: 0,
            samples: 960,
            at: h.t0 + 4010 * MS,
        },
    );
    // The turn ended at 3600 (decision) and the last speech was at 3000.
    assert!((observed(&out, Metric::Ttfa).unwrap() - 0.410).abs() < 1e-9);
    assert!((observed(&out, Metric::VoiceToVoice).unwrap() - 1.010).abs() < 1e-9);
    assert_eq!(states(&out), vec![TurnState::Speaking]);
    assert!(events(&out).contains(&ServerEvent::AssistantText {
        text: "The capital of France is Paris.".into(),
        epoch,
        sample_pos: 96_000
    }));

    h.feed(
        4030,
        Input::AudioSent {
            epoch,
            clause: 0,
            samples: 960,
            at: h.t0 + 4030 * MS,
        },
    );
    h.feed(
        4040,
        Input::ClauseQueued {
            epoch,
            clause: 1,
            samples: 960,
            start_pos: 97_920,
        },
    );
    let out = h.feed(
        4050,
        Input::AudioSent {
            epoch,
            clause: 1,
            samples: 960,
            at: h.t0 + 4050 * MS,
        },
    );
    assert!(observed(&out, Metric::Ttfa).is_none(), "TTFA once per turn");
    let ev = events(&out);
    assert!(ev.contains(&ServerEvent::AssistantDone {
        text: "The capital of France is Paris. It is lovely.".into(),
        epoch
    }));
    assert_eq!(states(&out), vec![TurnState::Listening]);
    assert_eq!(h.c.history().len(), 2);
    assert_eq!(
        h.c.history()[1].text,
        "The capital of France is Paris. It is lovely."
    );
}

/// Plays one clause of `samples` and sends `sent` of them; returns the epoch.
fn speaking(h: &mut Harness, text: &str, samples: usize, sent: usize) -> u32 {
    let out = h.user_says(0, 1000, "tell me a story");
    let epoch = start_epoch(&out);
    h.feed(
        1800,
        Input::LlmToken {
            epoch,
            text: text.into(),
        },
    );
    h.feed(
        1850,
        Input::LlmToken {
            epoch,
            text: " And".into(),
        },
    );
    h.feed(
        1900,
        Input::ClauseQueued {
            epoch,
            clause: 0,
            samples,
            start_pos: 0,
        },
    );
    let mut at = 2000;
    let mut done = 0;
    while done < sent {
        h.feed(
            at,
            Input::AudioSent {
                epoch,
                clause: 0,
                samples: 960,
                at: h.t0 + Duration::from_millis(at),
            },
        );
        done += 960;
        at += 20;
    }
    assert_eq!(h.c.state(), TurnState::Speaking);
    epoch
}

#[test]
fn a_cough_pauses_the_assistant_and_resumes_it() {
    let mut h = Harness::new();
    let epoch = speaking(&mut h, "Once upon a time there was a fox.", 96_000, 9_600);
    let out = h.feed(
        2300,
        Input::VoiceOnset {
            at: h.t0 + 2290 * MS,
        },
    );
    assert_eq!(out, vec![Command::PauseAudio]);
    assert_eq!(
        h.feed(
            2320,
            Input::VoiceOnset {
                at: h.t0 + 2310 * MS
            }
        ),
        vec![],
        "one pause"
    );
    assert_eq!(h.c.poll_timeout(), Some(h.t0 + 2700 * MS));
    assert_eq!(h.tick(2690), vec![]);
    assert_eq!(h.tick(2700), vec![Command::ResumeAudio]);
    assert_eq!(h.c.epoch(), epoch, "no interruption");
    assert_eq!(h.c.state(), TurnState::Speaking);
}

#[test]
fn barge_in_interrupts_bumps_the_epoch_and_keeps_only_what_was_heard() {
    let mut h = Harness::new();
    // 10 words, 96,000 samples; 38,400 sent = 40 % = 4 words heard.
    let epoch = speaking(
        &mut h,
        "One two three four five six seven eight nine ten.",
        96_000,
        38_400,
    );
    let onset = h.t0 + 2900 * MS;
    assert_eq!(
        h.feed(2910, Input::VoiceOnset { at: onset }),
        vec![Command::PauseAudio]
    );
    let out = h.feed(3160, Input::SpeechStart { onset_at: onset });
    let new_epoch = epoch + 1;
    assert!(out.contains(&Command::Interrupt { new_epoch }));
    assert!(out.contains(&Command::CancelLlm));
    assert!(events(&out).contains(&ServerEvent::Interrupted {
        epoch,
        heard_text: "One two three four".into()
    }));
    // Audio stopped when it paused (10 ms after the onset arrived), not when speech was confirmed.
    assert!((observed(&out, Metric::BargeIn).unwrap() - 0.010).abs() < 1e-9);
    assert_eq!(states(&out), vec![TurnState::UserSpeaking]);
    assert_eq!(
        h.c.history().last().unwrap(),
        &ChatTurn {
            speaker: Speaker::Assistant,
            text: "One two three four".into()
        }
    );

    // Anything of the old epoch that still arrives is ignored.
    let late = [
        Input::LlmToken {
            epoch,
            text: " more words.".into(),
        },
        Input::AudioSent {
            epoch,
            clause: 0,
            samples: 960,
            at: h.t0 + 3200 * MS,
        },
        Input::ClauseQueued {
            epoch,
            clause: 1,
            samples: 960,
            start_pos: 0,
        },
        Input::LlmDone { epoch },
    ];
    for input in late {
        assert_eq!(h.feed(3200, input), vec![]);
    }
    assert_eq!(
        h.c.poll_timeout(),
        None,
        "no pending resume after an interruption"
    );

    // The next turn answers with the truncated history and a fresh epoch.
    let out = h.feed(
        4000,
        Input::SpeechEnd {
            last_speech_at: h.t0 + 3400 * MS,
        },
    );
    assert!(out.contains(&Command::RunFinalAsr));
    let out = h.feed(4100, Input::FinalTranscript("stop, tell me another".into()));
    let next = start_epoch(&out);
    assert_eq!(next, new_epoch + 1);
    let Some(Command::StartLlm { history, .. }) =
        out.iter().find(|c| matches!(c, Command::StartLlm { .. }))
    else {
        panic!()
    };
    assert_eq!(
        history.iter().map(|t| t.text.as_str()).collect::<Vec<_>>(),
        vec![
            "tell me a story",
            "One two three four",
            "stop, tell me another"
        ]
    );
}

#[test]
fn interrupting_before_any_audio_merges_the_user_lines() {
    let mut h = Harness::new();
    let out = h.user_says(0, 1000, "what time");
    let epoch = start_epoch(&out);
    let out = h.feed(
        1900,
        Input::SpeechStart {
            onset_at: h.t0 + 1650 * MS,
        },
    );
    assert!(out.contains(&Command::Interrupt {
        new_epoch: epoch + 1
    }));
    assert!(
        observed(&out, Metric::BargeIn).is_none(),
        "nothing was playing"
    );
    assert!(events(&out).contains(&ServerEvent::Interrupted {
        epoch,
        heard_text: String::new()
    }));
    h.feed(
        3000,
        Input::SpeechEnd {
            last_speech_at: h.t0 + 2400 * MS,
        },
    );
    let out = h.feed(3100, Input::FinalTranscript("is it in tokyo".into()));
    let Some(Command::StartLlm { history, .. }) =
        out.iter().find(|c| matches!(c, Command::StartLlm { .. }))
    else {
        panic!("{out:?}")
    };
    assert_eq!(
        history,
        &vec![ChatTurn {
            speaker: Speaker::User,
            text: "what time is it in tokyo".into()
        }]
    );
}

#[test]
fn llm_failure_speaks_the_unavailable_line_and_keeps_it_out_of_history() {
    let mut h = Harness::new();
    let out = h.user_says(0, 1000, "hello");
    let epoch = start_epoch(&out);
    let out = h.feed(
        1700,
        Input::LlmFailed {
            epoch,
            reason: "connection refused".into(),
        },
    );
    assert!(events(&out).contains(&ServerEvent::Error {
        code: "llm_unavailable".into(),
        message: "connection refused".into()
    }));
    let s = synths(&out);
    assert_eq!(s.len(), 1);
    assert!(s[0].2.contains("unavailable"), "{s:?}");
    h.feed(
        1800,
        Input::ClauseQueued {
            epoch,
            clause: 0,
            samples: 960,
            start_pos: 0,
        },
    );
    let out = h.feed(
        1820,
        Input::AudioSent {
            epoch,
            clause: 0,
            samples: 960,
            at: h.t0 + 1820 * MS,
        },
    );
    assert!(
        events(&out)
            .iter()
            .any(|e| matches!(e, ServerEvent::AssistantDone { .. }))
    );
    assert_eq!(
        h.c.history(),
        &[ChatTurn {
            speaker: Speaker::User,
            text: "hello".into()
        }]
    );
    assert_eq!(h.c.state(), TurnState::Listening);
}

#[test]
fn an_answer_broken_off_by_an_llm_failure_ends_with_an_ellipsis_in_the_transcript() {
    let mut h = Harness::new();
    let out = h.user_says(0, 1000, "tell me a story");
    let epoch = start_epoch(&out);
    // No punctuation: the splitter cuts the first clause at its word limit.
    let mut clauses = synths(
        &h.feed(
            1500,
            Input::LlmToken {
                epoch,
                text: "once upon a time there lived a young man in a small village by the sea who "
                    .into(),
            },
        ),
    );
    assert!(!clauses.is_empty(), "the first clause was not cut");
    clauses.extend(synths(&h.feed(
        1700,
        Input::LlmFailed {
            epoch,
            reason: "engine crashed".into(),
        },
    )));
    let mut done = None;
    for (n, (_, clause, _)) in clauses.iter().enumerate() {
        let at = 1800 + 20 * n as u64;
        h.feed(
            at,
            Input::ClauseQueued {
                epoch,
                clause: *clause,
                samples: 960,
                start_pos: 0,
            },
        );
        let out = h.feed(
            at + 10,
            Input::AudioSent {
                epoch,
                clause: *clause,
                samples: 960,
                at: h.t0 + Duration::from_millis(at + 10),
            },
        );
        done = events(&out).into_iter().find_map(|e| match e {
            ServerEvent::AssistantDone { text, .. } => Some(text),
            _ => None,
        });
    }
    let text = done.expect("the answer finished");
    let line = Settings::new(250 * MS).unavailable_line;
    let (said, after) = text.split_at(text.len() - line.len());
    assert_eq!(after, line, "{text}");
    assert!(
        said.ends_with("\u{2026} "),
        "no mark where the answer broke off: {text}"
    );
}

#[test]
fn silence_transcribed_as_nothing_goes_back_to_listening() {
    let mut h = Harness::new();
    let out = h.user_says(0, 400, "   ");
    assert!(!out.iter().any(|c| matches!(c, Command::StartLlm { .. })));
    assert_eq!(h.c.state(), TurnState::Listening);
    assert!(h.c.history().is_empty());
}

#[test]
fn a_failed_clause_is_skipped_and_the_turn_still_ends() {
    let mut h = Harness::new();
    let epoch = start_epoch(&h.user_says(0, 1000, "hi"));
    h.feed(
        1500,
        Input::LlmToken {
            epoch,
            text: "Hello there. How are you?".into(),
        },
    );
    h.feed(1510, Input::LlmDone { epoch });
    h.feed(1520, Input::ClauseFailed { epoch, clause: 0 });
    h.feed(
        1530,
        Input::ClauseQueued {
            epoch,
            clause: 1,
            samples: 960,
            start_pos: 0,
        },
    );
    let out = h.feed(
        1540,
        Input::AudioSent {
            epoch,
            clause: 1,
            samples: 960,
            at: h.t0 + 1540 * MS,
        },
    );
    assert!(
        events(&out)
            .iter()
            .any(|e| matches!(e, ServerEvent::AssistantDone { .. }))
    );
}

#[test]
fn typed_text_interrupts_and_starts_a_turn() {
    let mut h = Harness::new();
    let epoch = speaking(&mut h, "A long answer that goes on and on.", 96_000, 960);
    let out = h.feed(2500, Input::UserText("never mind".into()));
    assert!(out.contains(&Command::Interrupt {
        new_epoch: epoch + 1
    }));
    assert_eq!(start_epoch(&out), epoch + 2);
    assert_eq!(h.c.state(), TurnState::Thinking);
}
