//! Configuration from environment variables, validated before any socket opens.
//!
//! Every variable of the operator's table (deploy/config.yaml) is parsed here into a typed
//! [`Config`]. Validation collects *all* problems at once: errors (a required variable missing or
//! invalid: the process must not start) and warnings (an optional variable out of range: the
//! default is used and the warning names the variable, the bad value, the valid range and the
//! default). Secrets are wrapped in [`Secret`] so they never reach a log line or `Debug` output.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

/// A value that must never be printed: `Debug` and `Display` show `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself, for the one place that needs it (auth checks, outgoing headers).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

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

/// An ICE server handed to clients.
#[derive(Debug, Clone, PartialEq)]
pub struct IceServer {
    /// `stun:` or `turn:` URI.
    pub url: String,
    /// TURN username.
    pub username: Option<String>,
    /// TURN password.
    pub credential: Option<Secret>,
}

/// The whole validated configuration of `goassist-inference`.
#[derive(Debug, Clone)]
pub struct Config {
    /// `API_HOST`
    pub api_host: IpAddr,
    /// `API_PORT`
    pub api_port: u16,
    /// `LOG_LEVEL`
    pub log_level: LogLevel,
    /// `LOG_DIR`: also write JSON logs to `goassist-inference.log` there.
    pub log_dir: Option<PathBuf>,
    /// `METRICS_PORT`: the separate Prometheus listener; `None` when 0 (off).
    pub metrics_port: Option<u16>,
    /// `MAX_CONCURRENT_SESSIONS`
    pub max_concurrent_sessions: usize,
    /// `SESSION_IDLE_TIMEOUT_S`
    pub session_idle_timeout_s: u64,
    /// `DRAIN_TIMEOUT_S`: how long a drain waits for sessions before force-cancelling them.
    pub drain_timeout_s: u64,
    /// `ADMIN_TOKEN`: bearer token for /admin; admin endpoints answer 401 when unset.
    pub admin_token: Option<Secret>,
    // --- operations: scoped admin tokens and alert thresholds (deploy/config.yaml "operations")
    /// `ADMIN_TOKENS`: further named admin tokens with a scope (`name:scope:secret,...`).
    pub admin_tokens: Vec<crate::admin_tokens::AdminToken>,
    /// `ALERT_CRASH_LOOP_THRESHOLD`: restarts per hour above which the crash-loop alert fires
    /// (exported as `goassist_alert_threshold{threshold="crash_loop"}`).
    pub alert_crash_loop_threshold: u32,
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
    /// `LLM_MAX_NEW_TOKENS`: cap on one answer's length.
    pub llm_max_new_tokens: usize,
    /// `LLM_SYSTEM_PROMPT`
    pub llm_system_prompt: String,
    /// `ASR_MODEL_PATH` (the Moonshine model directory)
    pub asr_model_path: PathBuf,
    /// `VAD_ENGINE`
    pub vad_engine: VadEngineKind,
    /// `VAD_END_OF_TURN_SILENCE_MS`: silence that ends the user's turn.
    pub vad_end_of_turn_silence_ms: u32,
    /// `BARGE_IN_MIN_SPEECH_MS`: speech shorter than this (a cough) neither starts a turn nor
    /// interrupts the assistant.
    pub barge_in_min_speech_ms: u32,
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
    pub turn_server: Option<IceServer>,
    /// `WEBRTC_UDP_PORT_MIN`..=`WEBRTC_UDP_PORT_MAX`
    pub webrtc_udp_ports: (u16, u16),
    /// `WEBRTC_PUBLIC_IPS`: addresses advertised as host candidates (default: the interfaces).
    pub webrtc_public_ips: Vec<IpAddr>,
    /// `RENDER_BRIDGE_ADDR`: where face frames go for Profile C.
    pub render_bridge_addr: Option<SocketAddr>,
    /// `RENDER_BRIDGE_SEND_AUDIO`: also send the audio chunks to the bridge.
    pub render_bridge_send_audio: bool,
}

/// How bad a configuration problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The process must not start.
    Error,
    /// A default is used instead.
    Warning,
}

/// One problem with one variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// The variable's name.
    pub variable: &'static str,
    /// The full message: names the variable, the value, and what is valid.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.severity {
            Severity::Error => "config error",
            Severity::Warning => "config warning",
        };
        write!(f, "{tag}: {}", self.message)
    }
}

/// The outcome of validation: a config (when there are no errors) and every problem found.
#[derive(Debug)]
pub struct Validated {
    /// `Some` unless an error was found.
    pub config: Option<Config>,
    /// All errors and warnings, in table order.
    pub problems: Vec<Problem>,
}

impl Validated {
    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
    }
    /// The warnings only.
    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Warning)
    }
}

/// The default system prompt: short spoken answers, no markup the voice would read out.
pub const DEFAULT_SYSTEM_PROMPT: &str = "You are GoAssist, a friendly voice assistant. \
Answer in one or two short spoken sentences. Do not use lists, markdown or emoji.";

/// Reads variables from the process environment.
pub fn from_env() -> Validated {
    let vars: BTreeMap<String, String> = std::env::vars().collect();
    validate(&vars)
}

/// Validates a set of variables (the environment, or a map in tests).
pub fn validate(vars: &BTreeMap<String, String>) -> Validated {
    let mut v = Reader {
        vars,
        problems: Vec::new(),
    };

    let api_host = v.optional(
        "API_HOST",
        "an IP address such as 0.0.0.0 or 127.0.0.1",
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        "0.0.0.0",
        |s| s.parse::<IpAddr>().ok(),
    );
    let api_port = v.range("API_PORT", 1024, 65535, 8081u16);
    let log_level = v.optional(
        "LOG_LEVEL",
        "one of DEBUG, INFO, WARN, ERROR",
        LogLevel::Info,
        "INFO",
        parse_log_level,
    );
    let log_dir = v.get("LOG_DIR").map(PathBuf::from);
    let metrics_port = match v.get("METRICS_PORT") {
        Some("0") | Some("off") => None,
        _ => Some(v.range("METRICS_PORT", 1024, 65535, 9464u16)),
    };
    let max_concurrent_sessions = v.required_range("MAX_CONCURRENT_SESSIONS", 1, 100);
    let session_idle_timeout_s = v.range("SESSION_IDLE_TIMEOUT_S", 60, 3600, 300u64);
    let drain_timeout_s = v.range("DRAIN_TIMEOUT_S", 1, 3600, 30u64);
    let admin_token = v.get("ADMIN_TOKEN").map(Secret::new);
    if let Some(token) = &admin_token
        && token.expose().len() < 16
    {
        v.warn("ADMIN_TOKEN", "ADMIN_TOKEN is shorter than 16 characters; use a long random token (e.g. `openssl rand -hex 32`)".into());
    }
    // --- operations: scoped admin tokens and alert thresholds
    let admin_tokens = match v.get("ADMIN_TOKENS") {
        None => Vec::new(),
        Some(value) => match crate::admin_tokens::parse_admin_tokens(value) {
            Ok(tokens) => tokens,
            Err(message) => {
                v.error("ADMIN_TOKENS", message);
                Vec::new()
            }
        },
    };
    for token in &admin_tokens {
        if token.secret.expose().len() < crate::admin_tokens::MIN_SECRET_LEN {
            v.warn("ADMIN_TOKENS", format!("ADMIN_TOKENS: the secret of {} is shorter than 16 characters; use a long random token (e.g. `openssl rand -hex 32`)", token.name));
        }
        if admin_token.as_ref() == Some(&token.secret) {
            v.error(
                "ADMIN_TOKENS",
                format!(
                    "ADMIN_TOKENS: {} has the same secret as ADMIN_TOKEN",
                    token.name
                ),
            );
        }
    }
    let alert_crash_loop_threshold = v.range("ALERT_CRASH_LOOP_THRESHOLD", 1, 100, 3u32);
    let models_dir = PathBuf::from(v.get("MODELS_DIR").unwrap_or("models"));

    // LLM: a remote server, or a local GGUF file.
    let llm = match v.get("LLM_BASE_URL") {
        Some(url) => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                v.error("LLM_BASE_URL", format!("LLM_BASE_URL='{url}' is not an http:// or https:// URL (an OpenAI-compatible server, e.g. http://vllm:8000/v1)"));
            }
            Some(LlmBackendConfig::Remote {
                base_url: url.trim_end_matches('/').to_string(),
                api_key: v.get("LLM_API_KEY").map(Secret::new),
                model: v.get("LLM_MODEL_NAME").unwrap_or("default").to_string(),
                timeout_s: v.range("LLM_REQUEST_TIMEOUT_S", 1, 600, 60u64),
            })
        }
        None => v
            .existing_path(
                "LLM_MODEL_PATH",
                "LLM model not found",
                &models_dir,
                PathKind::File,
            )
            .map(|model_path| LlmBackendConfig::Local { model_path }),
    };
    let llm_max_context_tokens = v.range("LLM_MAX_CONTEXT_TOKENS", 1024, 8192, 8192usize);
    let llm_prefix_caching = v.boolean("LLM_PREFIX_CACHING", true);
    let llm_vram_cap_gb = v.range("LLM_VRAM_CAP_GB", 8, 80, 20u32);
    if let Some(gpu_gb) = gpu_memory_gb()
        && f64::from(llm_vram_cap_gb) > gpu_gb
    {
        v.warn(
            "LLM_VRAM_CAP_GB",
            format!("LLM_VRAM_CAP_GB={llm_vram_cap_gb} is above the {gpu_gb:.0} GB this GPU has"),
        );
    }
    let llm_max_batch_size = v.range("LLM_MAX_BATCH_SIZE", 1, 256, 8usize);
    let llm_max_new_tokens = v.range("LLM_MAX_NEW_TOKENS", 16, 2048, 160usize);
    let llm_system_prompt = v
        .get("LLM_SYSTEM_PROMPT")
        .unwrap_or(DEFAULT_SYSTEM_PROMPT)
        .to_string();

    let asr_model_path = v.existing_path(
        "ASR_MODEL_PATH",
        "ASR model not found",
        &models_dir,
        PathKind::Any,
    );
    let vad_engine = v.optional(
        "VAD_ENGINE",
        "silero or webrtc",
        VadEngineKind::Silero,
        "silero",
        |s| match s {
            "silero" => Some(VadEngineKind::Silero),
            "webrtc" => Some(VadEngineKind::Webrtc),
            _ => None,
        },
    );
    let vad_end_of_turn_silence_ms = v.range("VAD_END_OF_TURN_SILENCE_MS", 200, 3000, 600u32);
    let barge_in_min_speech_ms = v.range("BARGE_IN_MIN_SPEECH_MS", 50, 2000, 250u32);

    let tts_engine = match v.get("TTS_ENGINE") {
        None => {
            v.error(
                "TTS_ENGINE",
                "TTS engine not specified: set TTS_ENGINE (valid: piper)".into(),
            );
            None
        }
        Some("piper") => Some(TtsEngineKind::Piper),
        Some(other) => {
            v.error(
                "TTS_ENGINE",
                format!("TTS_ENGINE='{other}' is not a known TTS engine (valid: piper)"),
            );
            None
        }
    };
    let tts_model_path = v.existing_path(
        "TTS_MODEL_PATH",
        "TTS model not found",
        &models_dir,
        PathKind::Any,
    );

    let mut audio_packet_ms = v.range("AUDIO_PACKET_MS", 10, 40, 20u32);
    if ![10, 20, 40].contains(&audio_packet_ms) {
        v.warn("AUDIO_PACKET_MS", format!("AUDIO_PACKET_MS={audio_packet_ms} is not an Opus frame size (valid: 10, 20, 40); using default 20"));
        audio_packet_ms = 20;
    }
    let mut audio_overlap_ms = v.range("AUDIO_OVERLAP_MS", 0, 20, 5u32);
    if audio_overlap_ms >= audio_packet_ms {
        v.warn("AUDIO_OVERLAP_MS", format!("AUDIO_OVERLAP_MS={audio_overlap_ms} must be shorter than AUDIO_PACKET_MS={audio_packet_ms}; using default 5"));
        audio_overlap_ms = 5;
    }

    let animation_enabled = v.boolean("ANIMATION_ENABLED", true);
    let animation_engine = match v.get("ANIMATION_ENGINE") {
        None => AnimationEngineKind::Audio2Face,
        Some("audio2face") => AnimationEngineKind::Audio2Face,
        Some("lam") => AnimationEngineKind::Lam,
        Some(other) => {
            let message =
                format!("ANIMATION_ENGINE='{other}' is not valid (valid: audio2face, lam)");
            if animation_enabled {
                v.error(
                    "ANIMATION_ENGINE",
                    format!("{message}; it is required while ANIMATION_ENABLED=true"),
                );
            } else {
                v.warn(
                    "ANIMATION_ENGINE",
                    format!("{message}; animation is disabled, using default audio2face"),
                );
            }
            AnimationEngineKind::Audio2Face
        }
    };
    let animation_fallback = v.optional(
        "ANIMATION_FALLBACK",
        "lam or none",
        AnimationFallback::Lam,
        "lam",
        |s| match s {
            "lam" => Some(AnimationFallback::Lam),
            "none" => Some(AnimationFallback::None),
            _ => None,
        },
    );
    let animation_fps = v.optional("ANIMATION_FPS", "30 or 60", 30u32, "30", |s| match s {
        "30" => Some(30),
        "60" => Some(60),
        _ => None,
    });
    let animation_drop_if_lag_ms = v.range("ANIMATION_DROP_IF_LAG_MS", 50, 200, 120u32);
    let animation_slow_freeze_ms = v.range("ANIMATION_SLOW_FREEZE_MS", 100, 300, 150u32);
    let animation_deadline_ms = v.range("ANIMATION_DEADLINE_MS", 10, 10_000, 500u32);
    let lam_onnx_model = match v.get("LAM_ONNX_MODEL") {
        None => None,
        Some(_) => v
            .existing_path(
                "LAM_ONNX_MODEL",
                "lam ONNX model not found",
                &models_dir,
                PathKind::File,
            )
            .filter(|model| {
                // The model's contract (rate, fps, output names) lives beside it.
                let sidecar = PathBuf::from(format!("{}.json", model.display()));
                let found = sidecar.is_file();
                if !found {
                    v.error("LAM_ONNX_MODEL", format!("lam ONNX model has no sidecar: {} is missing (sample_rate, fps, outputs; see docs/face.md)", sidecar.display()));
                }
                found
            }),
    };
    let audio2face_url = v.get("AUDIO2FACE_URL").map(str::to_string);
    let audio2face_api_key = v.get("AUDIO2FACE_API_KEY").map(Secret::new);

    let stun_server = v.optional(
        "WEBRTC_STUN_SERVER",
        "a STUN URI stun:host[:port] or stuns:host[:port]",
        "stun:stun.l.google.com:19302".to_string(),
        "stun:stun.l.google.com:19302",
        |s| is_ice_uri(s, &["stun:", "stuns:"]).then(|| s.to_string()),
    );
    let turn_server = match v.get("WEBRTC_TURN_SERVER") {
        None => None,
        Some(url) => {
            if !is_ice_uri(url, &["turn:", "turns:"]) {
                v.error("WEBRTC_TURN_SERVER", format!("WEBRTC_TURN_SERVER='{url}' is not a TURN URI (turn:host[:port][?transport=udp|tcp] or turns:...)"));
            }
            let username = v.get("WEBRTC_TURN_USERNAME").map(str::to_string);
            let password = v.get("WEBRTC_TURN_PASSWORD").map(Secret::new);
            if username.is_none() {
                v.error("WEBRTC_TURN_USERNAME", "WEBRTC_TURN_USERNAME is missing or empty; it is required when WEBRTC_TURN_SERVER is set".into());
            }
            if password.is_none() {
                v.error("WEBRTC_TURN_PASSWORD", "WEBRTC_TURN_PASSWORD is missing or empty; it is required when WEBRTC_TURN_SERVER is set".into());
            }
            Some(IceServer {
                url: url.to_string(),
                username,
                credential: password,
            })
        }
    };
    let port_min = v.range("WEBRTC_UDP_PORT_MIN", 1024, 65535, 9000u16);
    let port_max = v.range("WEBRTC_UDP_PORT_MAX", 1024, 65535, 9200u16);
    let webrtc_udp_ports = if port_min > port_max {
        v.error("WEBRTC_UDP_PORT_MIN", format!("WEBRTC_UDP_PORT_MIN={port_min} is above WEBRTC_UDP_PORT_MAX={port_max}; the range must not be empty"));
        (port_min, port_max)
    } else {
        (port_min, port_max)
    };
    if let Some(max) = max_concurrent_sessions {
        let ports = usize::from(webrtc_udp_ports.1.saturating_sub(webrtc_udp_ports.0)) + 1;
        if port_min <= port_max && ports < max {
            v.warn("WEBRTC_UDP_PORT_MAX", format!("the UDP range {port_min}-{port_max} holds {ports} ports, fewer than MAX_CONCURRENT_SESSIONS={max} (one port per session)"));
        }
    }
    let webrtc_public_ips = match v.get("WEBRTC_PUBLIC_IPS") {
        None => Vec::new(),
        Some(list) => {
            let parsed: Result<Vec<IpAddr>, _> = list
                .split(',')
                .map(|s| s.trim().parse::<IpAddr>())
                .collect();
            parsed.unwrap_or_else(|_| {
                v.error(
                    "WEBRTC_PUBLIC_IPS",
                    format!(
                        "WEBRTC_PUBLIC_IPS='{list}' is not a comma-separated list of IP addresses"
                    ),
                );
                Vec::new()
            })
        }
    };
    let render_bridge_addr = match v.get("RENDER_BRIDGE_ADDR") {
        None => None,
        Some(addr) => match addr.to_socket_addrs().ok().and_then(|mut a| a.next()) {
            Some(a) => Some(a),
            None => {
                v.error("RENDER_BRIDGE_ADDR", format!("RENDER_BRIDGE_ADDR='{addr}' is not a host:port that resolves (e.g. render-pod:11112)"));
                None
            }
        },
    };
    let render_bridge_send_audio = v.boolean("RENDER_BRIDGE_SEND_AUDIO", false);

    let problems = v.problems;
    let has_errors = problems.iter().any(|p| p.severity == Severity::Error);
    let config = match (
        has_errors,
        max_concurrent_sessions,
        llm,
        asr_model_path,
        tts_engine,
        tts_model_path,
    ) {
        (
            false,
            Some(max_concurrent_sessions),
            Some(llm),
            Some(asr_model_path),
            Some(tts_engine),
            Some(tts_model_path),
        ) => Some(Config {
            api_host,
            api_port,
            log_level,
            log_dir,
            metrics_port,
            max_concurrent_sessions,
            session_idle_timeout_s,
            drain_timeout_s,
            admin_token,
            admin_tokens,
            alert_crash_loop_threshold,
            models_dir,
            llm,
            llm_max_context_tokens,
            llm_prefix_caching,
            llm_vram_cap_gb,
            llm_max_batch_size,
            llm_max_new_tokens,
            llm_system_prompt,
            asr_model_path,
            vad_engine,
            vad_end_of_turn_silence_ms,
            barge_in_min_speech_ms,
            tts_engine,
            tts_model_path,
            audio_packet_ms,
            audio_overlap_ms,
            animation_enabled,
            animation_engine,
            animation_fallback,
            animation_fps,
            animation_drop_if_lag_ms,
            animation_slow_freeze_ms,
            animation_deadline_ms,
            lam_onnx_model,
            audio2face_url,
            audio2face_api_key,
            stun_server,
            turn_server,
            webrtc_udp_ports,
            webrtc_public_ips,
            render_bridge_addr,
            render_bridge_send_audio,
        }),
        _ => None,
    };
    Validated { config, problems }
}

impl Config {
    /// The ICE servers handed to WebRTC clients (STUN always, TURN when configured).
    pub fn ice_servers(&self) -> Vec<IceServer> {
        let mut servers = vec![IceServer {
            url: self.stun_server.clone(),
            username: None,
            credential: None,
        }];
        servers.extend(self.turn_server.clone());
        servers
    }

    /// The effective configuration as `NAME=value` lines, secrets redacted (`--check-config`).
    pub fn describe(&self) -> Vec<(String, String)> {
        let redacted = |s: &Option<Secret>| {
            s.as_ref()
                .map_or("(unset)".to_string(), |_| "<redacted>".to_string())
        };
        let opt = |s: &Option<String>| s.clone().unwrap_or_else(|| "(unset)".into());
        let mut out: Vec<(&str, String)> = vec![
            ("API_HOST", self.api_host.to_string()),
            ("API_PORT", self.api_port.to_string()),
            ("LOG_LEVEL", format!("{:?}", self.log_level).to_uppercase()),
            (
                "LOG_DIR",
                self.log_dir
                    .as_ref()
                    .map_or("(unset)".into(), |p| p.display().to_string()),
            ),
            (
                "METRICS_PORT",
                self.metrics_port
                    .map_or("0 (off)".into(), |p| p.to_string()),
            ),
            (
                "MAX_CONCURRENT_SESSIONS",
                self.max_concurrent_sessions.to_string(),
            ),
            (
                "SESSION_IDLE_TIMEOUT_S",
                self.session_idle_timeout_s.to_string(),
            ),
            ("DRAIN_TIMEOUT_S", self.drain_timeout_s.to_string()),
            ("ADMIN_TOKEN", redacted(&self.admin_token)),
            (
                "ADMIN_TOKENS",
                if self.admin_tokens.is_empty() {
                    "(unset)".into()
                } else {
                    self.admin_tokens
                        .iter()
                        .map(|t| format!("{}:{}:<redacted>", t.name, t.scope.as_str()))
                        .collect::<Vec<_>>()
                        .join(",")
                },
            ),
            (
                "ALERT_CRASH_LOOP_THRESHOLD",
                self.alert_crash_loop_threshold.to_string(),
            ),
            ("MODELS_DIR", self.models_dir.display().to_string()),
        ];
        match &self.llm {
            LlmBackendConfig::Local { model_path } => {
                out.push(("LLM_MODEL_PATH", model_path.display().to_string()))
            }
            LlmBackendConfig::Remote {
                base_url,
                api_key,
                model,
                timeout_s,
            } => {
                out.push(("LLM_BASE_URL", base_url.clone()));
                out.push(("LLM_API_KEY", redacted(api_key)));
                out.push(("LLM_MODEL_NAME", model.clone()));
                out.push(("LLM_REQUEST_TIMEOUT_S", timeout_s.to_string()));
            }
        }
        out.extend([
            (
                "LLM_MAX_CONTEXT_TOKENS",
                self.llm_max_context_tokens.to_string(),
            ),
            ("LLM_PREFIX_CACHING", self.llm_prefix_caching.to_string()),
            ("LLM_VRAM_CAP_GB", self.llm_vram_cap_gb.to_string()),
            ("LLM_MAX_BATCH_SIZE", self.llm_max_batch_size.to_string()),
            ("LLM_MAX_NEW_TOKENS", self.llm_max_new_tokens.to_string()),
            ("LLM_SYSTEM_PROMPT", format!("{:?}", self.llm_system_prompt)),
            ("ASR_MODEL_PATH", self.asr_model_path.display().to_string()),
            (
                "VAD_ENGINE",
                format!("{:?}", self.vad_engine).to_lowercase(),
            ),
            (
                "VAD_END_OF_TURN_SILENCE_MS",
                self.vad_end_of_turn_silence_ms.to_string(),
            ),
            (
                "BARGE_IN_MIN_SPEECH_MS",
                self.barge_in_min_speech_ms.to_string(),
            ),
            (
                "TTS_ENGINE",
                format!("{:?}", self.tts_engine).to_lowercase(),
            ),
            ("TTS_MODEL_PATH", self.tts_model_path.display().to_string()),
            ("AUDIO_PACKET_MS", self.audio_packet_ms.to_string()),
            ("AUDIO_OVERLAP_MS", self.audio_overlap_ms.to_string()),
            ("ANIMATION_ENABLED", self.animation_enabled.to_string()),
            (
                "ANIMATION_ENGINE",
                format!("{:?}", self.animation_engine).to_lowercase(),
            ),
            (
                "ANIMATION_FALLBACK",
                format!("{:?}", self.animation_fallback).to_lowercase(),
            ),
            ("ANIMATION_FPS", self.animation_fps.to_string()),
            (
                "ANIMATION_DROP_IF_LAG_MS",
                self.animation_drop_if_lag_ms.to_string(),
            ),
            (
                "ANIMATION_SLOW_FREEZE_MS",
                self.animation_slow_freeze_ms.to_string(),
            ),
            (
                "ANIMATION_DEADLINE_MS",
                self.animation_deadline_ms.to_string(),
            ),
            (
                "LAM_ONNX_MODEL",
                self.lam_onnx_model
                    .as_ref()
                    .map_or("(unset)".into(), |p| p.display().to_string()),
            ),
            ("AUDIO2FACE_URL", opt(&self.audio2face_url)),
            ("AUDIO2FACE_API_KEY", redacted(&self.audio2face_api_key)),
            ("WEBRTC_STUN_SERVER", self.stun_server.clone()),
            (
                "WEBRTC_TURN_SERVER",
                self.turn_server
                    .as_ref()
                    .map_or("(unset)".into(), |t| t.url.clone()),
            ),
            (
                "WEBRTC_TURN_USERNAME",
                self.turn_server
                    .as_ref()
                    .and_then(|t| t.username.clone())
                    .unwrap_or_else(|| "(unset)".into()),
            ),
            (
                "WEBRTC_TURN_PASSWORD",
                redacted(&self.turn_server.as_ref().and_then(|t| t.credential.clone())),
            ),
            ("WEBRTC_UDP_PORT_MIN", self.webrtc_udp_ports.0.to_string()),
            ("WEBRTC_UDP_PORT_MAX", self.webrtc_udp_ports.1.to_string()),
            (
                "WEBRTC_PUBLIC_IPS",
                if self.webrtc_public_ips.is_empty() {
                    "(interfaces)".into()
                } else {
                    self.webrtc_public_ips
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                },
            ),
            (
                "RENDER_BRIDGE_ADDR",
                self.render_bridge_addr
                    .map_or("(unset)".into(), |a| a.to_string()),
            ),
            (
                "RENDER_BRIDGE_SEND_AUDIO",
                self.render_bridge_send_audio.to_string(),
            ),
        ]);
        out.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }
}

fn parse_log_level(s: &str) -> Option<LogLevel> {
    match s.to_ascii_uppercase().as_str() {
        "DEBUG" => Some(LogLevel::Debug),
        "INFO" => Some(LogLevel::Info),
        "WARN" => Some(LogLevel::Warn),
        "ERROR" => Some(LogLevel::Error),
        _ => None,
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

/// The first GPU's memory in GB from `nvidia-smi`, when there is one.
fn gpu_memory_gb() -> Option<f64> {
    let out = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=memory.total", "--format=csv,noheader,nounits"])
        .output()
        .ok()?;
    let mib: f64 = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()?;
    Some(mib / 1024.0)
}

#[derive(Clone, Copy)]
enum PathKind {
    File,
    Any,
}

struct Reader<'a> {
    vars: &'a BTreeMap<String, String>,
    problems: Vec<Problem>,
}

impl<'a> Reader<'a> {
    /// A set, non-empty (after trimming) value.
    fn get(&self, name: &str) -> Option<&'a str> {
        self.vars
            .get(name)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }

    fn error(&mut self, variable: &'static str, message: String) {
        self.problems.push(Problem {
            severity: Severity::Error,
            variable,
            message,
        });
    }

    fn warn(&mut self, variable: &'static str, message: String) {
        self.problems.push(Problem {
            severity: Severity::Warning,
            variable,
            message,
        });
    }

    fn optional<T>(
        &mut self,
        name: &'static str,
        valid: &str,
        default: T,
        default_text: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> T {
        match self.get(name) {
            None => default,
            Some(raw) => match parse(raw) {
                Some(value) => value,
                None => {
                    let raw = raw.to_string();
                    self.warn(name, format!("{name}='{raw}' is invalid (valid: {valid}); using default {default_text}"));
                    default
                }
            },
        }
    }

    fn range<T>(&mut self, name: &'static str, min: T, max: T, default: T) -> T
    where
        T: std::str::FromStr + PartialOrd + Copy + fmt::Display,
    {
        let valid = format!("{min}–{max}");
        let default_text = default.to_string();
        self.optional(name, &valid, default, &default_text, |s| {
            s.parse::<T>().ok().filter(|v| *v >= min && *v <= max)
        })
    }

    fn required_range(&mut self, name: &'static str, min: usize, max: usize) -> Option<usize> {
        match self.get(name) {
            None => {
                self.error(name, format!("{name} is required (valid: {min}–{max})"));
                None
            }
            Some(raw) => match raw
                .parse::<usize>()
                .ok()
                .filter(|v| (min..=max).contains(v))
            {
                Some(v) => Some(v),
                None => {
                    let raw = raw.to_string();
                    self.error(
                        name,
                        format!("{name}='{raw}' is invalid (valid: an integer {min}–{max})"),
                    );
                    None
                }
            },
        }
    }

    fn boolean(&mut self, name: &'static str, default: bool) -> bool {
        self.optional(
            name,
            "true or false",
            default,
            if default { "true" } else { "false" },
            |s| match s.to_ascii_lowercase().as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
        )
    }

    /// A required path that must exist; relative paths are resolved against `MODELS_DIR`.
    fn existing_path(
        &mut self,
        name: &'static str,
        not_found: &str,
        models_dir: &Path,
        kind: PathKind,
    ) -> Option<PathBuf> {
        let Some(raw) = self.get(name) else {
            self.error(
                name,
                format!(
                    "{not_found}: {name} is not set (valid: the path of {})",
                    kind_text(kind)
                ),
            );
            return None;
        };
        // A relative path is taken as given when it exists from the working directory, else
        // inside MODELS_DIR, so `LLM_MODEL_PATH=llm/x.gguf` works wherever the server starts.
        let path = PathBuf::from(raw);
        let resolved = if path.is_absolute() || path.exists() {
            path
        } else {
            models_dir.join(path)
        };
        let ok = match kind {
            PathKind::File => resolved.is_file(),
            PathKind::Any => resolved.exists(),
        };
        if ok {
            Some(resolved)
        } else {
            let raw = raw.to_string();
            self.error(
                name,
                format!(
                    "{not_found}: {name}='{raw}' ({}) does not exist or is not {}",
                    resolved.display(),
                    kind_text(kind)
                ),
            );
            None
        }
    }
}

fn kind_text(kind: PathKind) -> &'static str {
    match kind {
        PathKind::File => "a file",
        PathKind::Any => "a file or directory",
    }
}
