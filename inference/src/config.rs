//! Configuration from environment variables, validated before any socket opens.
//!
//! [`table`] declares every variable `goassist-inference` reads (the operator's copy is
//! deploy/config.yaml, checked against it by `tests/config_yaml.rs`); the shared reader in
//! `goassist-config` validates them all at once, and [`Config::from_values`] builds the typed
//! [`Config`] from the parsed values. Errors (a required variable missing or invalid) stop
//! start-up; most optional variables are lenient: a bad value warns, naming the variable, the
//! value, the valid range and the default, and the default is used. Secrets are [`Secret`]s.
//! Adding a variable: one entry in [`table`], one field read in [`Config::from_values`], one
//! line in deploy/config.yaml.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use goassist_config::{Check, IpNet, Kind, Table, Values, Var, kinds};
use goassist_engines::asr::AsrLanguage;
pub use goassist_engines::turn::{TurnDetectorKind, TurnRuleConfig};
use goassist_protocol::auth::turn_credentials;
use goassist_protocol::bridge_auth::BridgeKey;

use crate::admin_tokens::AdminToken;

pub use goassist_config::{Problem, Secret, Severity};

/// Log verbosity (`LOG_LEVEL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// `DEBUG`
    Debug,
    /// `INFO`
    Info,
    /// `WARN`
    Warn,
    /// `ERROR`
    Error,
}

/// Who may read `/metrics` on the API port (`API_METRICS`); `METRICS_PORT` always serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiMetrics {
    /// Clients on loopback or a private network (Prometheus inside the cluster); anyone else
    /// gets the same 404 as an unknown path.
    Private,
    /// Anyone who reaches the API port.
    Public,
    /// Nobody: only `METRICS_PORT`.
    Off,
}

impl LogLevel {
    /// The `tracing` filter directive for this level.
    pub fn as_filter(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// Voice activity detector (`VAD_ENGINE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadEngineKind {
    /// Silero v6 ONNX via ONNX Runtime.
    Silero,
    /// A WebRTC-style detector with no ONNX dependency.
    Webrtc,
}

/// Speech recognizer (`ASR_ENGINE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsrEngineKind {
    /// Moonshine base-en through ONNX Runtime: English only, cheapest on short speech.
    Moonshine,
    /// Whisper through whisper.cpp (the `whisper` cargo feature): 99 languages.
    Whisper,
}

/// Whether this binary was built with whisper.cpp (the `whisper` cargo feature, on by default).
pub const WHISPER_BUILT_IN: bool = cfg!(feature = "whisper");

/// Speech synthesizer (`TTS_ENGINE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtsEngineKind {
    /// Piper VITS ONNX with espeak-ng phonemes.
    Piper,
}

/// Primary face animation engine (`ANIMATION_ENGINE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnimationEngineKind {
    /// NVIDIA Audio2Face-3D over gRPC.
    Audio2Face,
    /// The local CPU engine.
    Lam,
}

/// What takes over when the primary animation engine fails (`ANIMATION_FALLBACK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnimationFallback {
    /// The local CPU engine.
    Lam,
    /// No fallback: the face eases to neutral, voice goes on.
    None,
}

/// Where the LLM runs.
#[derive(Debug, Clone, PartialEq)]
pub enum LlmBackendConfig {
    /// A GGUF model run in-process with candle (`LLM_MODEL_PATH`).
    Local {
        /// The GGUF file.
        model_path: PathBuf,
    },
    /// An OpenAI-compatible streaming server (`LLM_BASE_URL`): vLLM, llama.cpp server, Ollama.
    Remote {
        /// Base URL, e.g. `http://vllm:8000/v1`.
        base_url: String,
        /// Bearer token sent to the server (`LLM_API_KEY`).
        api_key: Option<Secret>,
        /// Model name in requests (`LLM_MODEL_NAME`).
        model: String,
        /// Per-request timeout in seconds (`LLM_REQUEST_TIMEOUT_S`).
        timeout_s: u64,
    },
}

/// An ICE server as one client is given it.
#[derive(Debug, Clone, PartialEq)]
pub struct IceServer {
    /// `stun:` or `turn:` URI.
    pub url: String,
    /// TURN username.
    pub username: Option<String>,
    /// TURN password.
    pub credential: Option<Secret>,
}

/// `WEBRTC_TURN_SERVER` and how its clients authenticate.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnServer {
    /// `turn:` or `turns:` URI.
    pub url: String,
    /// Where each client's username and password come from.
    pub credentials: TurnAuth,
}

/// How TURN credentials are made.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnAuth {
    /// `WEBRTC_TURN_SECRET`: per-client credentials in the TURN REST convention, valid for
    /// `ttl_s` (`WEBRTC_TURN_CREDENTIAL_TTL_S`).
    Rest {
        /// The secret shared with the TURN server.
        secret: Secret,
        /// Lifetime of each credential, seconds.
        ttl_s: u64,
    },
    /// `WEBRTC_TURN_USERNAME` / `WEBRTC_TURN_PASSWORD`: one pair for everybody (warned).
    Static {
        /// The username.
        username: String,
        /// The password.
        password: Secret,
    },
}

/// `SESSION_TOKEN_SECRET` shorter than this is refused: join tokens are HMAC-SHA256, and a
/// short key can be found offline from one token.
pub const MIN_SESSION_TOKEN_SECRET_LEN: usize = 32;
/// `WEBRTC_TURN_SECRET` shorter than this is refused, for the same reason (HMAC-SHA1).
pub const MIN_TURN_SECRET_LEN: usize = 16;

/// The whole validated configuration of `goassist-inference`.
#[derive(Debug, Clone)]
pub struct Config {
    /// `API_HOST`
    pub api_host: IpAddr,
    /// `API_PORT`
    pub api_port: u16,
    /// `LOG_LEVEL`
    pub log_level: LogLevel,
    /// `LOG_DIR`: also write JSON logs there, a file a day (`goassist_telemetry::logging`).
    pub log_dir: Option<PathBuf>,
    /// `ENGINE_THREAD_NICE`: how far below the audio path the model engines' threads run.
    pub engine_thread_nice: i32,
    /// `METRICS_PORT`: the separate Prometheus listener; `None` when 0 (off).
    pub metrics_port: Option<u16>,
    /// `API_METRICS`: who may read `/metrics` on the API port.
    pub api_metrics: ApiMetrics,
    /// `MAX_CONCURRENT_SESSIONS`
    pub max_concurrent_sessions: usize,
    /// `SESSION_IDLE_TIMEOUT_S`
    pub session_idle_timeout_s: u64,
    /// `SESSION_MAX_DURATION_S`: no session lasts longer; 0 = no cap.
    pub session_max_duration_s: u64,
    /// `DRAIN_TIMEOUT_S`: how long a drain waits for sessions before force-cancelling them.
    pub drain_timeout_s: u64,
    /// `SESSIONS_PER_IP_PER_MINUTE`: session creations per client address and minute (burst
    /// of as many); 0 = no limit.
    pub sessions_per_ip_per_minute: u32,
    /// `TRUSTED_PROXIES`: peers (addresses or networks) whose `X-Forwarded-For` names the
    /// client for that limit.
    pub trusted_proxies: Vec<IpNet>,
    /// `HTTP_HEADER_TIMEOUT_S`: a connection that has not sent a request's headers in this
    /// long is closed.
    pub http_header_timeout_s: u64,
    /// `HTTP_REQUEST_TIMEOUT_S`: a request not answered in this long (body included) gets 408.
    pub http_request_timeout_s: u64,
    /// `HTTP_MAX_CONNECTIONS`: open connections to API_PORT at once; more wait to be accepted.
    pub http_max_connections: usize,
    /// `SESSION_TOKEN_SECRET`: when set, creating a session (and reading the ICE servers)
    /// needs a join token signed with it.
    pub session_token_secret: Option<Secret>,
    /// `ADMIN_TOKEN`: bearer token for /admin; admin endpoints answer 401 when unset.
    pub admin_token: Option<Secret>,
    // --- operations: scoped admin tokens and alert thresholds (deploy/config.yaml "operations")
    /// `ADMIN_TOKENS`: further named admin tokens with a scope (`name:scope:secret,...`).
    pub admin_tokens: Vec<AdminToken>,
    /// `ALERT_CRASH_LOOP_THRESHOLD`: restarts per hour above which the crash-loop alert fires
    /// (exported as `goassist_alert_threshold{threshold="crash_loop"}`).
    pub alert_crash_loop_threshold: u32,
    /// `ADMIN_FAULT_DRILLS`: serve the lead-scope fault switches of the recovery drills
    /// (`POST /admin/faults/llm-crash`); off, those paths answer 404 like any unknown one.
    pub admin_fault_drills: bool,
    /// `MODELS_DIR`: relative model paths that do not exist from the working directory are
    /// resolved against it.
    pub models_dir: PathBuf,
    /// `LLM_MODEL_PATH` or `LLM_BASE_URL`.
    pub llm: LlmBackendConfig,
    /// `LLM_MAX_CONTEXT_TOKENS`
    pub llm_max_context_tokens: usize,
    /// `LLM_PREFIX_CACHING`
    pub llm_prefix_caching: bool,
    /// `LLM_VRAM_CAP_GB`
    pub llm_vram_cap_gb: u32,
    /// `LLM_MAX_BATCH_SIZE`
    pub llm_max_batch_size: usize,
    /// `LLM_MAX_QUEUE`: LLM requests that may wait for a slot; more are refused at once.
    pub llm_max_queue: usize,
    /// `LLM_MAX_NEW_TOKENS`: cap on one answer's length.
    pub llm_max_new_tokens: usize,
    /// `LLM_NO_ECHO_NGRAM`: the local engine's echo guard (0 = off).
    pub llm_no_echo_ngram: usize,
    /// `LLM_SYSTEM_PROMPT`
    pub llm_system_prompt: String,
    /// `ASR_ENGINE`
    pub asr_engine: AsrEngineKind,
    /// `ASR_MODEL_PATH`: the Moonshine model directory, or the Whisper GGML file.
    pub asr_model_path: PathBuf,
    /// `ASR_LANGUAGE`: the language Whisper transcribes, or `auto` to detect it per utterance
    /// (always English with Moonshine).
    pub asr_language: AsrLanguage,
    /// `VAD_ENGINE`
    pub vad_engine: VadEngineKind,
    /// `VAD_END_OF_TURN_SILENCE_MS`: silence that ends the user's turn.
    pub vad_end_of_turn_silence_ms: u32,
    /// `BARGE_IN_MIN_SPEECH_MS`: speech shorter than this (a cough) neither starts a turn nor
    /// interrupts the assistant.
    pub barge_in_min_speech_ms: u32,
    /// The end-of-turn rule: `TURN_DETECTOR` and the `TURN_*` settings (and
    /// `VAD_END_OF_TURN_SILENCE_MS` for the `silence` detector).
    pub turn: TurnRuleConfig,
    /// `TURN_PREEMPTIVE_ANSWER`: start answering a pause the turn detector still judges.
    pub turn_preemptive_answer: bool,
    /// `TTS_ENGINE`
    pub tts_engine: TtsEngineKind,
    /// `TTS_MODEL_PATH`
    pub tts_model_path: PathBuf,
    /// `AUDIO_PACKET_MS`
    pub audio_packet_ms: u32,
    /// `AUDIO_OVERLAP_MS`
    pub audio_overlap_ms: u32,
    /// `ANIMATION_ENABLED`
    pub animation_enabled: bool,
    /// `ANIMATION_ENGINE`
    pub animation_engine: AnimationEngineKind,
    /// `ANIMATION_FALLBACK`
    pub animation_fallback: AnimationFallback,
    /// `ANIMATION_FPS`
    pub animation_fps: u32,
    /// `ANIMATION_DROP_IF_LAG_MS`
    pub animation_drop_if_lag_ms: u32,
    /// `ANIMATION_SLOW_FREEZE_MS`
    pub animation_slow_freeze_ms: u32,
    /// `ANIMATION_DEADLINE_MS`: longest an engine may take for one segment (plus half the
    /// segment's duration) before the fallback takes over.
    pub animation_deadline_ms: u32,
    /// `LAM_ONNX_MODEL`: a user audio→ARKit ONNX model (with its `.onnx.json`) for `lam`.
    pub lam_onnx_model: Option<PathBuf>,
    /// `AUDIO2FACE_URL`: the Audio2Face-3D gRPC endpoint.
    pub audio2face_url: Option<String>,
    /// `AUDIO2FACE_API_KEY`
    pub audio2face_api_key: Option<Secret>,
    /// `WEBRTC_STUN_SERVER`
    pub stun_server: String,
    /// `WEBRTC_TURN_SERVER` with its credentials.
    pub turn_server: Option<TurnServer>,
    /// `WEBRTC_UDP_PORT_MIN`..=`WEBRTC_UDP_PORT_MAX`
    pub webrtc_udp_ports: (u16, u16),
    /// `WEBRTC_PUBLIC_IPS`: addresses advertised as host candidates (default: the interfaces).
    pub webrtc_public_ips: Vec<IpAddr>,
    /// `RENDER_BRIDGE_ADDR`: where face frames go for Profile C.
    pub render_bridge_addr: Option<SocketAddr>,
    /// `RENDER_BRIDGE_SEND_AUDIO`: also send the audio chunks to the bridge.
    pub render_bridge_send_audio: bool,
    /// `RENDER_BRIDGE_AVATAR_ID`: the avatar id this pod's frames carry (the bridge's
    /// `avatar:N` routes).
    pub render_bridge_avatar_id: u32,
    /// `RENDER_BRIDGE_KEY`: seal every datagram to the bridge with this key (the bridge's
    /// `BRIDGE_KEY`).
    pub render_bridge_key: Option<BridgeKey>,
}

/// The outcome of validation: the config (when there are no errors), every problem found, and
/// the effective values `--check-config` prints.
pub type Validated = goassist_config::Validated<Config>;

/// The default system prompt: short spoken answers, no markup the voice would read out.
pub const DEFAULT_SYSTEM_PROMPT: &str = goassist_engines::llm::DEFAULT_VOICE_PROMPT;

/// Reads variables from the process environment.
pub fn from_env() -> Validated {
    table().validate_env(Config::from_values)
}

/// Validates a set of variables (the environment, or a map in tests).
pub fn validate(vars: &BTreeMap<String, String>) -> Validated {
    table().validate(|name| vars.get(name).cloned(), Config::from_values)
}

/// Every variable `goassist-inference` reads: the source of truth for validation, `--help`,
/// `--check-config` and the deploy/config.yaml test.
pub fn table() -> Table {
    Table::new("goassist-inference")
        .group("server", [
            Var::new("API_HOST", kinds::ip()).default("0.0.0.0").lenient()
                .doc("address of the HTTP API (WHIP, /v1/sessions, /healthz, /readyz, /metrics, /admin, demo page)"),
            Var::new("API_PORT", kinds::int::<u16>(1024, 65535)).default("8081").lenient()
                .doc("port of the HTTP API"),
            Var::new("LOG_LEVEL", kinds::one_of(&[
                ("DEBUG", LogLevel::Debug), ("INFO", LogLevel::Info),
                ("WARN", LogLevel::Warn), ("ERROR", LogLevel::Error),
            ])).default("INFO").lenient()
                .doc("log verbosity of GoAssist's own code (JSON lines on stdout)"),
            Var::new("LOG_DIR", kinds::path())
                .doc("also write the JSON logs to LOG_DIR, a file a day (goassist-inference.YYYY-MM-DD.log, the last 7 kept; goassist-inference.log links to today's), e.g. /workspace/logs"),
            Var::new("METRICS_PORT", metrics_port()).default("9464").lenient()
                .doc("separate Prometheus listener (/metrics only); 0 or off = none"),
            Var::new("API_METRICS", kinds::one_of(&[
                ("private", ApiMetrics::Private), ("public", ApiMetrics::Public), ("off", ApiMetrics::Off),
            ])).default("private").lenient()
                .doc("who may read /metrics on API_PORT: private = loopback and private-network clients (the client as TRUSTED_PROXIES say), public = anyone, off = nobody (METRICS_PORT only)"),
            Var::new("MAX_CONCURRENT_SESSIONS", kinds::int::<usize>(1, 100)).required()
                .doc("sessions served at once; more are refused with 503"),
            Var::new("SESSION_IDLE_TIMEOUT_S", kinds::int::<u64>(60, 3600)).default("300").lenient()
                .doc("a session in which the user neither speaks nor types this long is closed (pings and noise do not count)"),
            Var::new("SESSION_MAX_DURATION_S", kinds::int::<u64>(0, 86_400)).default("3600").lenient()
                .doc("no session lasts longer than this, however active (one client cannot hold a slot for ever); 0 = no cap"),
            Var::new("DRAIN_TIMEOUT_S", kinds::int::<u64>(1, 3600)).default("30").lenient()
                .doc("drain (SIGTERM or POST /admin/drain) cancels sessions still open after this"),
            Var::new("SESSIONS_PER_IP_PER_MINUTE", kinds::int::<u32>(0, 10_000)).default("20").lenient()
                .doc("POST /v1/sessions per client address: a burst of this many, refilled over a minute; more get 429 with Retry-After; 0 = no limit"),
            Var::new("TRUSTED_PROXIES", kinds::ip_nets())
                .doc("comma-separated addresses or CIDR networks of reverse proxies (e.g. HAProxy) whose X-Forwarded-For names the client for SESSIONS_PER_IP_PER_MINUTE and API_METRICS; unset = the TCP peer is the client"),
            Var::new("HTTP_HEADER_TIMEOUT_S", kinds::int::<u64>(1, 120)).default("10").lenient()
                .doc("a connection that has not sent a request's headers in this long is closed"),
            Var::new("HTTP_REQUEST_TIMEOUT_S", kinds::int::<u64>(1, 600)).default("30").lenient()
                .doc("a request (its body included) not answered in this long gets 408"),
            Var::new("HTTP_MAX_CONNECTIONS", kinds::int::<usize>(2, 100_000)).default("1024").lenient()
                .doc("open connections to API_PORT at once; more wait in the listen backlog until one closes (goassist_http_connections)"),
            Var::new("SESSION_TOKEN_SECRET", kinds::secret(MIN_SESSION_TOKEN_SECRET_LEN))
                .doc("when set, POST /v1/sessions and GET /v1/ice-servers need Authorization: Bearer <join token> signed with it (your app's backend mints them, e.g. `goassist-inference issue-token`); unset = anyone who reaches the API may start a session"),
            Var::new("ADMIN_TOKEN", kinds::secret(0))
                .doc("bearer token for /admin/*; unset = admin API closed (401); use >= 16 random characters"),
            Var::new("ADMIN_TOKENS", admin_tokens())
                .doc("further named admin tokens name:scope:secret (scope oncall or lead); ADMIN_TOKEN is the token named admin with scope lead"),
            Var::new("ALERT_CRASH_LOOP_THRESHOLD", kinds::int::<u32>(1, 100)).default("3").lenient()
                .doc("restarts per hour above which the crash-loop alert fires (goassist_alert_threshold{threshold=\"crash_loop\"})"),
            Var::new("ADMIN_FAULT_DRILLS", kinds::boolean()).default("false").lenient()
                .doc("serve the recovery drills' fault switch POST /admin/faults/llm-crash (lead scope, audited: crashes the local LLM engine); false = the path answers 404. For staging and drills (scripts/drills/), not for production"),
            Var::new("MODELS_DIR", kinds::path()).default("models")
                .doc("model tree; relative model paths that do not exist from the working directory resolve inside it"),
        ])
        .group("LLM", [
            Var::new("LLM_BASE_URL", llm_base_url())
                .doc("OpenAI-compatible server (vLLM, llama.cpp server, Ollama); when set it replaces the local model"),
            Var::new("LLM_MODEL_PATH", model_path(PathKind::File)).required_unless_set("LLM_BASE_URL")
                .error_text("LLM model not found")
                .doc("the local GGUF model"),
            Var::new("LLM_API_KEY", kinds::secret(0)).doc("bearer token sent to LLM_BASE_URL"),
            Var::new("LLM_MODEL_NAME", kinds::text()).default("default")
                .doc("model name sent in remote requests"),
            Var::new("LLM_REQUEST_TIMEOUT_S", kinds::int::<u64>(1, 600)).default("60").lenient()
                .doc("per-request timeout of the remote server"),
            Var::new("LLM_MAX_CONTEXT_TOKENS", kinds::int::<usize>(1024, 8192)).default("8192").lenient()
                .doc("history is trimmed (oldest turns first) to fit"),
            Var::new("LLM_PREFIX_CACHING", kinds::boolean()).default("true").lenient()
                .doc("reuse the system prompt's KV cache every turn"),
            Var::new("LLM_VRAM_CAP_GB", kinds::int::<u32>(8, 80)).default("20").lenient()
                .doc("GPU memory the LLM may use; warns when above the GPU's memory"),
            Var::new("LLM_MAX_BATCH_SIZE", kinds::int::<usize>(1, 256)).default("8").lenient()
                .doc("requests answered at once; the local engine decodes them together in one batched step; with LLM_BASE_URL the requests in flight to the server (set to its --parallel / --max-num-seqs)"),
            Var::new("LLM_MAX_QUEUE", kinds::int::<usize>(0, 256)).default("5").lenient()
                .doc("requests that may wait for a free LLM slot; one more gets an immediate 'busy' error"),
            Var::new("LLM_MAX_NEW_TOKENS", kinds::int::<usize>(16, 2048)).default("160").lenient()
                .doc("cap on one answer's length"),
            Var::new("LLM_SYSTEM_PROMPT", kinds::text()).default(DEFAULT_SYSTEM_PROMPT)
                .doc("the assistant's instructions"),
            Var::new("LLM_NO_ECHO_NGRAM", kinds::int::<usize>(0, 16)).default("4").lenient()
                .doc("local model: no answer repeats this many tokens in a row of the user's last message (reading back instead of answering); 0 = off"),
        ])
        .group("speech", [
            Var::new("ASR_ENGINE", asr_engine()).default("moonshine")
                .doc("speech recognizer: moonshine = Moonshine base-en (English only, cheapest on short speech); whisper = Whisper through whisper.cpp (99 languages); see docs/asr.md"),
            Var::new("ASR_MODEL_PATH", asr_model_path()).required()
                .error_text("ASR model not found")
                .doc("the Moonshine base-en directory (moonshine) or a whisper.cpp GGML file (whisper)"),
            Var::new("ASR_LANGUAGE", asr_language())
                .doc("auto = detect the language of every utterance (whisper only; one more encoder pass); a code fixes it; unset = auto with whisper, en with moonshine"),
            Var::new("VAD_ENGINE", kinds::one_of(&[
                ("silero", VadEngineKind::Silero), ("webrtc", VadEngineKind::Webrtc),
            ])).default("silero").lenient()
                .doc("voice activity detector"),
            Var::new("VAD_END_OF_TURN_SILENCE_MS", kinds::int::<u32>(200, 3000)).default("600").lenient()
                .doc("silence that ends the user's turn with TURN_DETECTOR=silence"),
            Var::new("TURN_DETECTOR", kinds::one_of(&[
                ("smart_turn", TurnDetectorKind::SmartTurn), ("silence", TurnDetectorKind::Silence),
            ])).default("smart_turn").lenient()
                .doc("what ends the user's turn: smart_turn = Smart Turn v3.2 (audio) with the LLM's end-of-turn probability (text), see docs/turn-taking.md; silence = VAD_END_OF_TURN_SILENCE_MS of silence"),
            Var::new("TURN_PROBE_SILENCE_MS", kinds::int::<u32>(32, 2000)).default("200").lenient()
                .doc("pause after which the turn is judged (Smart Turn, transcript, LLM)"),
            Var::new("TURN_TEXT_WEIGHT", kinds::fraction()).default("0.5").lenient()
                .doc("weight of the LLM's end-of-turn probability against Smart Turn's"),
            Var::new("TURN_COMPLETE_THRESHOLD", kinds::fraction()).default("0.5").lenient()
                .doc("combined probability that ends the turn"),
            Var::new("TURN_TEXT_WAIT_MS", kinds::int::<u32>(0, 10_000)).default("1000").lenient()
                .doc("how long the text signal is waited for once Smart Turn has answered"),
            Var::new("TURN_AUDIO_ONLY_THRESHOLD", kinds::fraction()).default("0.9").lenient()
                .doc("Smart Turn probability that ends the turn when no text signal comes"),
            Var::new("TURN_MAX_SILENCE_MS", kinds::int::<u32>(200, 10_000)).default("2000").lenient()
                .doc("the longest pause: the turn ends after it whatever the models say"),
            Var::new("TURN_PREEMPTIVE_ANSWER", kinds::boolean()).default("true").lenient()
                .doc("when the models leave a pause open, start answering the words so far; used if the turn ends with them, thrown away (and counted) if the user goes on"),
            Var::new("BARGE_IN_MIN_SPEECH_MS", kinds::int::<u32>(50, 2000)).default("250").lenient()
                .doc("shorter speech (a cough) neither starts a turn nor interrupts"),
            Var::new("TTS_ENGINE", kinds::one_of(&[("piper", TtsEngineKind::Piper)])).required()
                .error_text("TTS engine not specified")
                .doc("speech synthesizer"),
            Var::new("TTS_MODEL_PATH", model_path(PathKind::Any)).required()
                .error_text("TTS model not found")
                .doc("the Piper voice .onnx (its .onnx.json beside it)"),
            Var::new("AUDIO_PACKET_MS", kinds::one_of(&[("10", 10u32), ("20", 20), ("40", 40)]))
                .default("20").lenient()
                .doc("Opus packet duration sent to the client"),
            Var::new("AUDIO_OVERLAP_MS", kinds::int::<u32>(0, 20)).default("5").lenient()
                .doc("crossfade where TTS chunks join; shorter than AUDIO_PACKET_MS"),
        ])
        .group("face", [
            Var::new("ANIMATION_ENABLED", kinds::boolean()).default("true").lenient()
                .doc("drive the face (blendshape frames on the data channel)"),
            Var::new("ANIMATION_ENGINE", kinds::one_of(&[
                ("audio2face", AnimationEngineKind::Audio2Face), ("lam", AnimationEngineKind::Lam),
            ])).default("audio2face")
                .fail_while("ANIMATION_ENABLED=true", |v| v.get::<bool>("ANIMATION_ENABLED"))
                .doc("primary face engine"),
            Var::new("ANIMATION_FALLBACK", kinds::one_of(&[
                ("lam", AnimationFallback::Lam), ("none", AnimationFallback::None),
            ])).default("lam").lenient()
                .doc("what takes over when the primary engine fails (none: the face eases to neutral)"),
            Var::new("ANIMATION_FPS", kinds::one_of(&[("30", 30u32), ("60", 60)])).default("30").lenient()
                .doc("face frames per second"),
            Var::new("ANIMATION_DROP_IF_LAG_MS", kinds::int::<u32>(50, 200)).default("120").lenient()
                .doc("drop face frames this much later than their audio"),
            Var::new("ANIMATION_SLOW_FREEZE_MS", kinds::int::<u32>(100, 300)).default("150").lenient()
                .doc("ease the face to neutral over this long when frames stop"),
            Var::new("ANIMATION_DEADLINE_MS", kinds::int::<u32>(10, 10_000)).default("500").lenient()
                .doc("an engine slower than this plus half a segment counts as stalled; the fallback takes over"),
            Var::new("LAM_ONNX_MODEL", lam_onnx_model())
                .error_text("lam ONNX model not found")
                .doc("a user audio->ARKit ONNX model (with its .onnx.json) that replaces lam's built-in classifier"),
            Var::new("AUDIO2FACE_URL", kinds::text())
                .doc("Audio2Face-3D gRPC endpoint, e.g. http://a2f:52000; unset with audio2face = the fallback from the start"),
            Var::new("AUDIO2FACE_API_KEY", kinds::secret(0)).doc("API key sent to Audio2Face-3D"),
        ])
        .group("WebRTC", [
            Var::new("WEBRTC_STUN_SERVER", ice_uri("a STUN URI stun:host[:port] or stuns:host[:port]", &["stun:", "stuns:"]))
                .default("stun:stun.l.google.com:19302").lenient()
                .doc("STUN server handed to clients"),
            Var::new("WEBRTC_TURN_SERVER", ice_uri("a TURN URI turn:host[:port][?transport=udp|tcp] or turns:...", &["turn:", "turns:"]))
                .doc("TURN server handed to clients; unset = no TURN"),
            Var::new("WEBRTC_TURN_SECRET", kinds::secret(MIN_TURN_SECRET_LEN))
                .doc("TURN REST shared secret (coturn static-auth-secret): every client gets its own credentials that expire; needs WEBRTC_TURN_SERVER"),
            Var::new("WEBRTC_TURN_CREDENTIAL_TTL_S", kinds::int::<u64>(60, 86_400)).default("3600").lenient()
                .doc("lifetime of the credentials made from WEBRTC_TURN_SECRET; a session that needs TURN must connect within it"),
            Var::new("WEBRTC_TURN_USERNAME", kinds::text())
                .doc("static TURN username, only without WEBRTC_TURN_SECRET (every client gets it: warned)"),
            Var::new("WEBRTC_TURN_PASSWORD", kinds::secret(0))
                .doc("static TURN password, only without WEBRTC_TURN_SECRET"),
            Var::new("WEBRTC_UDP_PORT_MIN", kinds::int::<u16>(1024, 65535)).default("9000").lenient()
                .doc("first UDP port for sessions (one port per session); <= WEBRTC_UDP_PORT_MAX"),
            Var::new("WEBRTC_UDP_PORT_MAX", kinds::int::<u16>(1024, 65535)).default("9200").lenient()
                .doc("last UDP port; warns when the range holds fewer ports than MAX_CONCURRENT_SESSIONS"),
            Var::new("WEBRTC_PUBLIC_IPS", ip_list())
                .doc("host candidates advertised to clients (the pod's public IP behind NAT); unset = the interfaces' addresses"),
        ])
        .group("Profile C", [
            Var::new("RENDER_BRIDGE_ADDR", resolvable_addr())
                .doc("send face frames (UDP, never blocking, dropped when full) to a render-bridge, e.g. render-pod:11112"),
            Var::new("RENDER_BRIDGE_SEND_AUDIO", kinds::boolean()).default("false").lenient()
                .doc("also send each frame's 48 kHz audio to the bridge"),
            Var::new("RENDER_BRIDGE_AVATAR_ID", kinds::int::<u32>(0, u32::MAX)).default("0")
                .doc("avatar id carried by this pod's frames; the bridge's BRIDGE_ROUTES avatar:N=Subject routes by it"),
            Var::new("RENDER_BRIDGE_KEY", kinds::bridge_key())
                .doc("seal every datagram to the render-bridge (HMAC-SHA256 tag, counter, time) with this key, the bridge's BRIDGE_KEY: 64+ hex digits or base64 of 32+ bytes, e.g. `openssl rand -hex 32`; unset = datagrams carry no tag"),
        ])
        .group("process", [
            Var::new("ENGINE_THREAD_NICE", kinds::int::<i32>(0, 19)).default("5").lenient()
                .doc("the model engines' threads (ASR, TTS, turn detector, local LLM and the compute threads they start) run this much below the audio path's priority (nice), so that on busy cores the voice keeps its timing; animation runs 10 below; 0 = the same priority"),
            Var::new("ORT_DYLIB_PATH", kinds::path())
                .doc("ONNX Runtime library (read by the engines); unset = $MODELS_DIR/onnxruntime/libonnxruntime.so"),
            Var::new("RUST_LOG", kinds::text())
                .doc("fine-grained log filter for debugging; overrides LOG_LEVEL"),
            Var::new("GOASSIST_SKIP_MODEL_LOADING", kinds::text())
                .doc("tests only: any value leaves the models unloaded (/readyz stays 503)"),
        ])
        .rule(admin_token_is_long)
        .rule(admin_tokens_are_long_and_distinct)
        .rule(vram_cap_fits_the_gpu)
        .rule(overlap_is_shorter_than_a_packet)
        .rule(turn_probe_is_shorter_than_the_longest_pause)
        .rule(udp_port_range_holds_the_sessions)
        .rule(turn_has_credentials)
}

impl Config {
    /// The typed configuration from the table's values (only called when there is no error).
    pub fn from_values(v: &Values) -> Config {
        let llm = match v.opt::<String>("LLM_BASE_URL") {
            Some(base_url) => LlmBackendConfig::Remote {
                base_url,
                api_key: v.opt("LLM_API_KEY"),
                model: v.get("LLM_MODEL_NAME"),
                timeout_s: v.get("LLM_REQUEST_TIMEOUT_S"),
            },
            None => LlmBackendConfig::Local {
                model_path: v.get("LLM_MODEL_PATH"),
            },
        };
        let turn_server = v.opt::<String>("WEBRTC_TURN_SERVER").map(|url| TurnServer {
            url,
            credentials: match v.opt::<Secret>("WEBRTC_TURN_SECRET") {
                Some(secret) => TurnAuth::Rest {
                    secret,
                    ttl_s: v.get("WEBRTC_TURN_CREDENTIAL_TTL_S"),
                },
                None => TurnAuth::Static {
                    username: v.get("WEBRTC_TURN_USERNAME"),
                    password: v.get("WEBRTC_TURN_PASSWORD"),
                },
            },
        });
        Config {
            api_host: v.get("API_HOST"),
            api_port: v.get("API_PORT"),
            log_level: v.get("LOG_LEVEL"),
            log_dir: v.opt("LOG_DIR"),
            engine_thread_nice: v.get("ENGINE_THREAD_NICE"),
            metrics_port: v.get("METRICS_PORT"),
            api_metrics: v.get("API_METRICS"),
            max_concurrent_sessions: v.get("MAX_CONCURRENT_SESSIONS"),
            session_idle_timeout_s: v.get("SESSION_IDLE_TIMEOUT_S"),
            session_max_duration_s: v.get("SESSION_MAX_DURATION_S"),
            drain_timeout_s: v.get("DRAIN_TIMEOUT_S"),
            sessions_per_ip_per_minute: v.get("SESSIONS_PER_IP_PER_MINUTE"),
            trusted_proxies: v.opt("TRUSTED_PROXIES").unwrap_or_default(),
            http_header_timeout_s: v.get("HTTP_HEADER_TIMEOUT_S"),
            http_request_timeout_s: v.get("HTTP_REQUEST_TIMEOUT_S"),
            http_max_connections: v.get("HTTP_MAX_CONNECTIONS"),
            session_token_secret: v.opt("SESSION_TOKEN_SECRET"),
            admin_token: v.opt("ADMIN_TOKEN"),
            admin_tokens: v.opt("ADMIN_TOKENS").unwrap_or_default(),
            alert_crash_loop_threshold: v.get("ALERT_CRASH_LOOP_THRESHOLD"),
            admin_fault_drills: v.get("ADMIN_FAULT_DRILLS"),
            models_dir: v.get("MODELS_DIR"),
            llm,
            llm_max_context_tokens: v.get("LLM_MAX_CONTEXT_TOKENS"),
            llm_prefix_caching: v.get("LLM_PREFIX_CACHING"),
            llm_vram_cap_gb: v.get("LLM_VRAM_CAP_GB"),
            llm_max_batch_size: v.get("LLM_MAX_BATCH_SIZE"),
            llm_max_queue: v.get("LLM_MAX_QUEUE"),
            llm_max_new_tokens: v.get("LLM_MAX_NEW_TOKENS"),
            llm_no_echo_ngram: v.get("LLM_NO_ECHO_NGRAM"),
            llm_system_prompt: v.get("LLM_SYSTEM_PROMPT"),
            asr_engine: v.get("ASR_ENGINE"),
            asr_model_path: v.get("ASR_MODEL_PATH"),
            asr_language: v.opt("ASR_LANGUAGE").unwrap_or(
                match v.get::<AsrEngineKind>("ASR_ENGINE") {
                    AsrEngineKind::Whisper => AsrLanguage::Auto,
                    AsrEngineKind::Moonshine => AsrLanguage::ENGLISH,
                },
            ),
            vad_engine: v.get("VAD_ENGINE"),
            vad_end_of_turn_silence_ms: v.get("VAD_END_OF_TURN_SILENCE_MS"),
            barge_in_min_speech_ms: v.get("BARGE_IN_MIN_SPEECH_MS"),
            turn: turn_rule(v),
            turn_preemptive_answer: v.get("TURN_PREEMPTIVE_ANSWER"),
            tts_engine: v.get("TTS_ENGINE"),
            tts_model_path: v.get("TTS_MODEL_PATH"),
            audio_packet_ms: v.get("AUDIO_PACKET_MS"),
            audio_overlap_ms: v.get("AUDIO_OVERLAP_MS"),
            animation_enabled: v.get("ANIMATION_ENABLED"),
            animation_engine: v.get("ANIMATION_ENGINE"),
            animation_fallback: v.get("ANIMATION_FALLBACK"),
            animation_fps: v.get("ANIMATION_FPS"),
            animation_drop_if_lag_ms: v.get("ANIMATION_DROP_IF_LAG_MS"),
            animation_slow_freeze_ms: v.get("ANIMATION_SLOW_FREEZE_MS"),
            animation_deadline_ms: v.get("ANIMATION_DEADLINE_MS"),
            lam_onnx_model: v.opt("LAM_ONNX_MODEL"),
            audio2face_url: v.opt("AUDIO2FACE_URL"),
            audio2face_api_key: v.opt("AUDIO2FACE_API_KEY"),
            stun_server: v.get("WEBRTC_STUN_SERVER"),
            turn_server,
            webrtc_udp_ports: (v.get("WEBRTC_UDP_PORT_MIN"), v.get("WEBRTC_UDP_PORT_MAX")),
            webrtc_public_ips: v.opt("WEBRTC_PUBLIC_IPS").unwrap_or_default(),
            render_bridge_addr: v.opt("RENDER_BRIDGE_ADDR"),
            render_bridge_send_audio: v.get("RENDER_BRIDGE_SEND_AUDIO"),
            render_bridge_avatar_id: v.get("RENDER_BRIDGE_AVATAR_ID"),
            render_bridge_key: v.opt("RENDER_BRIDGE_KEY"),
        }
    }

    /// The ICE servers handed to one WebRTC client (STUN always, TURN when configured).
    /// `client` labels the TURN REST username (an unguessable id of this hand-out, not a
    /// secret); `now_unix` starts the credentials' lifetime.
    pub fn ice_servers(&self, client: &str, now_unix: u64) -> Vec<IceServer> {
        let mut servers = vec![IceServer {
            url: self.stun_server.clone(),
            username: None,
            credential: None,
        }];
        if let Some(turn) = &self.turn_server {
            let (username, password) = match &turn.credentials {
                TurnAuth::Rest { secret, ttl_s } => {
                    let c = turn_credentials(secret.expose(), client, now_unix, *ttl_s);
                    (c.username, Secret::new(c.credential))
                }
                TurnAuth::Static { username, password } => (username.clone(), password.clone()),
            };
            servers.push(IceServer {
                url: turn.url.clone(),
                username: Some(username),
                credential: Some(password),
            });
        }
        servers
    }
}

// --- kinds particular to this binary -------------------------------------------------------

/// `METRICS_PORT`: a port, or `0` / `off` for no listener.
fn metrics_port() -> Kind {
    Kind::new("1024–65535, or 0 / off = no listener", |text, _| {
        if text == "0" || text.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        match text.parse::<u16>() {
            Ok(port) if port >= 1024 => Ok(Some(port)),
            _ => Err(String::new()),
        }
    })
}

/// `LLM_BASE_URL`: an http(s) URL, without its trailing slash.
fn llm_base_url() -> Kind {
    Kind::new(
        "an http:// or https:// URL of an OpenAI-compatible server, e.g. http://vllm:8000/v1",
        |text, _| {
            if text.starts_with("http://") || text.starts_with("https://") {
                Ok(text.trim_end_matches('/').to_string())
            } else {
                Err(String::new())
            }
        },
    )
}

#[derive(Clone, Copy)]
enum PathKind {
    File,
    Any,
}

impl PathKind {
    fn text(self) -> &'static str {
        match self {
            PathKind::File => "a file",
            PathKind::Any => "a file or directory",
        }
    }
}

/// `ASR_ENGINE`: `whisper` only in a build with whisper.cpp.
fn asr_engine() -> Kind {
    Kind::new("moonshine, whisper", |text, _| {
        match text.to_ascii_lowercase().as_str() {
            "moonshine" => Ok(AsrEngineKind::Moonshine),
            "whisper" if WHISPER_BUILT_IN => Ok(AsrEngineKind::Whisper),
            "whisper" => Err(
                "this binary was built without the `whisper` cargo feature (on by default)".into(),
            ),
            _ => Err(String::new()),
        }
    })
}

/// `ASR_MODEL_PATH`: Whisper takes one GGML file, Moonshine a directory of model files.
fn asr_model_path() -> Kind {
    Kind::new(
        "the Moonshine directory or the Whisper GGML file (relative: inside MODELS_DIR)",
        |text, values| {
            let kind = match values.opt::<AsrEngineKind>("ASR_ENGINE") {
                Some(AsrEngineKind::Whisper) => PathKind::File,
                _ => PathKind::Any,
            };
            existing_model(text, values, kind)
        },
    )
}

/// `ASR_LANGUAGE`: Moonshine would hear any language as (wrong) English, so with it only `en`
/// is accepted; a language Whisper does not know is refused rather than silently detected.
fn asr_language() -> Kind {
    Kind::new(
        "auto, or a Whisper language code: en, de, es, fr, it, pt, ru, zh, ja, ... (99)",
        |text, values| {
            let language = AsrLanguage::parse(text);
            match values.opt::<AsrEngineKind>("ASR_ENGINE") {
                Some(AsrEngineKind::Whisper) => language.ok_or_else(String::new),
                _ if language == Some(AsrLanguage::ENGLISH) => Ok(AsrLanguage::ENGLISH),
                _ => Err("a language other than en needs ASR_ENGINE=whisper: Moonshine base-en recognizes English only".into()),
            }
        },
    )
}

/// A model path that must exist. A relative path is taken as given when it exists from the
/// working directory, else inside `MODELS_DIR`, so `LLM_MODEL_PATH=llm/x.gguf` works wherever
/// the server starts.
fn model_path(kind: PathKind) -> Kind {
    Kind::new(
        format!("the path of {} (relative: inside MODELS_DIR)", kind.text()),
        move |text, values| existing_model(text, values, kind),
    )
}

fn existing_model(text: &str, values: &Values, kind: PathKind) -> Result<PathBuf, String> {
    let path = PathBuf::from(text);
    let resolved = if path.is_absolute() || path.exists() {
        path
    } else {
        values.get::<PathBuf>("MODELS_DIR").join(path)
    };
    let ok = match kind {
        PathKind::File => resolved.is_file(),
        PathKind::Any => resolved.exists(),
    };
    if ok {
        Ok(resolved)
    } else {
        Err(format!(
            "{} does not exist or is not {}",
            resolved.display(),
            kind.text()
        ))
    }
}

/// `LAM_ONNX_MODEL`: an ONNX file whose contract (rate, fps, output names) lives beside it.
fn lam_onnx_model() -> Kind {
    Kind::new(
        "an existing .onnx with its .onnx.json sidecar (relative: inside MODELS_DIR)",
        |text, values| {
            let model = existing_model(text, values, PathKind::File)?;
            let sidecar = PathBuf::from(format!("{}.json", model.display()));
            if sidecar.is_file() {
                Ok(model)
            } else {
                Err(format!(
                    "{} is missing (sample_rate, fps, outputs; see docs/face.md)",
                    sidecar.display()
                ))
            }
        },
    )
}

/// A STUN or TURN URI with one of `schemes`.
fn ice_uri(valid: &'static str, schemes: &'static [&'static str]) -> Kind {
    Kind::new(valid, move |text, _| {
        if is_ice_uri(text, schemes) {
            Ok(text.to_string())
        } else {
            Err(String::new())
        }
    })
}

/// `WEBRTC_PUBLIC_IPS`: comma-separated IP addresses.
fn ip_list() -> Kind {
    Kind::new("comma-separated IP addresses", |text, _| {
        text.split(',')
            .map(|s| s.trim().parse::<IpAddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| String::new())
    })
}

/// `RENDER_BRIDGE_ADDR`: `host:port` resolved once, at start-up.
fn resolvable_addr() -> Kind {
    Kind::new(
        "a host:port that resolves, e.g. render-pod:11112",
        |text, _| -> Result<SocketAddr, String> {
            text.to_socket_addrs()
                .ok()
                .and_then(|mut addrs| addrs.next())
                .ok_or_else(String::new)
        },
    )
}

/// The end-of-turn rule from `TURN_*` (and `VAD_END_OF_TURN_SILENCE_MS` for `silence`).
fn turn_rule(v: &Values) -> TurnRuleConfig {
    let ms = |name| Duration::from_millis(u64::from(v.get::<u32>(name)));
    TurnRuleConfig {
        detector: v.get("TURN_DETECTOR"),
        silence: ms("VAD_END_OF_TURN_SILENCE_MS"),
        probe_after: ms("TURN_PROBE_SILENCE_MS"),
        text_weight: v.get("TURN_TEXT_WEIGHT"),
        complete_threshold: v.get("TURN_COMPLETE_THRESHOLD"),
        text_wait: ms("TURN_TEXT_WAIT_MS"),
        audio_only_threshold: v.get("TURN_AUDIO_ONLY_THRESHOLD"),
        max_silence: ms("TURN_MAX_SILENCE_MS"),
    }
}

// --- cross-variable rules ------------------------------------------------------------------

fn admin_token_is_long(check: &mut Check<'_>) {
    if let Some(token) = check.values().opt::<Secret>("ADMIN_TOKEN")
        && token.expose().len() < 16
    {
        check.warn(
            "ADMIN_TOKEN",
            "ADMIN_TOKEN is shorter than 16 characters; use a long random token (e.g. `openssl rand -hex 32`)",
        );
    }
}

/// `ADMIN_TOKENS`: parsed by [`crate::admin_tokens`]; its errors name an entry, never a secret.
fn admin_tokens() -> Kind {
    Kind::new(
        "comma-separated name:scope:secret entries, scope oncall or lead, names unique",
        |text, _| crate::admin_tokens::parse_admin_tokens(text),
    )
    .redacted()
}

fn admin_tokens_are_long_and_distinct(check: &mut Check<'_>) {
    let Some(tokens) = check.values().opt::<Vec<AdminToken>>("ADMIN_TOKENS") else {
        return;
    };
    let admin_token = check.values().opt::<Secret>("ADMIN_TOKEN");
    for token in &tokens {
        if token.secret.expose().len() < crate::admin_tokens::MIN_SECRET_LEN {
            check.warn("ADMIN_TOKENS", format!("ADMIN_TOKENS: the secret of {} is shorter than 16 characters; use a long random token (e.g. `openssl rand -hex 32`)", token.name));
        }
        if admin_token.as_ref() == Some(&token.secret) {
            check.error(
                "ADMIN_TOKENS",
                format!(
                    "ADMIN_TOKENS: {} has the same secret as ADMIN_TOKEN",
                    token.name
                ),
            );
        }
    }
}

/// `WEBRTC_TURN_SERVER` needs credentials: per-client ones from `WEBRTC_TURN_SECRET`, or a
/// static pair, which is warned about because every caller of the API gets it (an open relay
/// for anyone who can reach the server).
fn turn_has_credentials(check: &mut Check<'_>) {
    let v = check.values();
    let server = v.opt::<String>("WEBRTC_TURN_SERVER").is_some();
    let secret = v.opt::<Secret>("WEBRTC_TURN_SECRET").is_some();
    let user = v.opt::<String>("WEBRTC_TURN_USERNAME").is_some();
    let password = v.opt::<Secret>("WEBRTC_TURN_PASSWORD").is_some();
    if !server {
        if secret || user || password {
            check.warn(
                "WEBRTC_TURN_SERVER",
                "TURN credentials are set but WEBRTC_TURN_SERVER is not: no TURN server is handed to clients",
            );
        }
        return;
    }
    if secret {
        if user || password {
            check.warn(
                "WEBRTC_TURN_USERNAME",
                "WEBRTC_TURN_USERNAME/WEBRTC_TURN_PASSWORD are ignored: WEBRTC_TURN_SECRET gives each client its own credentials",
            );
        }
        return;
    }
    for (name, present, valid) in [
        ("WEBRTC_TURN_USERNAME", user, "any text"),
        ("WEBRTC_TURN_PASSWORD", password, "any text"),
    ] {
        if !present {
            check.error(
                name,
                format!("{name} is missing or empty; it is required when WEBRTC_TURN_SERVER is set without WEBRTC_TURN_SECRET (valid: {valid})"),
            );
        }
    }
    if user && password {
        check.warn(
            "WEBRTC_TURN_PASSWORD",
            "static TURN credentials go to every client that can reach the API, which makes the TURN server a relay for anyone; set WEBRTC_TURN_SECRET (the TURN server's static-auth-secret) for per-client credentials that expire",
        );
    }
}

fn vram_cap_fits_the_gpu(check: &mut Check<'_>) {
    let Some(cap_gb) = check.values().opt::<u32>("LLM_VRAM_CAP_GB") else {
        return;
    };
    if let Some(problem) = vram_cap_problem(&goassist_gpu::CudaTotals, cap_gb) {
        check.warn("LLM_VRAM_CAP_GB", problem);
    }
}

/// The warning when LLM_VRAM_CAP_GB (GiB per GPU) is above a GPU's memory; none when every
/// GPU has room, or when there is no GPU to compare with (the telemetry logs that once).
pub fn vram_cap_problem(probe: &dyn goassist_gpu::GpuProbe, cap_gb: u32) -> Option<String> {
    goassist_gpu::check_vram_cap(&probe.report(), cap_gb).problem("LLM_VRAM_CAP_GB", cap_gb)
}

fn turn_probe_is_shorter_than_the_longest_pause(check: &mut Check<'_>) {
    let v = check.values();
    if let (Some(probe), Some(max)) = (
        v.opt::<u32>("TURN_PROBE_SILENCE_MS"),
        v.opt::<u32>("TURN_MAX_SILENCE_MS"),
    ) && probe >= max
    {
        check.warn(
            "TURN_MAX_SILENCE_MS",
            format!("TURN_MAX_SILENCE_MS={max} must be longer than TURN_PROBE_SILENCE_MS={probe}; using default 2000"),
        );
        check.use_default("TURN_MAX_SILENCE_MS");
        if probe >= 2000 {
            check.use_default("TURN_PROBE_SILENCE_MS");
        }
    }
}

fn overlap_is_shorter_than_a_packet(check: &mut Check<'_>) {
    let v = check.values();
    if let (Some(overlap), Some(packet)) = (
        v.opt::<u32>("AUDIO_OVERLAP_MS"),
        v.opt::<u32>("AUDIO_PACKET_MS"),
    ) && overlap >= packet
    {
        check.warn(
            "AUDIO_OVERLAP_MS",
            format!("AUDIO_OVERLAP_MS={overlap} must be shorter than AUDIO_PACKET_MS={packet}; using default 5"),
        );
        check.use_default("AUDIO_OVERLAP_MS");
    }
}

fn udp_port_range_holds_the_sessions(check: &mut Check<'_>) {
    let v = check.values();
    let (Some(min), Some(max)) = (
        v.opt::<u16>("WEBRTC_UDP_PORT_MIN"),
        v.opt::<u16>("WEBRTC_UDP_PORT_MAX"),
    ) else {
        return;
    };
    if min > max {
        check.error(
            "WEBRTC_UDP_PORT_MIN",
            format!("WEBRTC_UDP_PORT_MIN={min} is above WEBRTC_UDP_PORT_MAX={max}; the range must not be empty"),
        );
        return;
    }
    let ports = usize::from(max - min) + 1;
    if let Some(sessions) = v.opt::<usize>("MAX_CONCURRENT_SESSIONS")
        && ports < sessions
    {
        check.warn(
            "WEBRTC_UDP_PORT_MAX",
            format!("the UDP range {min}-{max} holds {ports} ports, fewer than MAX_CONCURRENT_SESSIONS={sessions} (one port per session)"),
        );
    }
}

/// `stun:host[:port]`-style URIs: a known scheme and a non-empty host with no spaces.
fn is_ice_uri(s: &str, schemes: &[&str]) -> bool {
    schemes.iter().any(|scheme| {
        s.strip_prefix(scheme).is_some_and(|rest| {
            let host_port = rest.split('?').next().unwrap_or("");
            let host = host_port.rsplit_once(':').map_or(host_port, |(h, port)| {
                if port.parse::<u16>().is_ok() { h } else { "" }
            });
            !host.is_empty() && !host_port.contains(char::is_whitespace)
        })
    })
}
