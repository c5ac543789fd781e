//! "Think before the turn ends" at the engine (SmolLM2): a slot computes the user's turn while
//! it is still being said, reports how likely it is to end there, and the answer to the final
//! turn reuses the common prefix and rolls back the rest, answering exactly what a cold start
//! would (greedy), never words the user did not say.

mod llm_support;

use goassist_engines::llm::{
    ChatMessage, GenerationParams, LlmEngine, PrefillProgress, SlotId, SlotState, Started,
    StopReason,
};
use llm_support::{cold_engine, engine_with_slots, greedy};

const MAX_NEW: usize = 20;

fn history() -> Vec<ChatMessage> {
    vec![
        ChatMessage::user("Hi! I have a few questions about geography."),
        ChatMessage::assistant("Of course, ask away."),
    ]
}

fn turn(user: &str) -> Vec<ChatMessage> {
    let mut messages = history();
    messages.push(ChatMessage::user(user));
    messages
}

/// Computes an open turn to the end; returns how it started and the end-of-turn probability.
fn open_turn(engine: &mut LlmEngine, slot: SlotId, partial: &str) -> (Started, f32) {
    let started = engine
        .start_open_turn(slot, &turn(partial), MAX_NEW)
        .unwrap();
    loop {
        match engine.prefill(slot).unwrap() {
            PrefillProgress::Pending { .. } => {}
            PrefillProgress::EndOfTurn(p) => {
                assert_eq!(engine.slot_state(slot), Some(SlotState::Idle));
                return (started, p);
            }
            PrefillProgress::Answering(_) => panic!("an open turn does not answer"),
        }
    }
}

/// Answers on `slot` to the end: how it started, the text, and every token it fed.
fn answer(
    engine: &mut LlmEngine,
    slot: SlotId,
    messages: &[ChatMessage],
    params: GenerationParams,
) -> (Started, String, StopReason) {
    let started = engine.start_answer(slot, messages, &params).unwrap();
    let mut text = String::new();
    let mut emitted = loop {
        match engine.prefill(slot).unwrap() {
            PrefillProgress::Pending { .. } => {}
            PrefillProgress::Answering(first) => break first,
            PrefillProgress::EndOfTurn(_) => panic!("an answer was asked"),
        }
    };
    loop {
        text.push_str(&emitted.text);
        if let Some(stop) = emitted.finished {
            return (started, text, stop);
        }
        emitted = engine.decode_step(&[slot]).unwrap().remove(0);
    }
}

/// The reference: a cold engine (nothing cached) answering the final turn.
fn cold(final_turn: &str) -> (String, Vec<u32>) {
    let mut engine = cold_engine();
    let slot = engine.open_slot().unwrap();
    let (started, text, _) = answer(&mut engine, slot, &turn(final_turn), greedy(MAX_NEW));
    assert_eq!(started.reused_tokens, 0);
    let tokens = engine.release_slot(slot).unwrap().tokens().to_vec();
    (text, tokens)
}

#[test]
fn a_partial_that_is_extended_leaves_only_the_end_to_compute() {
    let mut engine = engine_with_slots(1);
    let slot = engine.open_slot().unwrap();
    let (first, p_cut) = open_turn(&mut engine, slot, "What is the capital");
    let held = engine.computed_tokens(slot);
    let (second, p_done) = open_turn(&mut engine, slot, "What is the capital of France?");
    // The extension only computed what was new (the last word may be re-split).
    assert!(
        second.reused_tokens + 2 >= held,
        "reused {} of {held}",
        second.reused_tokens
    );
    assert!(second.discarded_tokens <= 2, "{second:?}");
    assert!(first.prompt_tokens < second.prompt_tokens);
    assert!((0.0..=1.0).contains(&p_cut) && (0.0..=1.0).contains(&p_done));
    assert!(
        p_done > p_cut,
        "a finished question ends the turn more likely than a cut one: {p_done} vs {p_cut}"
    );

    let computed = engine.computed_tokens(slot);
    let (started, text, _) = answer(
        &mut engine,
        slot,
        &turn("What is the capital of France?"),
        greedy(MAX_NEW),
    );
    assert_eq!(started.discarded_tokens, 0, "{started:?}");
    assert_eq!(started.reused_tokens, computed);
    assert!(
        started.prompt_tokens - started.reused_tokens <= 6,
        "only the end-of-turn tag and the assistant header are left: {started:?}"
    );
    let (cold_text, cold_tokens) = cold("What is the capital of France?");
    assert_eq!(text, cold_text);
    assert_eq!(engine.release_slot(slot).unwrap().tokens(), cold_tokens);
}

#[test]
fn a_partial_that_changes_is_rolled_back_to_the_common_prefix() {
    let mut engine = engine_with_slots(1);
    let slot = engine.open_slot().unwrap();
    open_turn(&mut engine, slot, "What is the capital of Spain");
    let held = engine.computed_tokens(slot);
    let final_turn = "What is the capital of France?";
    let (started, text, _) = answer(&mut engine, slot, &turn(final_turn), greedy(MAX_NEW));
    assert!(started.discarded_tokens >= 1, "{started:?}");
    assert_eq!(started.reused_tokens + started.discarded_tokens, held);
    let (cold_text, cold_tokens) = cold(final_turn);
    assert_eq!(text, cold_text, "never an answer to the unsaid 'Spain'");
    assert!(!text.contains("Madrid"), "{text}");
    assert_eq!(engine.release_slot(slot).unwrap().tokens(), cold_tokens);
}

#[test]
fn a_partial_that_is_retracted_leaves_no_trace_in_the_next_answer() {
    let mut engine = engine_with_slots(1);
    let slot = engine.open_slot().unwrap();
    // The conversation so far is computed, then a partial ("a cough" the ASR heard as words).
    let (base, _) = open_turn(&mut engine, slot, "Uh");
    open_turn(&mut engine, slot, "Uh, tell me a joke about");
    let held = engine.computed_tokens(slot);
    // The final transcript says something else entirely.
    let final_turn = "Which river flows through Paris?";
    let (started, text, _) = answer(&mut engine, slot, &turn(final_turn), greedy(MAX_NEW));
    // Everything after the conversation (the retracted words) was thrown away.
    assert!(started.reused_tokens < base.prompt_tokens, "{started:?}");
    assert_eq!(started.reused_tokens + started.discarded_tokens, held);
    let (cold_text, cold_tokens) = cold(final_turn);
    assert_eq!(text, cold_text);
    assert_eq!(engine.release_slot(slot).unwrap().tokens(), cold_tokens);
}

#[test]
fn an_answer_during_speculation_takes_over_the_slot() {
    let mut engine = engine_with_slots(1);
    let slot = engine.open_slot().unwrap();
    // A long partial, cut off after one chunk: the turn ended while it was computed.
    let long = "I would like to know, if you do not mind me asking, which of the great rivers of \
                Europe is the longest, and through how many countries it flows before it \
                reaches the sea";
    engine.start_open_turn(slot, &turn(long), MAX_NEW).unwrap();
    assert!(matches!(
        engine.prefill(slot).unwrap(),
        PrefillProgress::Pending { .. }
    ));
    let computed = engine.computed_tokens(slot);
    assert!(computed > 0);
    // Barge-in style stop: idle at once, the computed part kept.
    engine.stop(slot).unwrap();
    assert_eq!(engine.slot_state(slot), Some(SlotState::Idle));
    assert_eq!(engine.computed_tokens(slot), computed);

    let final_turn = format!("{long}?");
    let (started, text, _) = answer(&mut engine, slot, &turn(&final_turn), greedy(MAX_NEW));
    assert!(started.reused_tokens + 2 >= computed, "{started:?}");
    let (cold_text, cold_tokens) = cold(&final_turn);
    assert_eq!(text, cold_text);
    assert_eq!(engine.release_slot(slot).unwrap().tokens(), cold_tokens);
}

#[test]
fn a_released_conversation_resumes_in_another_slot() {
    let mut engine = engine_with_slots(2);
    let first = engine.open_slot().unwrap();
    open_turn(&mut engine, first, "What is the capital of France?");
    let kept = engine.release_slot(first).unwrap();
    // The next turn runs in whatever slot is free.
    let _other = engine.open_slot().unwrap();
    let slot = engine.open_slot().unwrap();
    engine.restore(slot, kept.clone()).unwrap();
    let (started, text, _) = answer(
        &mut engine,
        slot,
        &turn("What is the capital of France?"),
        greedy(MAX_NEW),
    );
    assert_eq!(started.reused_tokens, kept.len());
    assert_eq!(text, cold("What is the capital of France?").0);
    // An open turn needs the user's message last.
    let bad = [ChatMessage::user("hi"), ChatMessage::assistant("hello")];
    assert!(engine.start_open_turn(slot, &bad, MAX_NEW).is_err());
}
