//! Sticky-routing probe (docs/runbook.md §12.1): opens real WebRTC sessions through a router
//! (WHIP `POST /v1/sessions` to the router's URL, ICE + DTLS straight to whichever server
//! answered), then ends them through the router in an interleaved order (`DELETE` on each
//! session's `Location`). With sticky routing every `DELETE` reaches the server that owns the
//! session (200); without it some land on the other server (404). Prints one line per session
//! and exits 0 only when every session connected and every `DELETE` succeeded.
//!
//! ```text
//! cargo run --example sticky_probe -- --url http://127.0.0.1:18080 --sessions 4
//! ```
//! `scripts/test_deploy_live.sh` runs it against HAProxy in front of two inference servers.

use std::time::Duration;

use goassist_client::{ClientError, VoiceClient};

#[tokio::main]
async fn main() {
    let mut url = "http://127.0.0.1:8081".to_string();
    let mut sessions = 4usize;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        match flag.as_str() {
            "--url" => url = value,
            "--sessions" => sessions = value.parse().unwrap_or(sessions),
            other => {
                eprintln!("sticky_probe: unknown flag {other} (use --url, --sessions)");
                std::process::exit(64);
            }
        }
    }
    let whip = format!("{}/v1/sessions", url.trim_end_matches('/'));
    let mut clients = Vec::new();
    for n in 0..sessions {
        let client = match tokio::time::timeout(
            Duration::from_secs(30),
            VoiceClient::connect(&whip),
        )
        .await
        {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => {
                println!("session {n}: connect failed: {e}");
                std::process::exit(1);
            }
            Err(_) => {
                println!("session {n}: connect timed out");
                std::process::exit(1);
            }
        };
        println!(
            "session {n}: connected, resource {}",
            client.resource().unwrap_or("(none)")
        );
        clients.push(Some(client));
    }
    // Even sessions first, then odd ones: with a plain round-robin router this order sends some
    // DELETEs to the server that does not own the session.
    let order: Vec<usize> = (0..sessions)
        .step_by(2)
        .chain((1..sessions).step_by(2))
        .collect();
    let mut failures = 0;
    for n in order {
        let Some(client) = clients[n].take() else {
            continue;
        };
        match client.close().await {
            Ok(_) => println!("session {n}: DELETE ok"),
            Err(ClientError::Rejected { status, body }) => {
                failures += 1;
                println!("session {n}: DELETE refused with {status}: {body}");
            }
            Err(e) => {
                failures += 1;
                println!("session {n}: DELETE failed: {e}");
            }
        }
    }
    println!("sticky_probe: {sessions} sessions, {failures} DELETE failures");
    std::process::exit(if failures == 0 { 0 } else { 1 });
}
