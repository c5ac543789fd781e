//! The three binaries share one command-line contract, derived from their configuration tables:
//! `--help` and `--version` work whatever the environment holds, a configuration error exits
//! 78 and a usage error 64 in every binary, and a secret never appears in `--check-config`
//! output or in an error message.
//!
//! Needs the binaries built (`cargo build --workspace`; `cargo test --workspace` builds them).

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use goassist_e2e::workspace_binary;

const INFERENCE: &str = "goassist-inference";
const BRIDGE: &str = "goassist-render-bridge";
const PROXY: &str = "goassist-pixelstream-proxy";

/// Runs a binary with exactly `env` (plus PATH), never with the caller's environment.
fn run(binary: &str, args: &[&str], env: &[(&str, String)]) -> Output {
    Command::new(workspace_binary(binary))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "error")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {binary}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One strict variable set out of range, per binary: the same kind of error everywhere.
fn out_of_range(binary: &str) -> (&'static str, &'static str) {
    match binary {
        INFERENCE => ("MAX_CONCURRENT_SESSIONS", "0"),
        BRIDGE => ("BRIDGE_LIVELINK_FPS", "0"),
        _ => ("PS_MAX_PLAYERS", "0"),
    }
}

/// A directory of placeholder files the inference server's paths and the proxy's page need
/// for `--check-config` (nothing is loaded).
struct Files {
    dir: PathBuf,
}

impl Files {
    fn new() -> Self {
        // One directory per test: the tests run in parallel and each removes its own on drop.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "goassist-config-cli-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(dir.join("asr")).unwrap();
        std::fs::create_dir_all(dir.join("page")).unwrap();
        std::fs::write(dir.join("llm.gguf"), b"GGUF").unwrap();
        std::fs::write(dir.join("voice.onnx"), b"onnx").unwrap();
        std::fs::write(dir.join("page/index.html"), b"<html></html>").unwrap();
        Files { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// A valid inference environment.
    fn inference_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("MAX_CONCURRENT_SESSIONS", "2".into()),
            ("LLM_MODEL_PATH", self.path("llm.gguf")),
            ("ASR_MODEL_PATH", self.path("asr")),
            ("TTS_ENGINE", "piper".into()),
            ("TTS_MODEL_PATH", self.path("voice.onnx")),
        ]
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn help_and_version_work_with_a_broken_environment() {
    for binary in [INFERENCE, BRIDGE, PROXY] {
        let (var, value) = out_of_range(binary);
        let broken = [(var, value.to_string())];
        let help = run(binary, &["--help"], &broken);
        assert_eq!(
            help.status.code(),
            Some(0),
            "{binary} --help: {}",
            text(&help.stderr)
        );
        let stdout = text(&help.stdout);
        for expected in ["--check-config", "--version", var, "exit code 78"] {
            assert!(
                stdout.contains(expected),
                "{binary} --help lacks {expected:?}:\n{stdout}"
            );
        }
        let version = run(binary, &["--version"], &broken);
        assert_eq!(version.status.code(), Some(0), "{binary} --version");
        assert_eq!(
            text(&version.stdout),
            format!("{binary} {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn the_same_kind_of_error_gives_the_same_exit_code_in_every_binary() {
    for binary in [INFERENCE, BRIDGE, PROXY] {
        let (var, value) = out_of_range(binary);
        let broken = [(var, value.to_string())];
        let expected = format!("config error: {var}='{value}' is invalid (valid: 1–");
        for args in [&["--check-config"][..], &[][..]] {
            let out = run(binary, args, &broken);
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(78), "{binary} {args:?}: {stderr}");
            assert!(stderr.contains(&expected), "{binary} {args:?}: {stderr}");
        }
        let usage = run(binary, &["--frobnicate"], &[]);
        assert_eq!(usage.status.code(), Some(64), "{binary}: usage error");
    }
}

#[test]
fn secrets_never_appear_in_check_config_or_error_messages() {
    let files = Files::new();
    let admin = "admin-secret-0123456789";
    let turn_password = "turn-password-0123456789";
    let api_key = "llm-api-key-0123456789";
    let join = "join-token-secret-0123456789abcdef0123";
    let turn_rest = "turn-rest-shared-secret-0123";
    let mut env = files.inference_env();
    env.extend([
        ("ADMIN_TOKEN", admin.to_string()),
        ("SESSION_TOKEN_SECRET", join.to_string()),
        ("WEBRTC_TURN_SECRET", turn_rest.to_string()),
        ("LLM_API_KEY", api_key.to_string()),
        ("WEBRTC_TURN_SERVER", "turn:turn.example:3478".to_string()),
        ("WEBRTC_TURN_USERNAME", "user".to_string()),
        ("WEBRTC_TURN_PASSWORD", turn_password.to_string()),
    ]);
    let out = run(INFERENCE, &["--check-config"], &env);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for line in [
        "ADMIN_TOKEN=<redacted>",
        "LLM_API_KEY=<redacted>",
        "WEBRTC_TURN_PASSWORD=<redacted>",
        "SESSION_TOKEN_SECRET=<redacted>",
        "WEBRTC_TURN_SECRET=<redacted>",
    ] {
        assert!(stdout.contains(line), "{line} missing:\n{stdout}");
    }
    // The same secrets beside an error: the messages name variables, never secret values.
    env.push(("WEBRTC_TURN_SERVER", "http://not-turn".to_string()));
    env.push(("ADMIN_TOKEN", "short-secret".to_string()));
    let failed = run(INFERENCE, &["--check-config"], &env);
    assert_eq!(failed.status.code(), Some(78));
    for output in [
        &stdout,
        &stderr,
        &text(&failed.stdout),
        &text(&failed.stderr),
    ] {
        for secret in [
            admin,
            turn_password,
            api_key,
            join,
            turn_rest,
            "short-secret",
        ] {
            assert!(!output.contains(secret), "{secret} leaked:\n{output}");
        }
    }

    let player = "player-token-secret-0123456789";
    let turn = "turn-rest-secret-0123";
    let env = [
        ("PS_PLAYER_TOKEN_SECRET", player.to_string()),
        ("PS_TURN_SECRET", turn.to_string()),
        ("PS_TURN_SERVER", "turn:turn.example:3478".to_string()),
        ("PS_FRONTEND_DIR", files.path("page")),
    ];
    let out = run(PROXY, &["--check-config"], &env);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("PS_PLAYER_TOKEN_SECRET=<redacted>"),
        "{stdout}"
    );
    assert!(stdout.contains("PS_TURN_SECRET=<redacted>"), "{stdout}");
    let short = "too-short-key";
    let failed = run(
        PROXY,
        &["--check-config"],
        &[("PS_STREAMER_SECRET", short.to_string())],
    );
    let failed_stderr = text(&failed.stderr);
    assert_eq!(failed.status.code(), Some(78), "{failed_stderr}");
    assert!(
        failed_stderr
            .contains("PS_STREAMER_SECRET=<redacted> is invalid (valid: at least 16 bytes)"),
        "{failed_stderr}"
    );
    for output in [&stdout, &stderr, &text(&failed.stdout), &failed_stderr] {
        for secret in [player, turn, short] {
            assert!(!output.contains(secret), "{secret} leaked:\n{output}");
        }
    }
}

/// The render-bridge key, on both sides: `<redacted>` in `--check-config`, never in an error;
/// a short key stops either binary (78) with a message naming its variable.
#[test]
fn the_bridge_key_never_appears_and_a_short_one_is_refused_by_name() {
    let files = Files::new();
    let key = "5e0c1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6";
    let short = "5e0c1f2a3b4c5d6e7f8091a2b3c4d5e6";
    let mut env = files.inference_env();
    env.push(("RENDER_BRIDGE_ADDR", "127.0.0.1:11112".to_string()));
    env.push(("RENDER_BRIDGE_KEY", key.to_string()));
    let inference = run(INFERENCE, &["--check-config"], &env);
    let bridge = run(
        BRIDGE,
        &["--check-config"],
        &[("BRIDGE_KEY", key.to_string())],
    );
    let mut outputs = Vec::new();
    for (out, line) in [
        (&inference, "RENDER_BRIDGE_KEY=<redacted>"),
        (&bridge, "BRIDGE_KEY=<redacted>"),
    ] {
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(stdout.contains(line), "{line} missing:\n{stdout}");
        outputs.extend([stdout, stderr]);
    }
    env.push(("RENDER_BRIDGE_KEY", short.to_string()));
    for (binary, env, var) in [
        (INFERENCE, env, "RENDER_BRIDGE_KEY"),
        (
            BRIDGE,
            vec![("BRIDGE_KEY", short.to_string())],
            "BRIDGE_KEY",
        ),
    ] {
        let failed = run(binary, &["--check-config"], &env);
        let stderr = text(&failed.stderr);
        assert_eq!(failed.status.code(), Some(78), "{binary}: {stderr}");
        assert!(
            stderr.contains(&format!("{var}=<redacted> is invalid")),
            "{binary}: {stderr}"
        );
        outputs.extend([text(&failed.stdout), stderr]);
    }
    for output in &outputs {
        for secret in [key, short] {
            assert!(!output.contains(secret), "{secret} leaked:\n{output}");
        }
    }
}

#[test]
fn issue_token_mints_a_join_token_the_server_accepts() {
    use goassist_protocol::auth::{Audience, verify_token};
    let secret = "join-token-secret-0123456789abcdef0123";
    let out = run(
        INFERENCE,
        &["issue-token", "user-42", "120"],
        &[("SESSION_TOKEN_SECRET", secret.to_string())],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = verify_token(Audience::VoiceSession, secret, &token, now).expect("valid");
    assert_eq!(claims.subject, "user-42");
    assert!(claims.expires_at.abs_diff(now + 120) <= 5);

    // docs/security.md's shell recipe (openssl and coreutils) makes the same kind of token.
    let recipe = format!(
        "subject=$(printf '%s' user-42 | basenc --base64url | tr -d '=')\n\
         expiry={}\n\
         tag=$(printf '%s' \"goassist-session-token-v1.$subject.$expiry\" \
           | openssl dgst -sha256 -hmac \"$SESSION_TOKEN_SECRET\" -binary | basenc --base64url | tr -d '=')\n\
         echo \"$subject.$expiry.$tag\"",
        claims.expires_at
    );
    let shell = std::process::Command::new("sh")
        .args(["-c", &recipe])
        .env("SESSION_TOKEN_SECRET", secret)
        .output()
        .expect("sh");
    assert_eq!(text(&shell.stdout).trim(), token, "{}", text(&shell.stderr));

    let missing = run(INFERENCE, &["issue-token", "user-42"], &[]);
    assert_eq!(missing.status.code(), Some(78));
    assert!(text(&missing.stderr).contains("SESSION_TOKEN_SECRET"));
    let short = run(
        INFERENCE,
        &["issue-token", "user-42"],
        &[("SESSION_TOKEN_SECRET", "short".to_string())],
    );
    assert_eq!(short.status.code(), Some(78));
}
