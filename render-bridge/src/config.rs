//! Typed, validated configuration from environment variables, read once before any socket
//! opens. Every error names the variable and what would be valid.

use std::net::SocketAddr;
use std::time::Duration;

use goassist_protocol::livelink::MAX_ID_LEN;
use goassist_protocol::vmc::VmcNaming;

/// Every environment variable the bridge reads, with its default and meaning (printed by
/// `--help` and mirrored in deploy/render-bridge.config.md).
pub const ENV_VARS: &[(&str, &str, &str)] = &[
    (
        "BRIDGE_INGEST_ADDR",
        "0.0.0.0:11112",
        "UDP address the inference pods send face frames to",
    ),
    (
        "BRIDGE_LIVELINK_ADDRS",
        "127.0.0.1:11111",
        "comma-separated Live Link Face v6 targets (Unreal's ARKit source), or `off`",
    ),
    (
        "BRIDGE_PLUGIN_ADDR",
        "off",
        "native-stream target (GoAssistLiveLink plugin, face + audio), e.g. 127.0.0.1:11113",
    ),
    (
        "BRIDGE_VMC_ADDR",
        "off",
        "VMC/OSC marionette target, e.g. 127.0.0.1:39539",
    ),
    (
        "BRIDGE_VMC_NAMING",
        "pascal",
        "VMC blendshape names: `pascal` (JawOpen, perfect sync) or `camel` (jawOpen)",
    ),
    (
        "BRIDGE_HTTP_ADDR",
        "0.0.0.0:9465",
        "/healthz, /readyz, /metrics (Prometheus text)",
    ),
    (
        "BRIDGE_SUBJECT_PATTERN",
        "GoAssist_{avatar}",
        "Live Link subject name per stream; placeholders {avatar} and {session}",
    ),
    (
        "BRIDGE_DEVICE_ID",
        "GoAssist",
        "Live Link device id (1..=64 bytes; keep short, Unreal's buffer is small)",
    ),
    (
        "BRIDGE_LIVELINK_FPS",
        "60",
        "frame rate written into Live Link frame times (1..=240)",
    ),
    (
        "ANIMATION_SLOW_FREEZE_MS",
        "300",
        "when a subject's frames stop, ease it to neutral over this long (0..=10000; 0 = snap)",
    ),
    (
        "ANIMATION_DROP_IF_LAG_MS",
        "150",
        "drop frames arriving this much later than their audio clock says (1..=10000)",
    ),
    (
        "BRIDGE_STALL_MS",
        "100",
        "silence after which a subject counts as stopped and starts freezing (10..=10000)",
    ),
    (
        "BRIDGE_SUBJECT_IDLE_S",
        "60",
        "forget a neutral, silent subject (and its epoch) after this many seconds (1..=86400)",
    ),
];

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

/// A configuration problem, naming the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}={value:?}: {problem}")]
pub struct ConfigError {
    /// The environment variable.
    pub var: &'static str,
    /// What it was set to.
    pub value: String,
    /// What is wrong and what would be valid.
    pub problem: String,
}

impl BridgeConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads variables through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |var: &'static str| -> (&'static str, String) {
            let default = ENV_VARS
                .iter()
                .find(|(name, _, _)| *name == var)
                .map(|(_, d, _)| *d)
                .unwrap_or_default();
            let value = lookup(var)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_string());
            (var, value)
        };
        let livelink_addrs = {
            let (var, value) = get("BRIDGE_LIVELINK_ADDRS");
            if is_off(&value) {
                Vec::new()
            } else {
                value
                    .split(',')
                    .map(|a| parse_addr(var, a.trim()))
                    .collect::<Result<Vec<_>, _>>()?
            }
        };
        let subject_pattern = {
            let (var, value) = get("BRIDGE_SUBJECT_PATTERN");
            validate_pattern(var, &value)?;
            value
        };
        let device_id = {
            let (var, value) = get("BRIDGE_DEVICE_ID");
            if value.is_empty() || value.len() > MAX_ID_LEN {
                return Err(error(
                    var,
                    &value,
                    format!("must be 1..={MAX_ID_LEN} bytes"),
                ));
            }
            value
        };
        let vmc_naming = {
            let (var, value) = get("BRIDGE_VMC_NAMING");
            match value.to_ascii_lowercase().as_str() {
                "pascal" => VmcNaming::PascalCase,
                "camel" => VmcNaming::CamelCase,
                _ => return Err(error(var, &value, "must be `pascal` or `camel`".into())),
            }
        };
        let config = BridgeConfig {
            ingest_addr: addr(get("BRIDGE_INGEST_ADDR"))?,
            livelink_addrs,
            plugin_addr: optional_addr(get("BRIDGE_PLUGIN_ADDR"))?,
            vmc_addr: optional_addr(get("BRIDGE_VMC_ADDR"))?,
            vmc_naming,
            http_addr: addr(get("BRIDGE_HTTP_ADDR"))?,
            subject_pattern,
            device_id,
            livelink_fps: number(get("BRIDGE_LIVELINK_FPS"), 1, 240)? as u32,
            slow_freeze: millis(get("ANIMATION_SLOW_FREEZE_MS"), 0, 10_000)?,
            drop_if_lag: millis(get("ANIMATION_DROP_IF_LAG_MS"), 1, 10_000)?,
            stall: millis(get("BRIDGE_STALL_MS"), 10, 10_000)?,
            subject_idle: Duration::from_secs(number(get("BRIDGE_SUBJECT_IDLE_S"), 1, 86_400)?),
        };
        Ok(config)
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

fn error(var: &'static str, value: &str, problem: String) -> ConfigError {
    ConfigError {
        var,
        value: value.to_string(),
        problem,
    }
}

fn is_off(value: &str) -> bool {
    matches!(value.to_ascii_lowercase().as_str(), "off" | "none" | "0")
}

fn parse_addr(var: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| {
        error(
            var,
            value,
            "must be IP:port, e.g. 127.0.0.1:11111 ([::1]:11111 for IPv6)".into(),
        )
    })
}

fn addr((var, value): (&'static str, String)) -> Result<SocketAddr, ConfigError> {
    parse_addr(var, &value)
}

fn optional_addr((var, value): (&'static str, String)) -> Result<Option<SocketAddr>, ConfigError> {
    if is_off(&value) {
        Ok(None)
    } else {
        parse_addr(var, &value).map(Some)
    }
}

fn number((var, value): (&'static str, String), min: u64, max: u64) -> Result<u64, ConfigError> {
    match value.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(error(
            var,
            &value,
            format!("must be a whole number in {min}..={max}"),
        )),
    }
}

fn millis(v: (&'static str, String), min: u64, max: u64) -> Result<Duration, ConfigError> {
    number(v, min, max).map(Duration::from_millis)
}

fn validate_pattern(var: &'static str, pattern: &str) -> Result<(), ConfigError> {
    if !pattern.contains("{avatar}") && !pattern.contains("{session}") {
        // A constant name is allowed: every stream then animates the one subject.
        tracing::debug!("subject pattern without placeholders: one shared subject");
    }
    let rest = pattern.replace("{avatar}", "").replace("{session}", "");
    if rest.contains('{') || rest.contains('}') {
        return Err(error(
            var,
            pattern,
            "only {avatar} and {session} placeholders are known".into(),
        ));
    }
    // Longest expansion: u32 avatar (10 digits), u64 session in hex (16).
    let longest = subject_name(pattern, u32::MAX, u64::MAX);
    if longest.is_empty() || longest.len() > MAX_ID_LEN {
        return Err(error(
            var,
            pattern,
            format!("expanded names must be 1..={MAX_ID_LEN} bytes"),
        ));
    }
    Ok(())
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
        assert_eq!(e.var, "ANIMATION_DROP_IF_LAG_MS");
        assert!(e.to_string().contains("1..=10000"), "{e}");
        let e = with(&[("BRIDGE_INGEST_ADDR", "localhost")]).unwrap_err();
        assert_eq!(e.var, "BRIDGE_INGEST_ADDR");
        let e = with(&[("BRIDGE_DEVICE_ID", &"d".repeat(65))]).unwrap_err();
        assert_eq!(e.var, "BRIDGE_DEVICE_ID");
        let e = with(&[("BRIDGE_SUBJECT_PATTERN", "{user}")]).unwrap_err();
        assert_eq!(e.var, "BRIDGE_SUBJECT_PATTERN");
        let long = format!("{}{{avatar}}", "x".repeat(60));
        let e = with(&[("BRIDGE_SUBJECT_PATTERN", &long)]).unwrap_err();
        assert!(e.problem.contains("1..=64"));
        let e = with(&[("BRIDGE_LIVELINK_FPS", "-3")]).unwrap_err();
        assert_eq!(e.var, "BRIDGE_LIVELINK_FPS");
        let e = with(&[("BRIDGE_VMC_NAMING", "snake")]).unwrap_err();
        assert_eq!(e.var, "BRIDGE_VMC_NAMING");
    }

    #[test]
    fn every_variable_has_a_documented_default() {
        for (name, default, help) in ENV_VARS {
            assert!(!default.is_empty() && !help.is_empty(), "{name}");
        }
    }
}
