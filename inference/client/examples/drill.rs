//! Recovery drills over real WebRTC (docs/runbook.md §11): drives a running
//! `goassist-inference` through one failure as a user and an operator would see it, prints one
//! `PASS:` or `FAIL:` line per check and exits 1 when any failed. The scripts in
//! `scripts/drills/` start the server (and the llama.cpp server) and run these.
//!
//! ```text
//! drill llm-crash         --url U --token LEAD
//! drill llm-remote-killed --url U --llm-pid PID --llm-pidfile FILE -- RESTART COMMAND...
//! drill sigterm-drain     --url U --server-pid PID --drain-timeout-s S
//! drill client-vanishes   --url U --reap-limit-s S
//! ```
//!
//! - `llm-crash`: mid-answer, the fault switch (`POST /admin/faults/llm-crash`) crashes the local
//!   engine. The user hears the spoken "unavailable" line (an `error` event `llm_unavailable`, an
//!   `assistant_text` with the line, its audio after the crash); `/readyz` 503 with the LLM
//!   `failed`; a new session is refused 503 `not_ready`; the server recovers by itself
//!   (`/readyz` 200), `goassist_restarts_total{component="llm"}` counts one restart, and the same
//!   session's next question is answered.
//! - `llm-remote-killed`: the same with `LLM_BASE_URL`: the drill SIGKILLs the llama.cpp server
//!   mid-answer, checks the outage, then starts it again on the same port (the trailing
//!   command; its pid goes to `--llm-pidfile`) and checks that GoAssist heals without a restart.
//! - `sigterm-drain`: session A mid-answer, session B idle; SIGTERM to the server. New sessions
//!   are refused 503 `draining`, A's answer plays to its end and A leaves, B stays until the
//!   drain deadline and is then cancelled, and the server stops serving (the script checks
//!   exit code 0 and the session end reasons in the log).
//! - `client-vanishes`: the client disappears mid-answer (its peer stops, no DELETE). The
//!   server reaps the session within the limit, frees the LLM sequence, the session slot and
//!   the UDP port (the scripts give it one slot and one port), and a new session is served.

mod support;

use std::collections::BTreeMap;
use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

use goassist_client::{ClientError, Recording, VoiceClient};
use goassist_inference::conversation::machine::UNAVAILABLE_LINE;
use serde_json::Value;
use support::turns::{VOICED, level, voiced_after};
use support::{http_request, scrape, utterance};

/// Audio clock of the session (RTP timestamps of received audio).
const RATE: u32 = 48_000;
/// How long a question may take to be answered on a loaded 2-core CPU host.
const ANSWER_LIMIT: Duration = Duration::from_secs(150);

/// The checks of one drill: each prints PASS or FAIL as it is made.
struct Report {
    drill: &'static str,
    started: Instant,
    checks: usize,
    failed: Vec<String>,
}

impl Report {
    fn new(drill: &'static str) -> Self {
        println!("== drill {drill}");
        Report {
            drill,
            started: Instant::now(),
            checks: 0,
            failed: Vec::new(),
        }
    }

    /// Records one check; returns `ok`.
    fn check(&mut self, ok: bool, what: &str, detail: impl Display) -> bool {
        self.checks += 1;
        let at = self.started.elapsed().as_secs_f64();
        if ok {
            println!("PASS: {what} ({detail}) [+{at:.1}s]");
        } else {
            println!("FAIL: {what} ({detail}) [+{at:.1}s]");
            self.failed.push(what.to_string());
        }
        ok
    }

    /// Says what happens next (no verdict).
    fn step(&self, what: impl Display) {
        println!(
            "  .. {what} [+{:.1}s]",
            self.started.elapsed().as_secs_f64()
        );
    }

    /// Prints the verdict and exits: 0 when every check passed.
    fn finish(self) -> ! {
        let took = self.started.elapsed().as_secs_f64();
        if self.failed.is_empty() {
            println!(
                "PASS: drill {}: {} checks in {took:.0} s",
                self.drill, self.checks
            );
            std::process::exit(0);
        }
        println!(
            "FAIL: drill {}: {} of {} checks failed in {took:.0} s: {}",
            self.drill,
            self.failed.len(),
            self.checks,
            self.failed.join("; ")
        );
        std::process::exit(1);
    }

    /// A check that must pass for the drill to go on.
    fn require(self, ok: bool, what: &str, detail: impl Display) -> Self {
        let mut report = self;
        if !report.check(ok, what, detail) {
            report.finish();
        }
        report
    }
}

/// Polls `probe` every `every` until it returns `Some`, or `limit` passes.
async fn poll<T, F, Fut>(limit: Duration, every: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = probe().await {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(every).await;
    }
}

/// `/readyz`: status and parsed body.
async fn readyz(url: &str) -> Option<(u16, Value)> {
    let (status, body) = http_request("GET", url, "/readyz", None, "").await?;
    Some((status, serde_json::from_str(&body).unwrap_or(Value::Null)))
}

/// Whether `/readyz` answers 200 within `limit` (polled every 100 ms).
async fn ready_within(url: &str, limit: Duration) -> bool {
    poll(limit, Duration::from_millis(100), || async {
        readyz(url).await.filter(|(s, _)| *s == 200)
    })
    .await
    .is_some()
}

/// One series of `/metrics` (0 when absent).
fn series(metrics: &BTreeMap<String, f64>, name: &str) -> f64 {
    metrics.get(name).copied().unwrap_or(0.0)
}

const LLM_RESTARTS: &str = "goassist_restarts_total{component=\"llm\"}";
const LLM_IN_FLIGHT: &str = "goassist_llm_queue_depth";
const LLM_SLOTS: &str = "goassist_engine_slots_active{engine=\"llm\"}";
const SESSIONS: &str = "goassist_sessions_active";

/// The server's events, parsed, with their arrival times.
fn events(r: &Recording) -> Vec<(Instant, Value)> {
    r.events
        .iter()
        .filter_map(|m| Some((m.at, serde_json::from_str(&m.data).ok()?)))
        .collect()
}

/// Events of `kind` that arrived after `after`.
fn events_after(r: &Recording, kind: &str, after: Instant) -> Vec<(Instant, Value)> {
    events(r)
        .into_iter()
        .filter(|(at, e)| *at > after && e["type"] == kind)
        .collect()
}

/// Seconds of voiced audio received after `after` whose RTP position is at or past `from`
/// (a position on the server's 48 kHz clock, as `assistant_text.sample_pos` gives it).
fn voiced_seconds_from(r: &Recording, from: u64, after: Instant) -> f64 {
    let from = from as u32; // RTP timestamps are the position mod 2^32
    r.audio
        .iter()
        .filter(|a| a.at > after && a.rtp_timestamp.wrapping_sub(from) < RATE * 600)
        .filter(|a| level(&a.samples_48k) > VOICED)
        .map(|a| a.samples_48k.len() as f64 / f64::from(RATE))
        .sum()
}

/// Speaks `question` (then a second and a half of silence, so the turn ends); returns when
/// the last of it went out.
async fn ask(client: &VoiceClient, question: &[f32]) -> Instant {
    let (_, end) = client.send_audio_48k(question.to_vec());
    client.send_audio_48k(vec![0.0; RATE as usize * 3 / 2]);
    client.wait_sent(end, Duration::from_secs(60)).await;
    Instant::now()
}

/// Waits for the first voiced assistant audio after `asked`; returns when it arrived.
async fn first_audio(client: &VoiceClient, asked: Instant) -> Option<Instant> {
    let mut at = None;
    client
        .wait_for(ANSWER_LIMIT, |r| {
            at = r
                .audio
                .iter()
                .find(|a| a.at > asked && level(&a.samples_48k) > VOICED)
                .map(|a| a.at);
            at.is_some()
        })
        .await;
    at
}

/// Waits for the first event of `kind` after `after`.
async fn next_event(
    client: &VoiceClient,
    kind: &str,
    after: Instant,
    limit: Duration,
) -> Option<(Instant, Value)> {
    let mut found = None;
    client
        .wait_for(limit, |r| {
            found = events_after(r, kind, after).into_iter().next();
            found.is_some()
        })
        .await;
    found
}

/// After a failed check: what the client received and the server's engine gauges, for the
/// report.
async fn diagnose(url: &str, client: &VoiceClient, since: Instant) {
    let (kinds, voiced) = client.inspect(|r| {
        let kinds: Vec<String> = events(r)
            .into_iter()
            .filter(|(at, _)| *at > since)
            .map(|(_, e)| match e["type"].as_str() {
                Some("state") => format!("state:{}", e["state"].as_str().unwrap_or("?")),
                Some(kind) => kind.to_string(),
                None => "?".into(),
            })
            .collect();
        (kinds, voiced_after(r, since))
    });
    println!("  .. events since: {}", kinds.join(" "));
    println!("  .. voiced audio since: {voiced}");
    let m = scrape(url).await;
    let gauges: Vec<String> = m
        .iter()
        .filter(|(k, _)| {
            k.starts_with("goassist_engine_queue_depth")
                || k.starts_with("goassist_engine_slots_active")
                || k.starts_with("goassist_llm_queue_depth")
                || k.starts_with("goassist_sessions_active")
        })
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!("  .. server gauges: {}", gauges.join(", "));
}

/// Tries to open one more session: `Ok(())` when admitted (it is closed again at once),
/// `Err((status, body))` when refused.
async fn try_new_session(url: &str) -> Result<(), (u16, String)> {
    match VoiceClient::connect(&format!("{url}/v1/sessions")).await {
        Ok(client) => {
            let _ = client.close().await;
            Ok(())
        }
        Err(ClientError::Rejected { status, body }) => Err((status, body)),
        Err(other) => Err((0, other.to_string())),
    }
}

/// Checks that a new session is refused with 503 and `code`.
async fn check_refused(report: &mut Report, url: &str, code: &str, why: &str) {
    match try_new_session(url).await {
        Err((503, body)) => {
            let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            report.check(
                parsed["error"]["code"] == code,
                &format!("a new session is refused {why}"),
                format!("503 {body}"),
            );
        }
        Err((status, body)) => {
            report.check(
                false,
                &format!("a new session is refused {why}"),
                format!("{status} {body}"),
            );
        }
        Ok(()) => {
            report.check(
                false,
                &format!("a new session is refused {why}"),
                "it was admitted",
            );
        }
    }
}

/// Sends `signal` (`-KILL`, `-TERM`) to `pid` with kill(1).
fn kill(signal: &str, pid: u32) -> bool {
    std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}

/// The recorded question every drill asks ("He was not an ill disposed young man.").
fn question() -> Vec<f32> {
    let models =
        std::path::PathBuf::from(std::env::var("MODELS_DIR").unwrap_or_else(|_| "models".into()));
    utterance(
        &models,
        "librivox/sense_and_sensibility_01_austen_64kb-0880.wav",
    )
}

async fn connect(report: Report, url: &str, who: &str) -> (Report, VoiceClient) {
    match VoiceClient::connect(&format!("{url}/v1/sessions")).await {
        Ok(client) => {
            let report = report.require(true, &format!("{who} connects over WebRTC"), "201");
            (report, client)
        }
        Err(e) => {
            let mut report = report;
            report.check(false, &format!("{who} connects over WebRTC"), e);
            report.finish();
        }
    }
}

/// How the LLM is made to fail mid-answer.
enum Fault {
    /// The admin fault switch crashes the local engine.
    Switch { token: String },
    /// The remote server is SIGKILLed, later started again with `restart`.
    KillRemote {
        pid: u32,
        pidfile: Option<String>,
        restart: Vec<String>,
    },
}

/// `llm-crash` and `llm-remote-killed`.
async fn llm_down(url: &str, fault: Fault) -> ! {
    let name = match fault {
        Fault::Switch { .. } => "llm-crash",
        Fault::KillRemote { .. } => "llm-remote-killed",
    };
    let report = Report::new(name);
    let ready = readyz(url).await;
    let report = report.require(
        ready.as_ref().is_some_and(|(s, _)| *s == 200),
        "the server is ready before the fault",
        ready.map_or("no answer".into(), |(status, _)| status.to_string()),
    );
    let before = scrape(url).await;
    let question = question();
    let (report, client) = connect(report, url, "a user").await;
    // The fault must land while the answer is being generated. A short answer can be
    // complete before its first audio is heard (the engine outruns speech synthesis), so the
    // drill watches the LLM's in-flight gauge from the moment the question is sent, not the
    // audio.
    client.send_audio_48k(question.clone());
    client.send_audio_48k(vec![0.0; RATE as usize * 3 / 2]);
    report.step("asked a question; waiting for the answer to be generated");
    let generating = poll(ANSWER_LIMIT, Duration::from_millis(10), || async {
        let in_flight = series(&scrape(url).await, LLM_IN_FLIGHT);
        (in_flight >= 1.0).then_some(in_flight)
    })
    .await;
    let mut report = report.require(
        generating.is_some(),
        "the assistant starts generating an answer",
        generating.map_or("never in flight".into(), |n| format!("{LLM_IN_FLIGHT} {n}")),
    );

    // The fault, mid-answer.
    let faulted_at = Instant::now();
    match &fault {
        Fault::Switch { token } => {
            let reply = http_request("POST", url, "/admin/faults/llm-crash", Some(token), "").await;
            let (status, body) = reply.unwrap_or((0, "no answer".into()));
            let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            report.check(
                status == 202 && parsed["answers_in_flight"].as_u64().unwrap_or(0) >= 1,
                "the fault switch crashes the LLM engine while the answer is being generated",
                format!("{status} {body}"),
            );
        }
        Fault::KillRemote { pid, .. } => {
            report.check(
                kill("-KILL", *pid),
                "the llama.cpp server is killed (SIGKILL)",
                format!("pid {pid}"),
            );
        }
    }

    // What operators and new users see while it is down.
    let down = poll(
        Duration::from_secs(20),
        Duration::from_millis(25),
        || async {
            readyz(url)
                .await
                .filter(|(s, b)| *s == 503 && b["components"]["llm"]["state"] == "failed")
        },
    )
    .await;
    report.check(
        down.is_some(),
        "/readyz answers 503 with the LLM failed",
        down.as_ref().map_or("never seen".into(), |(_, b)| {
            format!(
                "after {:.2} s: llm {}",
                faulted_at.elapsed().as_secs_f64(),
                b["components"]["llm"]
            )
        }),
    );
    check_refused(&mut report, url, "not_ready", "while the LLM is down").await;

    // A remote server comes back when its operator (here, the drill) starts it again.
    if let Fault::KillRemote {
        pidfile, restart, ..
    } = &fault
    {
        let started = restart.split_first().and_then(|(program, args)| {
            std::process::Command::new(program)
                .args(args)
                .stdin(std::process::Stdio::null())
                .spawn()
                .ok()
        });
        let detail = match &started {
            Some(child) => {
                if let Some(file) = pidfile {
                    let _ = std::fs::write(file, child.id().to_string());
                }
                format!("pid {}", child.id())
            }
            None => format!("could not run {restart:?}"),
        };
        report.check(
            started.is_some(),
            "the llama.cpp server is started again on the same port",
            detail,
        );
    }

    // What the user in the middle of the answer hears.
    let error = next_event(&client, "error", faulted_at, Duration::from_secs(30)).await;
    report.check(
        error
            .as_ref()
            .is_some_and(|(_, e)| e["code"] == "llm_unavailable"),
        "the session gets an error event llm_unavailable",
        error.map_or("none".into(), |(_, e)| e.to_string()),
    );
    let mut line = None;
    client
        .wait_for(Duration::from_secs(60), |r| {
            line = events_after(r, "assistant_text", faulted_at)
                .into_iter()
                .find(|(_, e)| e["text"] == UNAVAILABLE_LINE);
            line.is_some()
        })
        .await;
    report.check(
        line.is_some(),
        "the spoken unavailable line is announced (assistant_text)",
        line.as_ref()
            .map_or("not announced".into(), |(_, e)| e["text"].to_string()),
    );
    let done = next_event(&client, "assistant_done", faulted_at, ANSWER_LIMIT).await;
    report.check(
        done.is_some(),
        "the interrupted answer ends (assistant_done)",
        done.as_ref()
            .map_or("never".into(), |(_, e)| e["text"].to_string()),
    );
    if let Some((_, line)) = &line {
        let from = line["sample_pos"].as_u64().unwrap_or(u64::MAX);
        let heard = client.inspect(|r| voiced_seconds_from(r, from, faulted_at));
        report.check(
            heard >= 1.0,
            "the unavailable line's audio arrives after the fault",
            format!("{heard:.1} s of voiced audio from its sample_pos {from}"),
        );
    }

    // Recovery by itself.
    let recovered = ready_within(url, Duration::from_secs(180)).await;
    report.check(
        recovered,
        match fault {
            Fault::Switch { .. } => "the server recovers by itself (/readyz 200)",
            Fault::KillRemote { .. } => {
                "GoAssist heals by itself once the LLM server is back (/readyz 200)"
            }
        },
        format!(
            "{:.1} s after the fault",
            faulted_at.elapsed().as_secs_f64()
        ),
    );
    let restarts_before = series(&before, LLM_RESTARTS);
    let restarts = poll(
        Duration::from_secs(10),
        Duration::from_millis(100),
        || async {
            let now = series(&scrape(url).await, LLM_RESTARTS);
            (now > restarts_before).then_some(now)
        },
    )
    .await
    .unwrap_or(restarts_before);
    report.check(
        restarts == restarts_before + 1.0,
        "goassist_restarts_total{component=\"llm\"} counts one restart",
        format!("{restarts_before} -> {restarts}"),
    );
    let rejected = series(
        &scrape(url).await,
        "goassist_sessions_rejected_total{reason=\"not_ready\"}",
    ) - series(
        &before,
        "goassist_sessions_rejected_total{reason=\"not_ready\"}",
    );
    report.check(
        rejected >= 1.0,
        "the refusal is counted (goassist_sessions_rejected_total{reason=\"not_ready\"})",
        format!("+{rejected}"),
    );

    // The same session goes on: its next question is answered.
    let asked = ask(&client, &question).await;
    report.step("asked the same session again");
    let answer = next_event(&client, "assistant_done", asked, ANSWER_LIMIT).await;
    let errors = client.inspect(|r| events_after(r, "error", asked).len());
    let answered = report.check(
        answer.as_ref().is_some_and(|(_, e)| {
            let text = e["text"].as_str().unwrap_or("");
            !text.is_empty() && text != UNAVAILABLE_LINE
        }) && errors == 0,
        "the same session's next question is answered",
        answer.map_or("no answer".into(), |(_, e)| e["text"].to_string()),
    );
    if !answered {
        diagnose(url, &client, asked).await;
    }
    let _ = client.close().await;
    report.finish()
}

/// `sigterm-drain`.
async fn sigterm_drain(url: &str, server_pid: u32, drain_timeout: Duration) -> ! {
    let report = Report::new("sigterm-drain");
    let question = question();
    let (report, a) = connect(report, url, "user A (will be mid-answer)").await;
    let (report, b) = connect(report, url, "user B (idle)").await;
    let asked = ask(&a, &question).await;
    report.step("A asked a question; waiting for the answer's first audio");
    let answering = first_audio(&a, asked).await;
    let mut report = report.require(
        answering.is_some(),
        "A's answer starts",
        answering.map_or("no voiced audio".into(), |at| {
            format!(
                "first audio {:.1} s after the question",
                (at - asked).as_secs_f64()
            )
        }),
    );
    let term_at = Instant::now();
    report.check(
        kill("-TERM", server_pid),
        "SIGTERM to the server mid-answer",
        format!(
            "pid {server_pid}, DRAIN_TIMEOUT_S {}",
            drain_timeout.as_secs()
        ),
    );
    let draining = poll(
        Duration::from_secs(10),
        Duration::from_millis(25),
        || async {
            readyz(url)
                .await
                .filter(|(s, b)| *s == 503 && b["draining"] == true)
        },
    )
    .await;
    report.check(
        draining.is_some(),
        "/readyz answers 503 draining",
        format!("after {:.2} s", term_at.elapsed().as_secs_f64()),
    );
    check_refused(&mut report, url, "draining", "while draining").await;

    // The answer in flight plays to its end; then A leaves as a user would.
    let done = next_event(&a, "assistant_done", term_at, drain_timeout).await;
    let deadline = term_at + drain_timeout;
    report.check(
        done.as_ref().is_some_and(|(at, _)| *at < deadline),
        "A's answer in flight finishes before the deadline (assistant_done)",
        done.as_ref().map_or("not finished".into(), |(at, e)| {
            format!(
                "{:.1} s after SIGTERM: {}",
                (*at - term_at).as_secs_f64(),
                e["text"]
            )
        }),
    );
    let a_heard = a.inspect(|r| voiced_after(r, term_at));
    report.check(
        a_heard,
        "A hears the rest of the answer after SIGTERM",
        "voiced audio after SIGTERM",
    );
    let left = a.close().await;
    report.check(left.is_ok(), "A hangs up (DELETE) during the drain", "200");
    let one_left = poll(
        Duration::from_secs(10),
        Duration::from_millis(50),
        || async {
            readyz(url)
                .await
                .filter(|(_, b)| b["sessions"]["active"] == 1)
        },
    )
    .await;
    report.check(
        one_left.is_some(),
        "only B is left open",
        "sessions.active 1",
    );

    // B stays until the deadline, is cancelled there, and the server stops.
    report.step("waiting for the drain deadline");
    let mut last_open = None;
    let mut stopped = None;
    let give_up = term_at + drain_timeout + Duration::from_secs(15);
    while stopped.is_none() && Instant::now() < give_up {
        match readyz(url).await {
            Some((_, b)) => {
                if b["sessions"]["active"] == 1 {
                    last_open = Some(Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            None => stopped = Some(Instant::now()),
        }
    }
    let seconds = |at: Option<Instant>| at.map(|at| (at - term_at).as_secs_f64());
    let (open_until, stopped_after) = (seconds(last_open), seconds(stopped));
    let shown = |s: Option<f64>| s.map_or("never".into(), |s| format!("{s:.1} s"));
    let limit = drain_timeout.as_secs_f64();
    report.check(
        open_until.is_some_and(|s| s >= limit - 0.5),
        "B is not cancelled before the deadline",
        format!(
            "last seen open {} after SIGTERM, deadline {limit} s",
            shown(open_until)
        ),
    );
    report.check(
        stopped_after.is_some_and(|s| s >= limit - 0.5 && s <= limit + 6.0),
        "B is cancelled at the deadline and the server stops serving",
        format!("stopped serving {} after SIGTERM", shown(stopped_after)),
    );
    drop(b);
    report.finish()
}

/// `client-vanishes`.
async fn client_vanishes(url: &str, reap_limit: Duration) -> ! {
    let report = Report::new("client-vanishes");
    let before = scrape(url).await;
    let question = question();
    let (report, a) = connect(report, url, "a user").await;
    let asked = ask(&a, &question).await;
    report.step("asked a question; waiting for the answer's first audio");
    let answering = first_audio(&a, asked).await;
    let mut report = report.require(
        answering.is_some(),
        "the assistant starts answering",
        answering.map_or("no voiced audio".into(), |at| {
            format!(
                "first audio {:.1} s after the question",
                (at - asked).as_secs_f64()
            )
        }),
    );
    let full = readyz(url).await;
    report.check(
        full.as_ref()
            .is_some_and(|(s, b)| *s == 503 && b["saturated"]["sessions"] == true),
        "the only session slot is taken (/readyz 503, saturated sessions)",
        full.map_or("no answer".into(), |(s, b)| {
            format!("{s} {}", b["saturated"])
        }),
    );
    let at_vanish = scrape(url).await;
    // Gone: the peer stops (its sockets close, nothing is sent) and no DELETE follows.
    a.handle().close();
    let vanished_at = Instant::now();
    drop(a);
    report.step(format!(
        "the client vanished mid-answer (LLM answers in flight: {})",
        series(&at_vanish, LLM_IN_FLIGHT)
    ));

    // Polled every 200 ms: when the session is gone, and how long the LLM went on answering.
    let mut reaped = None;
    let mut generating_until = None;
    while reaped.is_none() && vanished_at.elapsed() < reap_limit {
        let m = scrape(url).await;
        if series(&m, LLM_IN_FLIGHT) >= 1.0 {
            generating_until = Some(vanished_at.elapsed().as_secs_f64());
        }
        if series(&m, SESSIONS) == 0.0 {
            reaped = Some(vanished_at.elapsed());
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    report.check(
        reaped.is_some(),
        "the session is reaped (goassist_sessions_active 0)",
        reaped.map_or(format!("still open after {reap_limit:?}"), |d| {
            format!(
                "{:.1} s after the client vanished (limit {reap_limit:?})",
                d.as_secs_f64()
            )
        }),
    );
    report.step(match generating_until {
        Some(s) => {
            format!("the LLM was still answering the vanished client {s:.1} s after it left")
        }
        None => "the LLM had finished the answer before the first check".into(),
    });
    let freed = poll(
        Duration::from_secs(10),
        Duration::from_millis(100),
        || async {
            let m = scrape(url).await;
            (series(&m, LLM_IN_FLIGHT) == 0.0 && series(&m, LLM_SLOTS) == 0.0).then_some(())
        },
    )
    .await;
    let m = scrape(url).await;
    report.check(
        freed.is_some(),
        "the LLM sequence is freed",
        format!(
            "{LLM_IN_FLIGHT} {}, {LLM_SLOTS} {}",
            series(&m, LLM_IN_FLIGHT),
            series(&m, LLM_SLOTS)
        ),
    );
    let ended = series(&m, "goassist_sessions_ended_total{reason=\"client\"}")
        - series(&before, "goassist_sessions_ended_total{reason=\"client\"}");
    report.check(
        ended == 1.0,
        "it is counted as ended by the client",
        format!("goassist_sessions_ended_total{{reason=\"client\"}} +{ended}"),
    );
    let ready = ready_within(url, Duration::from_secs(10)).await;
    report.check(ready, "the slot is free again (/readyz 200)", "200");

    // A new user gets the slot and the one UDP port back, and is answered.
    let (mut report, b) = connect(report, url, "a new user (same slot, same UDP port)").await;
    let asked = ask(&b, &question).await;
    // The answer is long on purpose (the LLM must still be busy when the first client
    // vanishes): its first clause, heard, is enough here.
    let answering = first_audio(&b, asked).await;
    let clause = next_event(&b, "assistant_text", asked, Duration::from_secs(10)).await;
    let answered = report.check(
        answering.is_some() && clause.is_some(),
        "the new user's question is answered",
        clause.map_or("no answer".into(), |(_, e)| e["text"].to_string()),
    );
    if !answered {
        diagnose(url, &b, asked).await;
    }
    let left = b.close().await;
    let empty = poll(
        Duration::from_secs(10),
        Duration::from_millis(100),
        || async { (series(&scrape(url).await, SESSIONS) == 0.0).then_some(()) },
    )
    .await;
    report.check(
        left.is_ok() && empty.is_some(),
        "the new user hangs up and the server is empty again",
        "goassist_sessions_active 0",
    );
    report.finish()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let drill = args.next().unwrap_or_default();
    let mut flags: BTreeMap<String, String> = BTreeMap::new();
    let mut rest = Vec::new();
    while let Some(flag) = args.next() {
        if flag == "--" {
            rest = args.by_ref().collect();
            break;
        }
        let value = args
            .next()
            .unwrap_or_else(|| panic!("{flag} needs a value"));
        flags.insert(flag.trim_start_matches("--").to_string(), value);
    }
    let get = |name: &str| -> String {
        flags
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("--{name} is required for {drill}"))
    };
    let number = |name: &str| -> u64 {
        get(name)
            .parse()
            .unwrap_or_else(|_| panic!("--{name} takes a number"))
    };
    let url = flags
        .get("url")
        .cloned()
        .unwrap_or_else(|| "http://127.0.0.1:8081".into());
    match drill.as_str() {
        "llm-crash" => {
            llm_down(
                &url,
                Fault::Switch {
                    token: get("token"),
                },
            )
            .await
        }
        "llm-remote-killed" => {
            llm_down(
                &url,
                Fault::KillRemote {
                    pid: number("llm-pid") as u32,
                    pidfile: flags.get("llm-pidfile").cloned(),
                    restart: rest,
                },
            )
            .await
        }
        "sigterm-drain" => {
            sigterm_drain(
                &url,
                number("server-pid") as u32,
                Duration::from_secs(number("drain-timeout-s")),
            )
            .await
        }
        "client-vanishes" => {
            client_vanishes(&url, Duration::from_secs(number("reap-limit-s"))).await
        }
        other => {
            eprintln!(
                "unknown drill {other:?}: llm-crash, llm-remote-killed, sigterm-drain, client-vanishes"
            );
            std::process::exit(64);
        }
    }
}
