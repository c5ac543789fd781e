//! Helpers shared by the examples that drive a running server over WebRTC (bench_voice,
//! load_test, degradation_webrtc, drill): recorded speech, percentiles, `/metrics` over plain
//! HTTP, the CPU model for reports, one timed turn.

#![allow(dead_code)] // each example uses a different subset

use std::collections::BTreeMap;
use std::path::Path;

use goassist_client::read_wav;

pub mod machine;
pub mod turns;

/// A recorded utterance from the model tree's `speech/`, at 48 kHz.
pub fn utterance(models: &Path, name: &str) -> Vec<f32> {
    let wav = read_wav(&models.join("speech").join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    goassist_inference::media::resample_all(&wav.samples, wav.sample_rate, 48_000)
        .expect("resample")
}

/// The `p` quantile (nearest rank); NaN when empty.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = (p * (v.len() - 1) as f64).round() as usize;
    v[rank.min(v.len() - 1)]
}

/// Every sample of the server's `/metrics`, by series name with labels.
pub async fn scrape(url: &str) -> BTreeMap<String, f64> {
    let Some((_, body)) = http_get(url, "/metrics").await else {
        return BTreeMap::new();
    };
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            l.rsplit_once(' ')
                .and_then(|(k, v)| v.parse().ok().map(|v| (k.to_string(), v)))
        })
        .collect()
}

/// `GET url/path`: (status, body).
pub async fn http_get(url: &str, path: &str) -> Option<(u16, String)> {
    http_request("GET", url, path, None, "").await
}

/// A minimal HTTP/1.1 request on plain TCP (loopback benchmarks need no client library):
/// (status, body).
pub async fn http_request(
    method: &str,
    url: &str,
    path: &str,
    bearer: Option<&str>,
    body: &str,
) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(host).await.ok()?;
    let auth = bearer.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    stream
        .write_all(
            format!(
                "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    Some((
        status,
        response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default(),
    ))
}

/// Quantile from Prometheus histogram bucket deltas (linear inside the bucket).
pub fn histogram_quantile(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
    name: &str,
    label: &str,
    q: f64,
) -> Option<f64> {
    let mut buckets: Vec<(f64, f64)> = after
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{name}_bucket{{")) && k.contains(label))
        .filter_map(|(k, v)| {
            let le = k.split("le=\"").nth(1)?.split('"').next()?;
            let le: f64 = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, v - before.get(k).copied().unwrap_or(0.0)))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let target = q * total;
    let mut prev = (0.0, 0.0);
    for (le, count) in buckets {
        if count >= target {
            if le.is_infinite() {
                return Some(prev.0);
            }
            let span = count - prev.1;
            let frac = if span > 0.0 {
                (target - prev.1) / span
            } else {
                1.0
            };
            return Some(prev.0 + (le - prev.0) * frac);
        }
        prev = (le, count);
    }
    None
}
