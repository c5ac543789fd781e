//! Typed, validated configuration from environment variables, read once before any socket
//! opens. Every error names the variable and what would be valid.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use goassist_protocol::livelink::MAX_ID_LEN;
use goassist_protocol::vmc::VmcNaming;

use crate::routing::{RouteTable, Target, TargetKind, Targets};

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
        "Live Link Face v6 targets (Unreal's ARKit source), comma-separated [name=]IP:port \
         (unnamed: livelink0, livelink1, ...), or `off`",
    ),
    (
        "BRIDGE_PLUGIN_ADDR",
        "off",
        "native-stream targets (GoAssistLiveLink plugin, face + audio), comma-separated \
         [name=]IP:port (unnamed: plugin0, ...), e.g. 127.0.0.1:11113",
    ),
    (
        "BRIDGE_VMC_ADDR",
        "off",
        "VMC/OSC marionette targets, comma-separated [name=]IP:port (unnamed: vmc0, ...), \
         e.g. 127.0.0.1:39539",
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
        "forget a neutral, silent subject (and its epoch) after this many seconds (1..=86400); \
         a pool subject is given back then",
    ),
    // --- Avatars and routing (several sessions, subjects and Unreal instances per pod) ---
    (
        "BRIDGE_MAX_AVATARS",
        "64",
        "most avatars (streams with a subject of their own) held at once; frames of new ones \
         beyond it are refused, counted and logged once per sender (1..=4096)",
    ),
    (
        "BRIDGE_ROUTES",
        "none",
        "fixed routes, comma-separated: session:ID=Subject[@target+target] (ID: the \
         inference session id, hex) or avatar:N=Subject[@...]; no @ = every target",
    ),
    (
        "BRIDGE_SUBJECT_POOL",
        "none",
        "subjects handed to new sessions in turn, comma-separated Subject[@target+target] \
         (one Unreal, several MetaHumans); when all are held, new sessions are refused",
    ),
    (
        "BRIDGE_ADMIN_TOKEN",
        "unset",
        "bearer token for the admin API on the HTTP port (/admin/routes); at least 16 \
         characters; unset = every admin call is refused",
    ),
];

/// The admin API's bearer token; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    /// The token's bytes, for the constant-time comparison.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// Shortest admin token accepted.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct BridgeConfig {
    /// Where face frames arrive.
    pub ingest_addr: SocketAddr,
    /// Output targets: Live Link Face v6, the plugin's native stream, VMC/OSC (may be empty).
    pub targets: Targets,
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
    /// Most avatars held at once.
    pub max_avatars: usize,
    /// Fixed routes, the subject pool and the pattern, checked against the targets.
    pub routes: RouteTable,
    /// The admin API's token (None: admin refused).
    pub admin_token: Option<AdminToken>,
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
        let mut targets = Vec::new();
        for (var, kind) in [
            ("BRIDGE_LIVELINK_ADDRS", TargetKind::LiveLink),
            ("BRIDGE_PLUGIN_ADDR", TargetKind::Plugin),
            ("BRIDGE_VMC_ADDR", TargetKind::Vmc),
        ] {
            let (var, value) = get(var);
            targets.extend(parse_targets(var, &value, kind)?);
        }
        let targets = Targets::new(targets).map_err(|e| {
            error(
                "BRIDGE_LIVELINK_ADDRS",
                "(all targets)",
                format!("{e} (names are shared by BRIDGE_LIVELINK_ADDRS, BRIDGE_PLUGIN_ADDR and BRIDGE_VMC_ADDR)"),
            )
        })?;
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
        let mut routes = RouteTable::new(targets.clone(), &subject_pattern);
        let (routes_var, routes_value) = get("BRIDGE_ROUTES");
        let (pool_var, pool_value) = get("BRIDGE_SUBJECT_POOL");
        routes
            .configure(&routes_value, "")
            .map_err(|e| error(routes_var, &routes_value, e.to_string()))?;
        routes
            .configure("", &pool_value)
            .map_err(|e| error(pool_var, &pool_value, e.to_string()))?;
        let admin_token = {
            let (var, value) = get("BRIDGE_ADMIN_TOKEN");
            match value.as_str() {
                "unset" => None,
                v if v.len() < MIN_ADMIN_TOKEN_LEN
                    || v.chars().any(|c| c.is_control() || c.is_whitespace()) =>
                {
                    // Never echo a secret, not even a bad one.
                    return Err(error(
                        var,
                        "<redacted>",
                        format!(
                            "must be at least {MIN_ADMIN_TOKEN_LEN} characters without spaces \
                             (e.g. `openssl rand -hex 24`)"
                        ),
                    ));
                }
                v => Some(AdminToken(v.to_string())),
            }
        };
        let config = BridgeConfig {
            ingest_addr: addr(get("BRIDGE_INGEST_ADDR"))?,
            targets,
            vmc_naming,
            http_addr: addr(get("BRIDGE_HTTP_ADDR"))?,
            subject_pattern,
            device_id,
            livelink_fps: number(get("BRIDGE_LIVELINK_FPS"), 1, 240)? as u32,
            slow_freeze: millis(get("ANIMATION_SLOW_FREEZE_MS"), 0, 10_000)?,
            drop_if_lag: millis(get("ANIMATION_DROP_IF_LAG_MS"), 1, 10_000)?,
            stall: millis(get("BRIDGE_STALL_MS"), 10, 10_000)?,
            subject_idle: Duration::from_secs(number(get("BRIDGE_SUBJECT_IDLE_S"), 1, 86_400)?),
            max_avatars: number(get("BRIDGE_MAX_AVATARS"), 1, 4_096)? as usize,
            routes,
            admin_token,
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

/// `off`, or comma-separated `[name=]IP:port`; unnamed targets are numbered per kind.
fn parse_targets(
    var: &'static str,
    value: &str,
    kind: TargetKind,
) -> Result<Vec<Target>, ConfigError> {
    if is_off(value) {
        return Ok(Vec::new());
    }
    value
        .split(',')
        .enumerate()
        .map(|(i, entry)| {
            let entry = entry.trim();
            let (name, addr) = match entry.split_once('=') {
                Some((name, addr)) => (name.trim().to_string(), addr.trim()),
                None => (format!("{}{i}", kind.prefix()), entry),
            };
            Ok(Target {
                name,
                kind,
                addr: parse_addr(var, addr)?,
            })
        })
        .collect()
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
        let target = &c.targets.list()[0];
        assert_eq!(c.targets.list().len(), 1);
        assert_eq!(
            (target.name.as_str(), target.kind, target.addr),
            (
                "livelink0",
                TargetKind::LiveLink,
                "127.0.0.1:11111".parse().unwrap()
            )
        );
        assert_eq!(c.http_addr.port(), 9465);
        assert_eq!(c.slow_freeze, Duration::from_millis(300));
        assert_eq!(c.max_avatars, 64);
        assert!(c.routes.routes().is_empty() && c.routes.pool().is_empty());
        assert_eq!(c.admin_token, None);
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
        let names: Vec<_> = c.targets.list().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["livelink0", "livelink1", "vmc0"]);
        assert_eq!(c.vmc_naming, VmcNaming::CamelCase);
        assert_eq!(c.subject_name(1, 255), "S1_ff");
        assert!(c.subject_per_session());
        assert_eq!(c.slow_freeze, Duration::ZERO);
        let off = with(&[("BRIDGE_LIVELINK_ADDRS", "off")]).unwrap();
        assert!(off.targets.list().is_empty());
    }

    #[test]
    fn named_targets_routes_pool_and_token() {
        let c = with(&[
            (
                "BRIDGE_LIVELINK_ADDRS",
                "ue1=127.0.0.1:11111, ue2 = 10.0.0.2:11111",
            ),
            ("BRIDGE_PLUGIN_ADDR", "127.0.0.1:11113"),
            (
                "BRIDGE_ROUTES",
                "session:1a2b=Ada@ue1+plugin0, avatar:2=Bob@ue2",
            ),
            ("BRIDGE_SUBJECT_POOL", "Cleo@ue1,Dan@ue1"),
            ("BRIDGE_ADMIN_TOKEN", "0123456789abcdef"),
            ("BRIDGE_MAX_AVATARS", "8"),
        ])
        .unwrap();
        let names: Vec<_> = c.targets.list().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["ue1", "ue2", "plugin0"]);
        assert_eq!(c.routes.routes().len(), 2);
        assert_eq!(c.routes.pool().len(), 2);
        assert_eq!(c.max_avatars, 8);
        let token = c.admin_token.as_ref().unwrap();
        assert_eq!(token.as_bytes(), b"0123456789abcdef");
        assert!(
            !format!("{c:?}").contains("0123456789abcdef"),
            "the token never reaches Debug output"
        );
    }

    #[test]
    fn routing_errors_name_the_variable() {
        let e = with(&[("BRIDGE_ROUTES", "avatar:1=Ada@ue7")]).unwrap_err();
        assert_eq!(e.var, "BRIDGE_ROUTES");
        assert!(e.problem.contains("ue7"), "{e}");
        let e = with(&[("BRIDGE_SUBJECT_POOL", "Ada,Ada")]).unwrap_err();
        assert_eq!(e.var, "BRIDGE_SUBJECT_POOL");
        assert!(e.problem.contains("already routed"), "{e}");
        let e = with(&[
            ("BRIDGE_LIVELINK_ADDRS", "a=127.0.0.1:1"),
            ("BRIDGE_VMC_ADDR", "a=127.0.0.1:2"),
        ])
        .unwrap_err();
        assert!(e.problem.contains("used twice"), "{e}");
        let e = with(&[("BRIDGE_LIVELINK_ADDRS", "my ue=127.0.0.1:1")]).unwrap_err();
        assert!(e.problem.contains("target name"), "{e}");
        let e = with(&[("BRIDGE_MAX_AVATARS", "0")]).unwrap_err();
        assert_eq!(e.var, "BRIDGE_MAX_AVATARS");
        let e = with(&[("BRIDGE_ADMIN_TOKEN", "short secret")]).unwrap_err();
        assert_eq!(e.var, "BRIDGE_ADMIN_TOKEN");
        assert!(!e.to_string().contains("short secret"), "{e}");
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
