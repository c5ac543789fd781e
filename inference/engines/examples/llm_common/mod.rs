//! What the LLM benchmarks (`llm_bench`, `llm_engines`) share: the system prompt and the
//! conversation they compute (so their figures are of the same prompts), greedy sampling,
//! percentiles and the machine's description. `answer_eval` uses its load reading.

use goassist_engines::llm::ChatMessage;

pub const SYSTEM: &str = "You are GoAssist, a friendly voice assistant. Your answers are spoken \
aloud, so reply in one to three short, plain sentences, without lists, markdown, code or emoji.";

/// The conversation so far: a question answered, another answered.
pub fn earlier_turns() -> Vec<ChatMessage> {
    vec![
        ChatMessage::user("Hi there, can you help me plan a short trip to Paris next spring?"),
        ChatMessage::assistant(
            "Of course. Spring is a lovely time for Paris. How many days will you have, and \
             what do you enjoy most: museums, food, or walking around the old streets?",
        ),
        ChatMessage::user("Three days. I like food and walking, not so much museums."),
        ChatMessage::assistant(
            "Then spend a day in the Marais and around the islands, a day in Montmartre with \
             its cafes and markets, and a day along the canal Saint-Martin and the left bank.",
        ),
    ]
}

/// The conversation so far and the user's next question: the multi-turn prompt.
pub fn conversation() -> Vec<ChatMessage> {
    let mut turns = earlier_turns();
    turns.push(ChatMessage::user(
        "Which market would you pick for a Saturday morning?",
    ));
    turns
}

/// The most likely token: greedy sampling.
pub fn argmax(values: &[f32]) -> u32 {
    values
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i as u32)
}

/// The median and the 95th percentile of a set of runs.
pub struct Summary {
    pub median: f64,
    pub p95: f64,
}

pub fn summarize(mut values: Vec<f64>) -> Summary {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    Summary {
        median: at(0.5),
        p95: at(0.95),
    }
}

/// 1-minute load average.
pub fn load1() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// The CPU model and its hardware threads.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let threads = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {threads} hardware threads")
}
