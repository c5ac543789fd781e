//! Shared helpers of the real-socket integration tests: a proxy on loopback ports chosen by
//! the OS, and a small WebSocket client.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use goassist_pixelstream_proxy::{Config, Frontend, Listeners, serve};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A running proxy; dropping it shuts the proxy down.
pub struct Proxy {
    pub player: SocketAddr,
    pub streamer: SocketAddr,
    pub admin: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Proxy {
    /// Starts a proxy with `vars` as its environment, serving `frontend`.
    pub async fn start(vars: &[(&str, &str)], frontend: Frontend) -> Self {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let config = Config::from_lookup(|k| map.get(k).cloned()).expect("test config is valid");
        let listeners = Listeners::loopback().await.expect("bind loopback");
        let (player, streamer, admin) = listeners.addrs().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(config, frontend, listeners, async move {
            let _ = stopped.await;
        }));
        Self {
            player,
            streamer,
            admin,
            stop: Some(stop),
            task,
        }
    }

    /// Stops the proxy and waits for it to finish.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("proxy stops within 10 s")
            .expect("proxy task joins")
    }

    /// GET `path` on the admin port: (status, body).
    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        http_get(self.admin, path).await
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Minimal HTTP/1.1 GET over a raw socket: (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A metric's value from Prometheus text (`name{labels} value`), 0 when absent.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
        .unwrap_or(0.0)
}

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A JSON WebSocket client.
pub struct Client {
    pub ws: Socket,
}

impl Client {
    pub async fn connect(url: &str) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        let (ws, _) = tokio_tungstenite::connect_async(url).await?;
        Ok(Self { ws })
    }

    pub async fn send(&mut self, message: Value) {
        self.ws
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("send");
    }

    pub async fn send_text(&mut self, text: String) {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    /// Next JSON message (skipping pings), within 5 s.
    pub async fn recv(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(5), self.ws.next())
                .await
                .expect("a message within 5 s")
                .expect("socket open")
                .expect("frame ok");
            match frame {
                Message::Text(t) => return serde_json::from_str(t.as_str()).expect("JSON"),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// Next message, asserting its type.
    pub async fn expect(&mut self, kind: &str) -> Value {
        let m = self.recv().await;
        assert_eq!(m["type"], kind, "got {m}");
        m
    }

    /// Waits for the close frame (or end of stream); returns the close code.
    pub async fn closed(&mut self) -> Option<u16> {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .expect("closed within 10 s");
            match frame {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code.into()),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }
}

/// A streamer connected, identified as `id`.
pub async fn streamer(proxy: &Proxy, query: &str, id: &str) -> Client {
    let mut s = Client::connect(&format!("ws://{}/{query}", proxy.streamer))
        .await
        .expect("streamer connects");
    s.expect("config").await;
    s.expect("identify").await;
    s.send(serde_json::json!({"type": "endpointId", "id": id}))
        .await;
    let confirm = s.expect("endpointIdConfirm").await;
    assert_eq!(confirm["committedId"], id);
    s
}

/// A player connected (config consumed).
pub async fn player(proxy: &Proxy, query: &str) -> Client {
    let mut p = Client::connect(&format!("ws://{}/{query}", proxy.player))
        .await
        .expect("player connects");
    p.expect("config").await;
    p
}
