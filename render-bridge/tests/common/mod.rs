//! Helpers shared by the bridge's integration tests.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use goassist_protocol::FaceFrame;
use goassist_protocol::bridge_auth::Sealer;
use goassist_protocol::bridge_stream;
use goassist_render_bridge::BridgeConfig;

/// A configuration on loopback with OS-chosen ports, overridden by `pairs`.
pub fn config(pairs: &[(&str, String)]) -> BridgeConfig {
    let mut all: Vec<(String, String)> = vec![
        ("BRIDGE_INGEST_ADDR".into(), "127.0.0.1:0".into()),
        ("BRIDGE_HTTP_ADDR".into(), "127.0.0.1:0".into()),
    ];
    all.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())));
    BridgeConfig::from_lookup(|k| {
        all.iter()
            .rev()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.clone())
    })
    .expect("test configuration is valid")
}

/// A UDP socket on loopback that waits at most `timeout` per receive.
pub fn listener(timeout: Duration) -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
    s.set_read_timeout(Some(timeout)).expect("timeout");
    s
}

/// Receives one datagram or None on timeout.
pub fn recv(socket: &UdpSocket) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 65_536];
    socket.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
}

/// Receives datagrams until `deadline`.
pub fn recv_until(socket: &UdpSocket, deadline: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while Instant::now() < deadline {
        if let Some(d) = recv(socket) {
            out.push(d);
        }
    }
    out
}

/// A face frame with a recognisable pose.
pub fn frame(session: u64, epoch: u32, seq: u32, jaw: f32) -> FaceFrame {
    let mut f = FaceFrame::neutral(session, epoch, seq, u64::from(seq) * 800);
    f.values[17] = jaw;
    f.values[0] = 0.25;
    f.values[52] = -0.125;
    f
}

/// Sends one bridge datagram.
pub fn send(from: &UdpSocket, to: SocketAddr, avatar: u32, f: &FaceFrame, audio: Option<&[i16]>) {
    let bytes = bridge_stream::encode(avatar, f, audio).expect("encodable");
    from.send_to(&bytes, to).expect("send");
}

/// Sends one bridge datagram sealed by `sealer` (as an inference server with
/// `RENDER_BRIDGE_KEY` does), with the sender's clock at `unix_ms`.
pub fn send_sealed(
    from: &UdpSocket,
    to: SocketAddr,
    sealer: &mut Sealer,
    unix_ms: u64,
    avatar: u32,
    f: &FaceFrame,
) -> Vec<u8> {
    let mut bytes = bridge_stream::encode(avatar, f, None).expect("encodable");
    sealer.seal(&mut bytes, unix_ms);
    from.send_to(&bytes, to).expect("send");
    bytes
}

/// The wall clock in ms since the Unix epoch.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A minimal HTTP/1.1 GET over a real TCP connection: (status, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    http(addr, "GET", path, None, "")
}

/// A minimal HTTP/1.1 request over a real TCP connection, with an optional bearer token and
/// a JSON body: (status, body).
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Polls `cond` every 10 ms until it holds or `limit` passes.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// A Prometheus sample's value from exposition text.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|rest| rest.trim().parse().ok())
    })
}
