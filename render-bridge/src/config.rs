//! Typed, validated configuration from environment variables, read once before any socket
//! opens.
//!
//! [`table`] declares every variable the bridge reads (deploy/config.yaml `render_bridge:`
//! documents the same, checked by `tests/config_yaml.rs`); the shared `goassist-config` reader
//! validates them all at once and [`BridgeConfig::from_values`] builds the typed config. Every
//! invalid value stops start-up (exit 78) with a message naming the variable, the value and the
//! valid range.

use std::net::SocketAddr;
use std::time::Duration;

use goassist_config::{Kind, Table, Values, Var, kinds};
use goassist_protocol::livelink::MAX_ID_LEN;
use goassist_protocol::vmc::VmcNaming;

pub use goassist_config::ConfigError;

/// Every variable the bridge reads: the source of truth for validation, `--help`,
/// `--check-config` and the deploy/config.yaml test.
pub fn table() -> Table {
    Table::new("goassist-render-bridge")
        .group("network", [
            Var::new("BRIDGE_INGEST_ADDR", kinds::socket_addr()).default("0.0.0.0:11112")
                .doc("UDP address the inference pods send face frames to"),
            Var::new("BRIDGE_LIVELINK_ADDRS", addrs_or_off()).default("127.0.0.1:11111")
                .doc("Live Link Face v6 targets (Unreal's ARKit source)"),
            Var::new("BRIDGE_PLUGIN_ADDR", addr_or_off()).default("off")
                .doc("native-stream target (GoAssistLiveLink plugin, face + audio), e.g. 127.0.0.1:11113"),
            Var::new("BRIDGE_VMC_ADDR", addr_or_off()).default("off")
                .doc("VMC/OSC marionette target, e.g. 127.0.0.1:39539"),
            Var::new("BRIDGE_HTTP_ADDR", kinds::socket_addr()).default("0.0.0.0:9465")
                .doc("/healthz, /readyz, /metrics (Prometheus text)"),
        ])
        .group("live link", [
            Var::new("BRIDGE_SUBJECT_PATTERN", subject_pattern()).default("GoAssist_{avatar}")
                .doc("Live Link subject name per stream; placeholders {avatar} and {session}"),
            Var::new("BRIDGE_DEVICE_ID", device_id()).default("GoAssist")
                .doc("Live Link device id (keep short, Unreal's buffer is small)"),
            Var::new("BRIDGE_LIVELINK_FPS", kinds::int::<u32>(1, 240)).default("60")
                .doc("frame rate written into Live Link frame times"),
            Var::new("BRIDGE_VMC_NAMING", kinds::one_of(&[
                ("pascal", VmcNaming::PascalCase), ("camel", VmcNaming::CamelCase),
            ])).default("pascal")
                .doc("VMC blendshape names: pascal (JawOpen, perfect sync) or camel (jawOpen)"),
        ])
        .group("timing", [
            Var::new("ANIMATION_SLOW_FREEZE_MS", kinds::int::<u64>(0, 10_000)).default("300")
                .doc("when a subject's frames stop, ease it to neutral over this long (0 = snap)"),
            Var::new("ANIMATION_DROP_IF_LAG_MS", kinds::int::<u64>(1, 10_000)).default("150")
                .doc("drop frames arriving this much later than their audio clock says"),
            Var::new("BRIDGE_STALL_MS", kinds::int::<u64>(10, 10_000)).default("100")
                .doc("silence after which a subject counts as stopped and starts freezing"),
            Var::new("BRIDGE_SUBJECT_IDLE_S", kinds::int::<u64>(1, 86_400)).default("60")
                .doc("forget a neutral, silent subject (and its epoch) after this many seconds"),
        ])
        .group("process", [
            Var::new("RUST_LOG", kinds::text()).default("info")
                .doc("log filter (JSON lines on stderr)"),
        ])
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct BridgeConfig {
    /// Where face frames arrive.
    pub ingest_addr: SocketAddr,
    /// Live Link Face v6 targets (may be empty).
    pub livelink_addrs: Vec<SocketAddr>,
    /// Native stream target for the Unreal plugin.
    pub plugin_addr: Option<SocketAddr>,
    /// VMC/OSC target.
    pub vmc_addr: Option<SocketAddr>,
    /// VMC blendshape spelling.
    pub vmc_naming: VmcNaming,
    /// Health and metrics listener.
    pub http_addr: SocketAddr,
    /// Subject name pattern.
    pub subject_pattern: String,
    /// Live Link device id.
    pub device_id: String,
    /// Live Link frame rate.
    pub livelink_fps: u32,
    /// Ease-to-neutral time.
    pub slow_freeze: Duration,
    /// Lateness beyond which frames are dropped.
    pub drop_if_lag: Duration,
    /// Silence that starts the freeze.
    pub stall: Duration,
    /// Silence after which a subject is forgotten.
    pub subject_idle: Duration,
}

impl BridgeConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads variables through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        table().validate(lookup, Self::from_values).into_result()
    }

    /// The typed configuration from the table's values (only called when there is no error).
    pub fn from_values(v: &Values) -> Self {
        BridgeConfig {
            ingest_addr: v.get("BRIDGE_INGEST_ADDR"),
            livelink_addrs: v.get("BRIDGE_LIVELINK_ADDRS"),
            plugin_addr: v.get("BRIDGE_PLUGIN_ADDR"),
            vmc_addr: v.get("BRIDGE_VMC_ADDR"),
            vmc_naming: v.get("BRIDGE_VMC_NAMING"),
            http_addr: v.get("BRIDGE_HTTP_ADDR"),
            subject_pattern: v.get("BRIDGE_SUBJECT_PATTERN"),
            device_id: v.get("BRIDGE_DEVICE_ID"),
            livelink_fps: v.get("BRIDGE_LIVELINK_FPS"),
            slow_freeze: Duration::from_millis(v.get("ANIMATION_SLOW_FREEZE_MS")),
            drop_if_lag: Duration::from_millis(v.get("ANIMATION_DROP_IF_LAG_MS")),
            stall: Duration::from_millis(v.get("BRIDGE_STALL_MS")),
            subject_idle: Duration::from_secs(v.get("BRIDGE_SUBJECT_IDLE_S")),
        }
    }

    /// Defaults only (what an empty environment gives).
    pub fn defaults() -> Self {
        Self::from_lookup(|_| None).expect("built-in defaults are valid (checked by a test)")
    }

    /// The Live Link subject name for a stream.
    pub fn subject_name(&self, avatar_id: u32, session_id: u64) -> String {
        subject_name(&self.subject_pattern, avatar_id, session_id)
    }

    /// Whether the subject pattern distinguishes sessions (then each session is its own
    /// subject; otherwise sessions on one avatar share it).
    pub fn subject_per_session(&self) -> bool {
        self.subject_pattern.contains("{session}")
    }
}

/// Expands `{avatar}` and `{session}` in a subject pattern.
pub fn subject_name(pattern: &str, avatar_id: u32, session_id: u64) -> String {
    pattern
        .replace("{avatar}", &avatar_id.to_string())
        .replace("{session}", &format!("{session_id:x}"))
}

fn is_off(value: &str) -> bool {
    matches!(value.to_ascii_lowercase().as_str(), "off" | "none" | "0")
}

/// `IP:port`, or `off`.
fn addr_or_off() -> Kind {
    Kind::new(format!("{} or off", kinds::SOCKET_ADDR), |text, _| {
        if is_off(text) {
            Ok(None)
        } else {
            kinds::parse_socket_addr(text).map(Some)
        }
    })
}

/// Comma-separated `IP:port`s, or `off` (none).
fn addrs_or_off() -> Kind {
    Kind::new(
        format!("comma-separated {}, or off", kinds::SOCKET_ADDR),
        |text, _| {
            if is_off(text) {
                return Ok(Vec::new());
            }
            text.split(',')
                .map(|a| kinds::parse_socket_addr(a.trim()))
                .collect::<Result<Vec<SocketAddr>, _>>()
        },
    )
}

/// Live Link ids are at most [`MAX_ID_LEN`] bytes.
fn device_id() -> Kind {
    Kind::new(format!("1–{MAX_ID_LEN} bytes"), |text, _| {
        if text.len() <= MAX_ID_LEN {
            Ok(text.to_string())
        } else {
            Err(String::new())
        }
    })
}

/// A subject name pattern whose every expansion is a valid Live Link id.
fn subject_pattern() -> Kind {
    Kind::new(
        format!(
            "text with {{avatar}} and {{session}} placeholders, expanding to 1–{MAX_ID_LEN} bytes"
        ),
        |text, _| {
            // A constant name is allowed: every stream then animates the one subject.
            let rest = text.replace("{avatar}", "").replace("{session}", "");
            if rest.contains('{') || rest.contains('}') {
                return Err("only {avatar} and {session} placeholders are known".into());
            }
            // Longest expansion: u32 avatar (10 digits), u64 session in hex (16).
            let longest = subject_name(text, u32::MAX, u64::MAX);
            if longest.is_empty() || longest.len() > MAX_ID_LEN {
                return Err(format!("it expands to {} bytes", longest.len()));
            }
            Ok(text.to_string())
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with(pairs: &[(&str, &str)]) -> Result<BridgeConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        BridgeConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_valid_and_documented() {
        let c = BridgeConfig::defaults();
        assert_eq!(c.ingest_addr, "0.0.0.0:11112".parse().unwrap());
        assert_eq!(c.livelink_addrs, vec!["127.0.0.1:11111".parse().unwrap()]);
        assert_eq!(c.http_addr.port(), 9465);
        assert_eq!(c.plugin_addr, None);
        assert_eq!(c.vmc_addr, None);
        assert_eq!(c.slow_freeze, Duration::from_millis(300));
        assert_eq!(c.subject_name(3, 0xAB), "GoAssist_3");
        assert!(!c.subject_per_session());
    }

    #[test]
    fn values_are_read_and_trimmed() {
        let c = with(&[
            ("BRIDGE_LIVELINK_ADDRS", " 127.0.0.1:1, 10.0.0.2:2 "),
            ("BRIDGE_VMC_ADDR", "127.0.0.1:39539"),
            ("BRIDGE_SUBJECT_PATTERN", "S{avatar}_{session}"),
            ("ANIMATION_SLOW_FREEZE_MS", "0"),
            ("BRIDGE_VMC_NAMING", "Camel"),
        ])
        .unwrap();
        assert_eq!(c.livelink_addrs.len(), 2);
        assert!(c.vmc_addr.is_some());
        assert_eq!(c.vmc_naming, VmcNaming::CamelCase);
        assert_eq!(c.subject_name(1, 255), "S1_ff");
        assert!(c.subject_per_session());
        assert_eq!(c.slow_freeze, Duration::ZERO);
        let off = with(&[("BRIDGE_LIVELINK_ADDRS", "off")]).unwrap();
        assert!(off.livelink_addrs.is_empty());
    }

    #[test]
    fn errors_name_the_variable_and_the_range() {
        let e = with(&[("ANIMATION_DROP_IF_LAG_MS", "0")]).unwrap_err();
        assert_eq!(e.variables(), ["ANIMATION_DROP_IF_LAG_MS"]);
        assert!(e.to_string().contains("(valid: 1–10000)"), "{e}");
        for (var, value) in [
            ("BRIDGE_INGEST_ADDR", "localhost"),
            ("BRIDGE_DEVICE_ID", &"d".repeat(65)),
            ("BRIDGE_SUBJECT_PATTERN", "{user}"),
            ("BRIDGE_LIVELINK_FPS", "-3"),
            ("BRIDGE_VMC_NAMING", "snake"),
        ] {
            let e = with(&[(var, value)]).unwrap_err();
            assert_eq!(e.variables(), [var], "{e}");
        }
        let long = format!("{}{{avatar}}", "x".repeat(60));
        let e = with(&[("BRIDGE_SUBJECT_PATTERN", &long)]).unwrap_err();
        assert!(e.to_string().contains("1–64 bytes"), "{e}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let e = with(&[
            ("BRIDGE_INGEST_ADDR", "localhost"),
            ("BRIDGE_STALL_MS", "1"),
        ])
        .unwrap_err();
        assert_eq!(e.variables(), ["BRIDGE_INGEST_ADDR", "BRIDGE_STALL_MS"]);
    }
}
