//! Every row of the operator's configuration table, and "report all problems at once".

use std::collections::BTreeMap;
use std::path::PathBuf;

use goassist_engines::asr::AsrLanguage;
use goassist_inference::config::{
    self, AnimationEngineKind, AnimationFallback, AsrEngineKind, LlmBackendConfig, Severity,
    VadEngineKind,
};

/// A temporary model tree with the three required model paths.
struct Models {
    dir: PathBuf,
}

impl Models {
    fn new(tag: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("goassist-config-test-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("asr")).unwrap();
        std::fs::write(dir.join("llm.gguf"), b"GGUF").unwrap();
        std::fs::write(dir.join("voice.onnx"), b"onnx").unwrap();
        Models { dir }
    }
    fn vars(&self) -> BTreeMap<String, String> {
        let mut vars = BTreeMap::new();
        vars.insert("MAX_CONCURRENT_SESSIONS".into(), "4".into());
        vars.insert(
            "LLM_MODEL_PATH".into(),
            self.dir.join("llm.gguf").display().to_string(),
        );
        vars.insert(
            "ASR_MODEL_PATH".into(),
            self.dir.join("asr").display().to_string(),
        );
        vars.insert("TTS_ENGINE".into(), "piper".into());
        vars.insert(
            "TTS_MODEL_PATH".into(),
            self.dir.join("voice.onnx").display().to_string(),
        );
        vars
    }
}

impl Drop for Models {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn with(mut vars: BTreeMap<String, String>, changes: &[(&str, Option<&str>)]) -> config::Validated {
    for (k, v) in changes {
        match v {
            Some(v) => vars.insert(k.to_string(), v.to_string()),
            None => vars.remove(*k),
        };
    }
    config::validate(&vars)
}

fn messages(v: &config::Validated, severity: Severity) -> Vec<String> {
    v.problems
        .iter()
        .filter(|p| p.severity == severity)
        .map(|p| p.message.clone())
        .collect()
}

#[test]
fn minimal_valid_environment_gives_the_documented_defaults() {
    let m = Models::new("defaults");
    let v = config::validate(&m.vars());
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    let c = v.config.unwrap();
    assert_eq!(c.api_host.to_string(), "0.0.0.0");
    assert_eq!(c.api_port, 8081);
    assert_eq!(c.log_level, config::LogLevel::Info);
    assert_eq!(c.max_concurrent_sessions, 4);
    assert_eq!(c.session_idle_timeout_s, 300);
    assert!(matches!(c.llm, LlmBackendConfig::Local { .. }));
    assert_eq!(c.llm_max_context_tokens, 8192);
    assert!(c.llm_prefix_caching);
    assert_eq!(c.llm_vram_cap_gb, 20);
    assert_eq!(c.llm_max_batch_size, 8);
    assert_eq!(c.vad_engine, VadEngineKind::Silero);
    assert_eq!(c.audio_packet_ms, 20);
    assert_eq!(c.audio_overlap_ms, 5);
    assert!(c.animation_enabled);
    assert_eq!(c.animation_engine, AnimationEngineKind::Audio2Face);
    assert_eq!(c.animation_fallback, AnimationFallback::Lam);
    assert_eq!(c.animation_drop_if_lag_ms, 120);
    assert_eq!(c.animation_slow_freeze_ms, 150);
    assert_eq!(c.animation_deadline_ms, 500);
    assert_eq!(c.lam_onnx_model, None);
    assert_eq!(c.stun_server, "stun:stun.l.google.com:19302");
    assert!(c.turn_server.is_none());
    assert_eq!(c.webrtc_udp_ports, (9000, 9200));
    assert_eq!(c.metrics_port, Some(9464));
}

#[test]
fn optional_values_out_of_range_warn_with_variable_value_range_and_default() {
    let m = Models::new("optional");
    let cases: &[(&str, &str, &str, &str)] = &[
        ("API_HOST", "not-an-ip", "IP address", "0.0.0.0"),
        ("API_PORT", "80", "1024–65535", "8081"),
        ("API_PORT", "70000", "1024–65535", "8081"),
        ("LOG_LEVEL", "VERBOSE", "DEBUG, INFO, WARN, ERROR", "INFO"),
        ("SESSION_IDLE_TIMEOUT_S", "59", "60–3600", "300"),
        ("SESSION_IDLE_TIMEOUT_S", "3601", "60–3600", "300"),
        ("LLM_MAX_CONTEXT_TOKENS", "512", "1024–8192", "8192"),
        ("LLM_MAX_CONTEXT_TOKENS", "9000", "1024–8192", "8192"),
        ("LLM_PREFIX_CACHING", "yes", "true or false", "true"),
        ("LLM_VRAM_CAP_GB", "4", "8–80", "20"),
        ("LLM_VRAM_CAP_GB", "81", "8–80", "20"),
        ("VAD_ENGINE", "cobra", "silero or webrtc", "silero"),
        ("AUDIO_PACKET_MS", "5", "10, 20, 40", "20"),
        ("AUDIO_PACKET_MS", "41", "10, 20, 40", "20"),
        ("AUDIO_OVERLAP_MS", "21", "0–20", "5"),
        ("ANIMATION_ENABLED", "maybe", "true or false", "true"),
        ("ANIMATION_FALLBACK", "audio2face", "lam or none", "lam"),
        ("ANIMATION_DROP_IF_LAG_MS", "49", "50–200", "120"),
        ("ANIMATION_DROP_IF_LAG_MS", "201", "50–200", "120"),
        ("ANIMATION_SLOW_FREEZE_MS", "99", "100–300", "150"),
        ("ANIMATION_SLOW_FREEZE_MS", "301", "100–300", "150"),
        ("ANIMATION_DEADLINE_MS", "9", "10–10000", "500"),
        ("ANIMATION_DEADLINE_MS", "soon", "10–10000", "500"),
        (
            "WEBRTC_STUN_SERVER",
            "http://stun.example",
            "STUN URI",
            "stun:stun.l.google.com:19302",
        ),
        ("LLM_MAX_BATCH_SIZE", "0", "1–256", "8"),
    ];
    for (name, value, valid, default) in cases {
        let v = with(m.vars(), &[(name, Some(value))]);
        assert!(
            v.config.is_some(),
            "{name}={value} must not stop start-up: {:?}",
            v.problems
        );
        let warnings = messages(&v, Severity::Warning);
        assert_eq!(warnings.len(), 1, "{name}={value}: {warnings:?}");
        let w = &warnings[0];
        assert!(
            w.contains(name) && w.contains(value) && w.contains(valid) && w.contains(default),
            "{name}={value}: {w}"
        );
    }
}

#[test]
fn valid_optional_values_are_taken() {
    let m = Models::new("valid");
    let v = with(
        m.vars(),
        &[
            ("API_HOST", Some("127.0.0.1")),
            ("API_PORT", Some("18081")),
            ("LOG_LEVEL", Some("DEBUG")),
            ("SESSION_IDLE_TIMEOUT_S", Some("60")),
            ("LLM_MAX_CONTEXT_TOKENS", Some("1024")),
            ("LLM_PREFIX_CACHING", Some("false")),
            ("LLM_VRAM_CAP_GB", Some("8")),
            ("VAD_ENGINE", Some("webrtc")),
            ("AUDIO_PACKET_MS", Some("40")),
            ("AUDIO_OVERLAP_MS", Some("0")),
            ("ANIMATION_ENABLED", Some("false")),
            ("ANIMATION_ENGINE", Some("lam")),
            ("ANIMATION_FALLBACK", Some("none")),
            ("ANIMATION_DROP_IF_LAG_MS", Some("200")),
            ("ANIMATION_SLOW_FREEZE_MS", Some("300")),
            ("WEBRTC_STUN_SERVER", Some("stun:127.0.0.1:3478")),
        ],
    );
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    let c = v.config.unwrap();
    assert_eq!(c.api_port, 18081);
    assert_eq!(c.log_level, config::LogLevel::Debug);
    assert!(!c.llm_prefix_caching);
    assert_eq!(c.vad_engine, VadEngineKind::Webrtc);
    assert_eq!((c.audio_packet_ms, c.audio_overlap_ms), (40, 0));
    assert!(!c.animation_enabled);
    assert_eq!(c.animation_engine, AnimationEngineKind::Lam);
    assert_eq!(c.animation_fallback, AnimationFallback::None);
    assert_eq!(c.stun_server, "stun:127.0.0.1:3478");
}

#[test]
fn required_variables_fail_with_the_runbook_messages() {
    let m = Models::new("required");
    let cases: &[(&str, Option<&str>, &str)] = &[
        (
            "MAX_CONCURRENT_SESSIONS",
            None,
            "MAX_CONCURRENT_SESSIONS is required (valid: 1–100)",
        ),
        (
            "MAX_CONCURRENT_SESSIONS",
            Some("0"),
            "MAX_CONCURRENT_SESSIONS='0' is invalid (valid: 1–100)",
        ),
        (
            "MAX_CONCURRENT_SESSIONS",
            Some("101"),
            "MAX_CONCURRENT_SESSIONS='101' is invalid",
        ),
        (
            "MAX_CONCURRENT_SESSIONS",
            Some("ten"),
            "MAX_CONCURRENT_SESSIONS='ten' is invalid",
        ),
        ("LLM_MODEL_PATH", None, "LLM model not found"),
        (
            "LLM_MODEL_PATH",
            Some("/nonexistent/model.gguf"),
            "LLM model not found: LLM_MODEL_PATH='/nonexistent/model.gguf'",
        ),
        ("ASR_MODEL_PATH", None, "ASR model not found"),
        (
            "ASR_MODEL_PATH",
            Some("/nonexistent/asr"),
            "ASR model not found: ASR_MODEL_PATH='/nonexistent/asr'",
        ),
        ("TTS_ENGINE", None, "TTS engine not specified"),
        (
            "TTS_ENGINE",
            Some("festival"),
            "TTS_ENGINE='festival' is invalid (valid: piper)",
        ),
        ("TTS_MODEL_PATH", None, "TTS model not found"),
        (
            "TTS_MODEL_PATH",
            Some("/nonexistent/voice.onnx"),
            "TTS model not found: TTS_MODEL_PATH='/nonexistent/voice.onnx'",
        ),
        (
            "ANIMATION_ENGINE",
            Some("unreal"),
            "ANIMATION_ENGINE='unreal' is invalid (valid: audio2face or lam); it is required while ANIMATION_ENABLED=true",
        ),
    ];
    for (name, value, expected) in cases {
        let v = with(m.vars(), &[(name, *value)]);
        assert!(v.config.is_none(), "{name}={value:?} must stop start-up");
        let errors = messages(&v, Severity::Error);
        assert_eq!(errors.len(), 1, "{name}={value:?}: {errors:?}");
        assert!(
            errors[0].contains(expected),
            "{name}={value:?}: got '{}', want '{expected}'",
            errors[0]
        );
    }
}

#[test]
fn a_directory_is_not_an_llm_model_file() {
    let m = Models::new("dir");
    let v = with(
        m.vars(),
        &[("LLM_MODEL_PATH", Some(m.dir.join("asr").to_str().unwrap()))],
    );
    assert!(messages(&v, Severity::Error)[0].contains("LLM model not found"));
}

#[test]
fn animation_engine_is_only_enforced_while_animation_is_enabled() {
    let m = Models::new("anim");
    let v = with(
        m.vars(),
        &[
            ("ANIMATION_ENABLED", Some("false")),
            ("ANIMATION_ENGINE", Some("unreal")),
        ],
    );
    assert!(v.config.is_some());
    assert_eq!(messages(&v, Severity::Warning).len(), 1);
}

#[test]
fn remote_llm_replaces_the_model_path_and_keeps_its_key_secret() {
    let m = Models::new("remote");
    let v = with(
        m.vars(),
        &[
            ("LLM_MODEL_PATH", None),
            ("LLM_BASE_URL", Some("http://127.0.0.1:8000/v1/")),
            ("LLM_API_KEY", Some("sk-very-secret-key")),
            ("LLM_MODEL_NAME", Some("qwen")),
        ],
    );
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    let effective = v.effective.clone();
    let c = v.config.unwrap();
    match &c.llm {
        LlmBackendConfig::Remote {
            base_url, model, ..
        } => {
            assert_eq!(base_url, "http://127.0.0.1:8000/v1");
            assert_eq!(model, "qwen");
        }
        other => panic!("expected remote, got {other:?}"),
    }
    let printed = format!("{c:?} {effective:?}");
    assert!(
        !printed.contains("sk-very-secret-key"),
        "secret leaked: {printed}"
    );
    assert!(
        effective
            .iter()
            .any(|(k, v)| *k == "LLM_API_KEY" && v == "<redacted>")
    );
    let bad = with(
        m.vars(),
        &[("LLM_MODEL_PATH", None), ("LLM_BASE_URL", Some("ftp://x"))],
    );
    assert!(messages(&bad, Severity::Error)[0].contains("LLM_BASE_URL='ftp://x'"));
}

#[test]
fn turn_requires_username_and_password() {
    let m = Models::new("turn");
    let v = with(
        m.vars(),
        &[("WEBRTC_TURN_SERVER", Some("turn:turn.example.com:3478"))],
    );
    let errors = messages(&v, Severity::Error);
    assert!(v.config.is_none());
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains("WEBRTC_TURN_USERNAME"));
    assert!(errors[1].contains("WEBRTC_TURN_PASSWORD"));

    let v = with(
        m.vars(),
        &[
            ("WEBRTC_TURN_SERVER", Some("turn:turn.example.com:3478")),
            ("WEBRTC_TURN_USERNAME", Some("u")),
            ("WEBRTC_TURN_PASSWORD", Some("turn-secret-pw")),
        ],
    );
    assert!(!format!("{:?}", v.effective).contains("turn-secret-pw"));
    let c = v.config.expect("valid TURN");
    assert_eq!(c.ice_servers("client-1", 0).len(), 2);
    assert!(!format!("{c:?}").contains("turn-secret-pw"));

    let v = with(
        m.vars(),
        &[
            ("WEBRTC_TURN_SERVER", Some("turn:turn.example.com")),
            ("WEBRTC_TURN_USERNAME", Some("u")),
            ("WEBRTC_TURN_PASSWORD", Some("")),
        ],
    );
    assert!(
        messages(&v, Severity::Error)
            .iter()
            .any(|e| e.contains("WEBRTC_TURN_PASSWORD is missing or empty"))
    );

    let v = with(
        m.vars(),
        &[
            ("WEBRTC_TURN_SERVER", Some("stun:wrong.example")),
            ("WEBRTC_TURN_USERNAME", Some("u")),
            ("WEBRTC_TURN_PASSWORD", Some("p")),
        ],
    );
    assert!(
        messages(&v, Severity::Error)[0]
            .contains("WEBRTC_TURN_SERVER='stun:wrong.example' is invalid (valid: a TURN URI")
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let m = Models::new("all");
    let v = with(
        m.vars(),
        &[
            ("MAX_CONCURRENT_SESSIONS", None),
            ("LLM_MODEL_PATH", Some("/nope.gguf")),
            ("ASR_MODEL_PATH", None),
            ("TTS_ENGINE", None),
            ("TTS_MODEL_PATH", Some("/nope.onnx")),
            ("API_PORT", Some("1")),
            ("WEBRTC_TURN_SERVER", Some("turn:t.example")),
        ],
    );
    assert!(v.config.is_none());
    let errors = messages(&v, Severity::Error);
    for expected in [
        "MAX_CONCURRENT_SESSIONS",
        "LLM model not found",
        "ASR model not found",
        "TTS engine not specified",
        "TTS model not found",
        "WEBRTC_TURN_USERNAME",
        "WEBRTC_TURN_PASSWORD",
    ] {
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "missing '{expected}' in {errors:?}"
        );
    }
    assert_eq!(errors.len(), 7, "{errors:?}");
    assert_eq!(
        messages(&v, Severity::Warning).len(),
        1,
        "API_PORT warning too"
    );
}

#[test]
fn opus_frame_sizes_and_overlap_are_consistent() {
    let m = Models::new("opus");
    let v = with(m.vars(), &[("AUDIO_PACKET_MS", Some("30"))]);
    let c = v.config.as_ref().unwrap();
    assert_eq!(c.audio_packet_ms, 20);
    assert!(
        messages(&v, Severity::Warning)[0]
            .contains("AUDIO_PACKET_MS='30' is invalid (valid: 10, 20, 40); using default 20")
    );
    let v = with(
        m.vars(),
        &[
            ("AUDIO_PACKET_MS", Some("10")),
            ("AUDIO_OVERLAP_MS", Some("15")),
        ],
    );
    assert_eq!(v.config.unwrap().audio_overlap_ms, 5);
}

#[test]
fn relative_model_paths_resolve_inside_models_dir() {
    let m = Models::new("relative");
    let v = with(
        m.vars(),
        &[
            ("MODELS_DIR", Some(m.dir.to_str().unwrap())),
            ("LLM_MODEL_PATH", Some("llm.gguf")),
            ("ASR_MODEL_PATH", Some("asr")),
            ("TTS_MODEL_PATH", Some("voice.onnx")),
        ],
    );
    let c = v.config.expect("relative paths resolve");
    assert_eq!(c.asr_model_path, m.dir.join("asr"));
}

#[test]
fn port_range_must_not_be_empty() {
    let m = Models::new("ports");
    let v = with(
        m.vars(),
        &[
            ("WEBRTC_UDP_PORT_MIN", Some("9300")),
            ("WEBRTC_UDP_PORT_MAX", Some("9200")),
        ],
    );
    assert!(
        messages(&v, Severity::Error)[0]
            .contains("WEBRTC_UDP_PORT_MIN=9300 is above WEBRTC_UDP_PORT_MAX=9200")
    );
}

#[test]
fn a_user_onnx_face_model_needs_the_file_and_its_sidecar() {
    let m = Models::new("lam-onnx");
    let v = with(m.vars(), &[("LAM_ONNX_MODEL", Some("face/mine.onnx"))]);
    let errors = messages(&v, Severity::Error);
    assert!(v.config.is_none());
    assert!(
        errors.len() == 1
            && errors[0].starts_with("lam ONNX model not found: LAM_ONNX_MODEL='face/mine.onnx'"),
        "{errors:?}"
    );

    std::fs::create_dir_all(m.dir.join("face")).unwrap();
    std::fs::write(m.dir.join("face/mine.onnx"), b"onnx").unwrap();
    let with_models_dir = |vars| {
        with(
            vars,
            &[
                ("MODELS_DIR", Some(m.dir.to_str().unwrap())),
                ("LAM_ONNX_MODEL", Some("face/mine.onnx")),
            ],
        )
    };
    let v = with_models_dir(m.vars());
    let errors = messages(&v, Severity::Error);
    assert!(
        errors.len() == 1 && errors[0].contains("mine.onnx.json is missing"),
        "{errors:?}"
    );

    std::fs::write(m.dir.join("face/mine.onnx.json"), b"{}").unwrap();
    let v = with_models_dir(m.vars());
    assert_eq!(
        v.config.unwrap().lam_onnx_model,
        Some(m.dir.join("face/mine.onnx"))
    );
}

#[test]
fn asr_engine_model_and_language_are_checked_together() {
    let m = Models::new("asr-engine");
    let ggml = m.dir.join("ggml-base.bin");
    std::fs::write(&ggml, b"ggml").unwrap();
    let ggml = ggml.display().to_string();

    // Default: Moonshine, English, a model directory.
    let v = config::validate(&m.vars());
    assert!(v.effective.contains(&("ASR_ENGINE", "moonshine".into())));
    let c = v.config.unwrap();
    assert_eq!(c.asr_engine, AsrEngineKind::Moonshine);
    assert_eq!(c.asr_language, AsrLanguage::ENGLISH);
    let v = with(m.vars(), &[("ASR_LANGUAGE", Some("EN"))]);
    assert!(v.problems.is_empty(), "{:?}", v.problems);

    // Moonshine would hear any other language as English: refused, naming what would work.
    for language in ["de", "auto", "klingon"] {
        let v = with(m.vars(), &[("ASR_LANGUAGE", Some(language))]);
        assert!(v.config.is_none(), "ASR_LANGUAGE={language} with moonshine");
        let errors = messages(&v, Severity::Error);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains(&format!("ASR_LANGUAGE='{language}'"))
                && errors[0].contains("ASR_ENGINE=whisper"),
            "{}",
            errors[0]
        );
    }

    // An unknown engine is an error, not a silent default.
    let v = with(m.vars(), &[("ASR_ENGINE", Some("wisper"))]);
    assert!(v.config.is_none());
    let errors = messages(&v, Severity::Error);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("ASR_ENGINE='wisper'") && e.contains("moonshine, whisper")),
        "{errors:?}"
    );

    if !config::WHISPER_BUILT_IN {
        let v = with(m.vars(), &[("ASR_ENGINE", Some("whisper"))]);
        let errors = messages(&v, Severity::Error);
        assert!(
            errors.iter().any(|e| e.contains("`whisper` cargo feature")),
            "{errors:?}"
        );
        return;
    }

    // Whisper: a GGML file, `auto` by default, any Whisper language.
    let whisper = |changes: &[(&str, Option<&str>)]| {
        let mut all = vec![
            ("ASR_ENGINE", Some("whisper")),
            ("ASR_MODEL_PATH", Some(ggml.as_str())),
        ];
        all.extend_from_slice(changes);
        with(m.vars(), &all)
    };
    let c = whisper(&[]).config.unwrap();
    assert_eq!(c.asr_engine, AsrEngineKind::Whisper);
    assert_eq!(c.asr_language, AsrLanguage::Auto);
    let v = whisper(&[("ASR_LANGUAGE", Some("ru"))]);
    assert!(v.effective.contains(&("ASR_ENGINE", "whisper".into())));
    assert!(v.effective.contains(&("ASR_LANGUAGE", "ru".into())));
    assert_eq!(v.config.unwrap().asr_language, AsrLanguage::Code("ru"));

    // An unknown code is refused (a typo must not silently turn into detection).
    let v = whisper(&[("ASR_LANGUAGE", Some("german"))]);
    assert!(v.config.is_none());
    let errors = messages(&v, Severity::Error);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("ASR_LANGUAGE='german'") && errors[0].contains("auto, or a Whisper"),
        "{}",
        errors[0]
    );

    // Whisper's model is one file: the Moonshine directory is refused.
    let v = whisper(&[(
        "ASR_MODEL_PATH",
        Some(m.dir.join("asr").display().to_string().as_str()),
    )]);
    assert!(v.config.is_none());
    let errors = messages(&v, Severity::Error);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("ASR_MODEL_PATH") && e.contains("not a file")),
        "{errors:?}"
    );
}

#[test]
fn the_render_bridge_avatar_id_is_a_number_or_start_up_stops() {
    let m = Models::new("avatar-id");
    assert_eq!(
        config::validate(&m.vars())
            .config
            .unwrap()
            .render_bridge_avatar_id,
        0
    );
    let c = with(m.vars(), &[("RENDER_BRIDGE_AVATAR_ID", Some("7"))]);
    assert_eq!(c.config.unwrap().render_bridge_avatar_id, 7);
    let bad = with(m.vars(), &[("RENDER_BRIDGE_AVATAR_ID", Some("-1"))]);
    assert!(
        bad.config.is_none(),
        "a route that never matches must not start"
    );
    assert!(messages(&bad, Severity::Error)[0].contains("RENDER_BRIDGE_AVATAR_ID='-1'"));
}

/// A stand-in for the CUDA probe (no GPU on CI): reports fixed devices.
struct FakeGpuProbe(goassist_gpu::GpuReport);

impl goassist_gpu::GpuProbe for FakeGpuProbe {
    fn report(&self) -> goassist_gpu::GpuReport {
        self.0.clone()
    }
}

#[test]
fn vram_cap_above_a_gpu_warns_naming_the_gpu_and_no_gpu_says_nothing() {
    use goassist_gpu::{Device, GpuReport};
    let gpus = FakeGpuProbe(GpuReport::Devices(vec![
        Device {
            index: 0,
            name: "NVIDIA RTX A5000".into(),
            vram_total: 24 << 30,
            vram_used: None,
        },
        Device {
            index: 1,
            name: "NVIDIA GeForce RTX 4070".into(),
            vram_total: 12 << 30,
            vram_used: None,
        },
    ]));
    assert_eq!(config::vram_cap_problem(&gpus, 12), None);
    assert_eq!(
        config::vram_cap_problem(&gpus, 20).as_deref(),
        Some("LLM_VRAM_CAP_GB=20 is above the 12.0 GiB that GPU 1 (NVIDIA GeForce RTX 4070) has")
    );
    let none = FakeGpuProbe(GpuReport::NoGpu("no NVIDIA driver".into()));
    assert_eq!(config::vram_cap_problem(&none, 80), None);
}

/// `RENDER_BRIDGE_KEY`: hex or base64 of 32+ bytes, redacted in the effective values and in
/// every message; a short one stops start-up naming the variable.
#[test]
fn the_render_bridge_key_is_long_and_never_printed() {
    let m = Models::new("bridge-key");
    let hex = "6b1e0f2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1";
    assert!(
        config::validate(&m.vars())
            .config
            .unwrap()
            .render_bridge_key
            .is_none()
    );
    let v = with(m.vars(), &[("RENDER_BRIDGE_KEY", Some(hex))]);
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    assert!(
        v.effective
            .contains(&("RENDER_BRIDGE_KEY", "<redacted>".to_string())),
        "{:?}",
        v.effective
    );
    let c = v.config.unwrap();
    assert_eq!(
        c.render_bridge_key,
        Some(goassist_protocol::bridge_auth::BridgeKey::parse(hex).unwrap())
    );
    assert!(
        !format!("{c:?}").contains(&hex[..16]),
        "never in Debug output"
    );
    for short in [&hex[..62], "c2hvcnQta2V5", "correct horse battery staple"] {
        let bad = with(m.vars(), &[("RENDER_BRIDGE_KEY", Some(short))]);
        assert!(bad.config.is_none(), "{short}");
        let errors = messages(&bad, Severity::Error);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("RENDER_BRIDGE_KEY=<redacted> is invalid")
                && errors[0].contains("64 or more hex digits"),
            "{errors:?}"
        );
        assert!(!errors[0].contains(short), "the value leaked: {errors:?}");
    }
    let bad = with(m.vars(), &[("RENDER_BRIDGE_KEY", Some(&hex[..62]))]);
    assert!(messages(&bad, Severity::Error)[0].contains("decodes to 31 bytes; at least 32"));
}
