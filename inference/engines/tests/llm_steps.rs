//! The step API (SmolLM2, the small model): sequences stepped in turns or decoded in one batch
//! give exactly the tokens each gives alone, greedy and seeded; sequences join and leave the
//! batch at step boundaries; a cancelled sequence leaves at once and frees its slot; a full
//! table refuses; a released slot's old handle is refused.

mod llm_support;

use goassist_engines::llm::{
    ChatMessage, GenerationParams, LlmEngine, NoFreeSlot, PrefillProgress, SlotId, SlotState,
    StopReason,
};
use llm_support::{engine_with_slots, greedy, seeded};

/// What one sequence produced: the text pieces, why it stopped, and every token it fed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    pieces: Vec<String>,
    stop: StopReason,
    tokens: Vec<u32>,
}

fn question(i: usize) -> Vec<ChatMessage> {
    let questions = [
        // Long enough to need several prefill chunks.
        "I am planning a short trip to the seaside next weekend with two friends who love \
         swimming and long walks. What should we pack, and what should we do if it rains?",
        "Name three colours of the rainbow.",
        "What is the capital of France?",
        "Tell me something about cats.",
    ];
    vec![ChatMessage::user(questions[i])]
}

/// A sequence driven by hand: started, prefilled chunk by chunk, decoded step by step.
struct Driven {
    slot: SlotId,
    pieces: Vec<String>,
    stop: Option<StopReason>,
}

impl Driven {
    fn start(engine: &mut LlmEngine, messages: &[ChatMessage], params: GenerationParams) -> Self {
        let slot = engine.open_slot().expect("a free slot");
        engine.start_answer(slot, messages, &params).unwrap();
        Self {
            slot,
            pieces: Vec::new(),
            stop: None,
        }
    }

    /// One prefill chunk; true once the prompt is in.
    fn prefill(&mut self, engine: &mut LlmEngine) -> bool {
        match engine.prefill(self.slot).unwrap() {
            PrefillProgress::Pending { .. } => false,
            PrefillProgress::Answering(first) => {
                self.take(first);
                true
            }
            PrefillProgress::EndOfTurn(_) => panic!("not an open turn"),
        }
    }

    fn take(&mut self, emitted: goassist_engines::llm::Emitted) {
        assert!(self.stop.is_none(), "output after the end");
        self.pieces.push(emitted.text);
        self.stop = emitted.finished;
    }

    fn finish(self, engine: &mut LlmEngine) -> Outcome {
        assert_eq!(engine.slot_state(self.slot), Some(SlotState::Idle));
        let cached = engine.release_slot(self.slot).unwrap();
        Outcome {
            pieces: self.pieces,
            stop: self.stop.expect("finished"),
            tokens: cached.tokens().to_vec(),
        }
    }
}

/// A sequence alone, start to end, with no other slot in use. (Released sequences are not
/// shared through the prefix cache unless asked, so earlier runs on the engine change nothing.)
fn alone(engine: &mut LlmEngine, messages: &[ChatMessage], params: GenerationParams) -> Outcome {
    assert_eq!(engine.free_slots(), engine.slot_capacity());
    let mut seq = Driven::start(engine, messages, params);
    while !seq.prefill(engine) {}
    while seq.stop.is_none() {
        let mut out = engine.decode_step(&[seq.slot]).unwrap();
        assert_eq!(out.len(), 1);
        seq.take(out.remove(0));
    }
    seq.finish(engine)
}

/// Interleaved: prefill chunks and decode steps alternate between the sequences, one at a time.
fn interleaved(
    engine: &mut LlmEngine,
    questions: &[Vec<ChatMessage>],
    params: &[GenerationParams],
) -> Vec<Outcome> {
    let mut seqs: Vec<Driven> = questions
        .iter()
        .zip(params)
        .map(|(q, p)| Driven::start(engine, q, *p))
        .collect();
    let mut prefilled = vec![false; seqs.len()];
    while prefilled.iter().any(|p| !p) {
        for (seq, done) in seqs.iter_mut().zip(prefilled.iter_mut()) {
            if !*done {
                *done = seq.prefill(engine);
            }
        }
    }
    while seqs.iter().any(|s| s.stop.is_none()) {
        for seq in seqs.iter_mut().filter(|s| s.stop.is_none()) {
            let out = engine.decode_step(&[seq.slot]).unwrap().remove(0);
            seq.take(out);
        }
    }
    seqs.into_iter().map(|s| s.finish(engine)).collect()
}

/// Batched: after the prompts are in, every step decodes all unfinished sequences at once.
fn batched(
    engine: &mut LlmEngine,
    questions: &[Vec<ChatMessage>],
    params: &[GenerationParams],
) -> Vec<Outcome> {
    let mut seqs: Vec<Driven> = questions
        .iter()
        .zip(params)
        .map(|(q, p)| Driven::start(engine, q, *p))
        .collect();
    for seq in seqs.iter_mut() {
        while !seq.prefill(engine) {}
    }
    loop {
        let active: Vec<usize> = (0..seqs.len())
            .filter(|&i| seqs[i].stop.is_none())
            .collect();
        if active.is_empty() {
            break;
        }
        let slots: Vec<SlotId> = active.iter().map(|&i| seqs[i].slot).collect();
        assert_eq!(
            {
                let mut d = engine.decoding_slots();
                d.sort_by_key(SlotId::index);
                d
            },
            {
                let mut s = slots.clone();
                s.sort_by_key(SlotId::index);
                s
            },
            "exactly the unfinished sequences are answering"
        );
        let out = engine.decode_step(&slots).unwrap();
        assert_eq!(out.len(), slots.len());
        for (i, emitted) in active.into_iter().zip(out) {
            seqs[i].take(emitted);
        }
    }
    seqs.into_iter().map(|s| s.finish(engine)).collect()
}

#[test]
fn interleaved_stepping_gives_the_tokens_each_gives_alone() {
    let mut engine = engine_with_slots(2);
    let questions = [question(0), question(1)];
    let params = [greedy(20), seeded(20, 7)];
    let expected: Vec<Outcome> = questions
        .iter()
        .zip(params)
        .map(|(q, p)| alone(&mut engine, q, p))
        .collect();
    assert!(expected.iter().all(|o| o.pieces.len() > 2), "{expected:?}");
    assert_eq!(interleaved(&mut engine, &questions, &params), expected);
}

#[test]
fn a_batched_decode_step_gives_the_tokens_each_gives_alone() {
    let mut engine = engine_with_slots(4);
    let questions = [question(0), question(1), question(2), question(3)];
    // Different lengths, so sequences leave the batch at different steps.
    let params = [greedy(24), seeded(12, 3), greedy(6), seeded(18, 11)];
    let expected: Vec<Outcome> = questions
        .iter()
        .zip(params)
        .map(|(q, p)| alone(&mut engine, q, p))
        .collect();
    let got = batched(&mut engine, &questions, &params);
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(g, e, "sequence {i}");
    }
}

#[test]
fn sequences_join_and_leave_the_batch_at_step_boundaries() {
    let mut engine = engine_with_slots(2);
    let (qa, qb) = (question(3), question(0));
    let (pa, pb) = (greedy(16), seeded(10, 5));
    let (ea, eb) = (alone(&mut engine, &qa, pa), alone(&mut engine, &qb, pb));

    let mut a = Driven::start(&mut engine, &qa, pa);
    while !a.prefill(&mut engine) {}
    // A answers alone for a few steps.
    for _ in 0..3 {
        let out = engine.decode_step(&[a.slot]).unwrap().remove(0);
        a.take(out);
    }
    // B arrives: its prompt runs chunk by chunk between A's steps (A waits one chunk at most).
    let mut b = Driven::start(&mut engine, &qb, pb);
    assert_eq!(engine.decoding_slots(), vec![a.slot]);
    assert_eq!(engine.prefilling_slots(), vec![b.slot]);
    loop {
        let prompt_in = b.prefill(&mut engine);
        if a.stop.is_none() {
            let out = engine.decode_step(&[a.slot]).unwrap().remove(0);
            a.take(out);
        }
        if prompt_in {
            break;
        }
    }
    // Then both in one batch until each leaves.
    while a.stop.is_none() || b.stop.is_none() {
        let mut members: Vec<&mut Driven> = [&mut a, &mut b]
            .into_iter()
            .filter(|s| s.stop.is_none())
            .collect();
        let slots: Vec<SlotId> = members.iter().map(|s| s.slot).collect();
        let out = engine.decode_step(&slots).unwrap();
        for (seq, emitted) in members.iter_mut().zip(out) {
            seq.take(emitted);
        }
    }
    assert_eq!(a.finish(&mut engine), ea);
    assert_eq!(b.finish(&mut engine), eb);
}

#[test]
fn a_cancelled_sequence_leaves_at_once_and_frees_its_slot() {
    let mut engine = engine_with_slots(2);
    let (qa, qb) = (question(0), question(3));
    let pb = greedy(16);
    let eb = alone(&mut engine, &qb, pb);

    let mut a = Driven::start(&mut engine, &qa, greedy(200));
    let mut b = Driven::start(&mut engine, &qb, pb);
    while !a.prefill(&mut engine) {}
    while !b.prefill(&mut engine) {}
    assert_eq!(
        engine.open_slot(),
        Err(NoFreeSlot { capacity: 2 }),
        "a full table refuses"
    );
    for _ in 0..2 {
        let out = engine.decode_step(&[a.slot, b.slot]).unwrap();
        let mut out = out.into_iter();
        a.take(out.next().unwrap());
        b.take(out.next().unwrap());
    }
    // Barge-in on A: its slot is free at once, its handle dead.
    let computed = engine.computed_tokens(a.slot);
    let released = engine.release_slot(a.slot).unwrap();
    assert_eq!(released.len(), computed);
    assert_eq!(engine.free_slots(), 1);
    assert!(engine.slot_state(a.slot).is_none());
    assert!(engine.decode_step(&[a.slot, b.slot]).is_err());
    assert_eq!(engine.decoding_slots(), vec![b.slot]);

    // A newcomer gets the freed slot; the old handle still reaches nothing.
    let c = engine.open_slot().expect("the freed slot");
    assert_eq!(c.index(), a.slot.index());
    assert_ne!(c, a.slot);
    assert!(engine.release_slot(a.slot).is_err());
    assert_eq!(engine.slot_state(c), Some(SlotState::Idle));

    while b.stop.is_none() {
        let out = engine.decode_step(&[b.slot]).unwrap().remove(0);
        b.take(out);
    }
    assert_eq!(b.finish(&mut engine), eb, "B never noticed A leave");

    // Stopping (rather than releasing) leaves the slot idle with what it computed.
    let mut d = Driven::start(&mut engine, &qa, greedy(50));
    while !d.prefill(&mut engine) {}
    engine.stop(d.slot).unwrap();
    assert_eq!(engine.slot_state(d.slot), Some(SlotState::Idle));
    assert!(
        engine.decode_step(&[d.slot]).is_err(),
        "a stopped slot is not answering"
    );
}

#[test]
fn generate_is_the_same_steps_in_a_loop() {
    let mut engine = engine_with_slots(1);
    let q = question(2);
    let stepped = alone(&mut engine, &q, greedy(16));
    let mut text = String::new();
    let stats = engine
        .generate(&q, &greedy(16), &mut |piece: &str| {
            text.push_str(piece);
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(text, stepped.pieces.concat());
    assert_eq!(stats.stop, stepped.stop);
    assert_eq!(engine.free_slots(), 1, "generate gives its slot back");
}
