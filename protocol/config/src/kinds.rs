//! What a variable may hold: a [`Kind`] is a description of the valid values (shown in every
//! error, warning and `--help`) and a parser from the trimmed text to a typed value.

use std::any::Any;
use std::fmt::Display;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use goassist_protocol::bridge_auth::{BridgeKey, MIN_KEY_LEN};

use crate::values::Values;
use crate::{IpNet, Secret};

/// A parsed value, typed by its kind; [`Values::get`] hands it back as that type.
pub(crate) type Value = Arc<dyn Any + Send + Sync>;

type ParseFn = dyn Fn(&str, &Values) -> Result<Value, String> + Send + Sync;

/// The valid values of a variable and how its text becomes a typed value.
#[derive(Clone)]
pub struct Kind {
    valid: String,
    secret: bool,
    parse: Arc<ParseFn>,
}

impl Kind {
    /// A kind from a description of its valid values and a parser.
    ///
    /// The parser gets the trimmed, non-empty text and the variables read before this one
    /// (earlier in the table: a model path can resolve against `MODELS_DIR`). Its `Err` text,
    /// when not empty, is added to the error message as a detail (e.g. which file is missing);
    /// the message already names the variable, the value and `valid`.
    pub fn new<T: Send + Sync + 'static>(
        valid: impl Into<String>,
        parse: impl Fn(&str, &Values) -> Result<T, String> + Send + Sync + 'static,
    ) -> Self {
        Kind {
            valid: valid.into(),
            secret: false,
            parse: Arc::new(move |text, values| parse(text, values).map(|v| Arc::new(v) as Value)),
        }
    }

    /// What a valid value looks like, e.g. `1024–65535`.
    pub fn valid(&self) -> &str {
        &self.valid
    }

    /// Whether values of this kind are secrets (never printed).
    pub fn is_secret(&self) -> bool {
        self.secret
    }

    /// The same kind, its values flagged secret (for a custom kind that holds secrets).
    pub fn redacted(mut self) -> Self {
        self.secret = true;
        self
    }

    pub(crate) fn parse(&self, text: &str, values: &Values) -> Result<Value, String> {
        (self.parse)(text, values)
    }
}

/// An integer in `min..=max`.
pub fn int<T>(min: T, max: T) -> Kind
where
    T: FromStr + PartialOrd + Display + Copy + Send + Sync + 'static,
{
    Kind::new(format!("{min}–{max}"), move |text, _| {
        text.parse::<T>()
            .ok()
            .filter(|v| *v >= min && *v <= max)
            .ok_or_default()
    })
}

/// One of a few names (case-insensitive), each standing for a value.
pub fn one_of<T: Clone + Send + Sync + 'static>(choices: &[(&'static str, T)]) -> Kind {
    let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
    let valid = match names.as_slice() {
        [a, b] => format!("{a} or {b}"),
        _ => names.join(", "),
    };
    let choices = choices.to_vec();
    Kind::new(valid, move |text, _| {
        choices
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(text))
            .map(|(_, value)| value.clone())
            .ok_or_default()
    })
}

/// A fraction in `0..=1` (a probability or a weight), as an `f32`.
pub fn fraction() -> Kind {
    Kind::new("a number from 0 to 1", |text, _| {
        text.parse::<f32>()
            .ok()
            .filter(|v| (0.0..=1.0).contains(v))
            .ok_or_default()
    })
}

/// `true` or `false` (case-insensitive).
pub fn boolean() -> Kind {
    one_of(&[("true", true), ("false", false)])
}

/// Any text, as a `String`.
pub fn text() -> Kind {
    Kind::new("any text", |text, _| Ok(text.to_string()))
}

/// A path, as a `PathBuf` (not checked: for paths that need not exist yet).
pub fn path() -> Kind {
    Kind::new("a path", |text, _| Ok(PathBuf::from(text)))
}

/// A secret of at least `min_len` bytes, as a [`Secret`]. The variable is flagged secret
/// wherever it appears: `--check-config` and error messages show `<redacted>`.
pub fn secret(min_len: usize) -> Kind {
    let valid = if min_len > 0 {
        format!("at least {min_len} bytes")
    } else {
        "any text".to_string()
    };
    let mut kind = Kind::new(valid, move |text: &str, _: &Values| {
        if text.len() >= min_len {
            Ok(Secret::new(text))
        } else {
            Err(String::new())
        }
    });
    kind.secret = true;
    kind
}

/// The render-bridge's shared key (`BRIDGE_KEY` on the bridge, `RENDER_BRIDGE_KEY` on the
/// inference server), as a [`BridgeKey`]: hex or base64 of at least [`MIN_KEY_LEN`] bytes.
/// Secret: never printed; the error names the problem, never the text.
pub fn bridge_key() -> Kind {
    Kind::new(
        format!(
            "{} or more hex digits, or base64 of {MIN_KEY_LEN} or more bytes (e.g. `openssl rand -hex 32`)",
            2 * MIN_KEY_LEN
        ),
        |text, _| BridgeKey::parse(text).map_err(|e| e.to_string()),
    )
    .redacted()
}

/// An IPv4 or IPv6 address, as an `IpAddr`.
pub fn ip() -> Kind {
    Kind::new("an IP address such as 0.0.0.0 or 127.0.0.1", |text, _| {
        text.parse::<IpAddr>().ok().ok_or_default()
    })
}

/// Comma-separated IP addresses or CIDR networks (IPv4 or IPv6), as a `Vec<IpNet>`; the error
/// names the first entry that is neither.
pub fn ip_nets() -> Kind {
    Kind::new(
        "comma-separated IP addresses or CIDR networks, e.g. 10.0.0.0/8,fd00::/8",
        |text, _| {
            text.split(',')
                .map(str::trim)
                .map(|entry| {
                    IpNet::parse(entry)
                        .ok_or_else(|| format!("{entry:?} is not an IP address or CIDR network"))
                })
                .collect::<Result<Vec<_>, _>>()
        },
    )
}

/// `IP:port`, as a `SocketAddr`.
pub fn socket_addr() -> Kind {
    Kind::new(SOCKET_ADDR, |text, _| parse_socket_addr(text))
}

/// What `IP:port` looks like, for kinds built on [`parse_socket_addr`].
pub const SOCKET_ADDR: &str = "IP:port, e.g. 127.0.0.1:11111 ([::1]:11111 for IPv6)";

/// Parses `IP:port` (no host names: the process must not depend on DNS at start-up).
pub fn parse_socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse::<SocketAddr>().ok().ok_or_default()
}

/// `Option::None` becomes an error with no detail beyond "invalid (valid: …)".
trait OkOrDefault<T> {
    fn ok_or_default(self) -> Result<T, String>;
}

impl<T> OkOrDefault<T> for Option<T> {
    fn ok_or_default(self) -> Result<T, String> {
        self.ok_or_else(String::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<T: Clone + 'static>(kind: &Kind, text: &str) -> Result<T, String> {
        kind.parse(text, &Values::default())
            .map(|v| v.downcast_ref::<T>().expect("kind's type").clone())
    }

    #[test]
    fn integers_are_range_checked() {
        let k = int::<u16>(1024, 65535);
        assert_eq!(k.valid(), "1024–65535");
        assert_eq!(parse::<u16>(&k, "8081"), Ok(8081));
        assert!(parse::<u16>(&k, "80").is_err());
        assert!(parse::<u16>(&k, "70000").is_err());
        assert!(parse::<u16>(&k, "-1").is_err());
        assert!(parse::<u16>(&k, "ten").is_err());
    }

    #[test]
    fn choices_ignore_case_and_describe_themselves() {
        let k = one_of(&[("silero", 1u8), ("webrtc", 2)]);
        assert_eq!(k.valid(), "silero or webrtc");
        assert_eq!(parse::<u8>(&k, "WebRTC"), Ok(2));
        assert!(parse::<u8>(&k, "cobra").is_err());
        let k = one_of(&[("DEBUG", 0u8), ("INFO", 1), ("WARN", 2)]);
        assert_eq!(k.valid(), "DEBUG, INFO, WARN");
        assert_eq!(boolean().valid(), "true or false");
        assert_eq!(parse::<bool>(&boolean(), "TRUE"), Ok(true));
    }

    #[test]
    fn secrets_check_length_and_are_flagged() {
        let k = secret(16);
        assert!(k.is_secret());
        assert!(parse::<Secret>(&k, "short").is_err());
        assert_eq!(
            parse::<Secret>(&k, "0123456789abcdef").map(|s| s.expose().to_string()),
            Ok("0123456789abcdef".to_string())
        );
        assert!(!text().is_secret());
    }

    #[test]
    fn addresses_need_an_ip_not_a_host_name() {
        assert!(parse::<SocketAddr>(&socket_addr(), "127.0.0.1:11111").is_ok());
        assert!(parse::<SocketAddr>(&socket_addr(), "[::1]:11111").is_ok());
        assert!(parse::<SocketAddr>(&socket_addr(), "localhost:11111").is_err());
        assert!(parse::<IpAddr>(&ip(), "::").is_ok());
        assert!(parse::<IpAddr>(&ip(), "localhost").is_err());
    }

    #[test]
    fn address_lists_take_addresses_and_networks() {
        let nets = parse::<Vec<IpNet>>(&ip_nets(), "10.0.0.0/8, 192.0.2.7 ,fd00::/8").unwrap();
        assert_eq!(nets.len(), 3);
        assert!(nets[1].contains("192.0.2.7".parse().unwrap()));
        let e = parse::<Vec<IpNet>>(&ip_nets(), "10.0.0.0/8,10.0.0.0/33").unwrap_err();
        assert!(e.contains("\"10.0.0.0/33\""), "{e}");
        assert!(
            parse::<Vec<IpNet>>(&ip_nets(), "10.0.0.1,").is_err(),
            "an empty entry"
        );
        assert!(parse::<Vec<IpNet>>(&ip_nets(), "pods.local").is_err());
    }
}
