//! `audio2face`: a gRPC streaming client for NVIDIA Audio2Face-3D, as an [`Animator`].
//!
//! Per segment it opens one `ProcessAudioStream` call (A2F-3D animates one clip per stream):
//! sends the `AudioStreamHeader` (PCM, mono, 16 kHz, 16-bit), the audio in 100 ms
//! `AudioWithEmotion` chunks and `EndOfAudio`; then reads the `AnimationDataStreamHeader`
//! (blendshape names), `AnimationData` (weights with time codes in seconds from the clip start)
//! and the final `Status`. Names are mapped to ARKit order by name (never by index); time codes
//! become sample positions `start_pos + round(time_code × 48000)`; the key frames are resampled
//! onto GoAssist's steady frame grid by linear interpolation.
//!
//! One [`Audio2FaceClient`] serves the whole server: it holds the gRPC connection (HTTP/2, so
//! every session's streams share it) and a handle to the server's tokio runtime, where each
//! clip's call runs as a task under the request timeout. A session's [`Audio2FaceAnimator`] is
//! the synchronous [`Animator`] face engines are: on the session's engine thread it hands the
//! clip to the client and waits on a channel for the key frames. The face worker's deadline and
//! fallback work on it as on any engine; nothing blocks the runtime, and no session owns one.

use std::sync::{Arc, mpsc};
use std::time::Duration;

use goassist_engines::EngineError;
use goassist_engines::face::dsp::Decimator3;
use goassist_engines::face::{Animator, FaceValues, FrameGrid, NEUTRAL, sanitize};
use goassist_protocol::arkit::index_of;
use tonic::codegen::http::uri::PathAndQuery;

use super::a2f_proto::{
    self as pb, AudioStream, PROCESS_AUDIO_STREAM_PATH, animation_data_stream::StreamPart,
    audio_stream,
};
use crate::config::Secret;

const ENGINE: &str = "audio2face";
/// A2F-3D takes 16 kHz PCM.
const A2F_SAMPLE_RATE: u32 = 16_000;
/// Audio per request message (100 ms at 16 kHz).
const CHUNK_SAMPLES: usize = 1600;

/// Connection settings of the Audio2Face-3D client.
#[derive(Debug, Clone)]
pub struct Audio2FaceConfig {
    /// `http://host:port` of the NIM (default port 52000).
    pub url: String,
    /// Output frame rate.
    pub fps: u32,
    /// How long to wait for a connection.
    pub connect_timeout: Duration,
    /// Upper bound for one segment's call (the service's own deadline is usually shorter; this
    /// only guarantees the engine thread never blocks forever).
    pub request_timeout: Duration,
    /// `AUDIO2FACE_API_KEY`, sent as `authorization: Bearer <key>` (NVIDIA's hosted endpoints
    /// need it; a NIM on your own host does not).
    pub api_key: Option<Secret>,
}

/// Key frames of one clip: (seconds from the clip's start, ARKit values), in time order.
pub type KeyFrames = Vec<(f64, FaceValues)>;

/// The server's Audio2Face-3D client, shared by every session (cheap to clone).
#[derive(Clone)]
pub struct Audio2FaceClient {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    config: Audio2FaceConfig,
    runtime: tokio::runtime::Handle,
    /// The connection, opened on first use and kept for every later clip of every session;
    /// forgotten after a failure so the next clip reconnects. An async lock, held while
    /// connecting, so sessions starting at once share one connection.
    channel: tokio::sync::Mutex<Option<tonic::transport::Channel>>,
}

impl Audio2FaceClient {
    /// A client for `config.url` whose calls run on `runtime` (the server's); connects on the
    /// first clip.
    pub fn new(config: Audio2FaceConfig, runtime: tokio::runtime::Handle) -> Self {
        Audio2FaceClient {
            inner: Arc::new(ClientInner {
                config,
                runtime,
                channel: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// The settings it runs with.
    pub fn config(&self) -> &Audio2FaceConfig {
        &self.inner.config
    }

    /// Starts one clip's call (16 kHz 16-bit PCM) on the runtime; its key frames, or why there
    /// are none, arrive on the returned channel within the request timeout. Never blocks.
    pub fn request(&self, pcm16: Vec<u8>) -> mpsc::Receiver<Result<KeyFrames, EngineError>> {
        let (tx, rx) = mpsc::sync_channel(1);
        let inner = Arc::clone(&self.inner);
        self.inner.runtime.spawn(async move {
            let timeout = inner.config.request_timeout;
            let result = match tokio::time::timeout(timeout, inner.process_clip(pcm16)).await {
                Ok(result) => result,
                Err(_) => {
                    inner.forget_channel().await;
                    Err(EngineError::Runtime {
                        engine: ENGINE,
                        reason: format!("no complete answer within {timeout:?}"),
                    })
                }
            };
            // The animator may have given up (the face worker's deadline): nobody to tell.
            let _ = tx.send(result);
        });
        rx
    }

    /// Sends one clip and waits for its key frames: for callers outside the runtime (engine
    /// threads). Fails if the runtime drops the call (it is shutting down).
    pub fn animate_clip(&self, pcm16: Vec<u8>) -> Result<KeyFrames, EngineError> {
        self.request(pcm16).recv().unwrap_or_else(|_| {
            Err(EngineError::Runtime {
                engine: ENGINE,
                reason: "the server's runtime dropped the call".into(),
            })
        })
    }
}

impl ClientInner {
    async fn forget_channel(&self) {
        *self.channel.lock().await = None;
    }

    /// The shared connection, opened if there is none (callers meanwhile wait for it).
    async fn connect(&self) -> Result<tonic::transport::Channel, EngineError> {
        let mut slot = self.channel.lock().await;
        if let Some(c) = &*slot {
            return Ok(c.clone());
        }
        let config = &self.config;
        let endpoint = tonic::transport::Endpoint::from_shared(config.url.clone())
            .map_err(|e| EngineError::InvalidInput(format!("AUDIO2FACE_URL: {e}")))?
            .connect_timeout(config.connect_timeout)
            .tcp_nodelay(true);
        let channel = endpoint.connect().await.map_err(|e| EngineError::Runtime {
            engine: ENGINE,
            reason: format!("cannot connect to {}: {e}", config.url),
        })?;
        *slot = Some(channel.clone());
        Ok(channel)
    }

    /// Sends one clip and collects its key frames.
    async fn process_clip(&self, pcm16: Vec<u8>) -> Result<KeyFrames, EngineError> {
        let config = &self.config;
        let channel = self.connect().await?;
        let runtime_err = |reason: String| EngineError::Runtime {
            engine: ENGINE,
            reason,
        };
        let mut messages = vec![AudioStream {
            stream_part: Some(audio_stream::StreamPart::AudioStreamHeader(
                pb::AudioStreamHeader {
                    audio_header: Some(pb::AudioHeader {
                        audio_format: 0,
                        channel_count: 1,
                        samples_per_second: A2F_SAMPLE_RATE,
                        bits_per_sample: 16,
                    }),
                },
            )),
        }];
        for chunk in pcm16.chunks(CHUNK_SAMPLES * 2) {
            messages.push(AudioStream {
                stream_part: Some(audio_stream::StreamPart::AudioWithEmotion(
                    pb::AudioWithEmotion {
                        audio_buffer: chunk.to_vec(),
                    },
                )),
            });
        }
        messages.push(AudioStream {
            stream_part: Some(audio_stream::StreamPart::EndOfAudio(pb::EndOfAudio {})),
        });

        let mut grpc = tonic::client::Grpc::new(channel);
        if let Err(e) = grpc.ready().await {
            self.forget_channel().await;
            return Err(runtime_err(format!("not ready: {e}")));
        }
        let mut request = tonic::Request::new(tokio_stream::iter(messages));
        if let Some(key) = &config.api_key {
            let value = format!("Bearer {}", key.expose()).parse().map_err(|_| {
                EngineError::InvalidInput("AUDIO2FACE_API_KEY is not a valid header value".into())
            })?;
            request.metadata_mut().insert("authorization", value);
        }
        let response = grpc
            .streaming(
                request,
                PathAndQuery::from_static(PROCESS_AUDIO_STREAM_PATH),
                tonic_prost::ProstCodec::<AudioStream, pb::AnimationDataStream>::default(),
            )
            .await
            .map_err(|s| runtime_err(format!("call failed: {s}")))?;
        let mut stream = response.into_inner();

        let mut curve_of_name: Option<Vec<Option<usize>>> = None;
        let mut keys = Vec::new();
        while let Some(message) = stream
            .message()
            .await
            .map_err(|s| runtime_err(format!("stream failed: {s}")))?
        {
            match message.stream_part {
                Some(StreamPart::AnimationDataStreamHeader(h)) => {
                    let names = h
                        .skel_animation_header
                        .map(|s| s.blend_shapes)
                        .unwrap_or_default();
                    curve_of_name = Some(names.iter().map(|n| index_of(n)).collect());
                }
                Some(StreamPart::AnimationData(data)) => {
                    let Some(curves) = &curve_of_name else {
                        return Err(runtime_err("animation data before the header".into()));
                    };
                    for frame in data
                        .skel_animation
                        .map(|s| s.blend_shape_weights)
                        .unwrap_or_default()
                    {
                        if !frame.time_code.is_finite() || frame.time_code < 0.0 {
                            return Err(runtime_err(format!("bad time code {}", frame.time_code)));
                        }
                        let mut values = NEUTRAL;
                        for (curve, w) in curves.iter().zip(&frame.values) {
                            if let Some(i) = curve {
                                values[*i] = *w;
                            }
                        }
                        sanitize(&mut values);
                        keys.push((frame.time_code, values));
                    }
                }
                Some(StreamPart::Status(status)) if status.code == pb::STATUS_ERROR => {
                    return Err(runtime_err(format!("service error: {}", status.message)));
                }
                Some(StreamPart::Status(_)) | Some(StreamPart::Event(_)) | None => {}
            }
        }
        if keys.is_empty() {
            return Err(runtime_err("no animation data in the response".into()));
        }
        keys.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok(keys)
    }
}

/// A session's Audio2Face-3D engine: the shared client and the session's frame grid.
pub struct Audio2FaceAnimator {
    client: Audio2FaceClient,
    grid: FrameGrid,
}

impl Audio2FaceAnimator {
    /// An animator that sends its clips through `client`.
    pub fn new(client: Audio2FaceClient) -> Self {
        Audio2FaceAnimator {
            grid: FrameGrid::new(client.config().fps),
            client,
        }
    }
}

/// 48 kHz float → 16 kHz 16-bit little-endian PCM.
fn to_pcm16_16k(audio_48k: &[f32]) -> Vec<u8> {
    let mut decimator = Decimator3::new();
    let mut down = Vec::with_capacity(audio_48k.len() / 3 + 1);
    let clean: Vec<f32> = audio_48k
        .iter()
        .map(|x| {
            if x.is_finite() {
                x.clamp(-1.0, 1.0)
            } else {
                0.0
            }
        })
        .collect();
    decimator.process(&clean, &mut down);
    down.iter()
        .flat_map(|s| ((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes())
        .collect()
}

/// Key frames (seconds, values) resampled at `t` seconds by linear interpolation (held at the
/// ends).
fn sample_keys(keys: &[(f64, FaceValues)], t: f64) -> FaceValues {
    let after = keys.partition_point(|(k, _)| *k <= t);
    if after == 0 {
        return keys[0].1;
    }
    if after == keys.len() {
        return keys[keys.len() - 1].1;
    }
    let (t0, a) = &keys[after - 1];
    let (t1, b) = &keys[after];
    let f = if t1 > t0 {
        ((t - t0) / (t1 - t0)) as f32
    } else {
        0.0
    };
    let mut out = NEUTRAL;
    for i in 0..out.len() {
        out[i] = a[i] + (b[i] - a[i]) * f;
    }
    out
}

impl Animator for Audio2FaceAnimator {
    fn animate(
        &mut self,
        audio_48k: &[f32],
        start_pos: u64,
        _phonemes: &[String],
    ) -> Result<Vec<(u64, FaceValues)>, EngineError> {
        let end = start_pos + audio_48k.len() as u64;
        let positions = self.grid.positions(start_pos, end);
        if positions.is_empty() {
            return Ok(Vec::new());
        }
        let keys = self.client.animate_clip(to_pcm16_16k(audio_48k))?;
        Ok(positions
            .into_iter()
            .map(|p| (p, sample_keys(&keys, (p - start_pos) as f64 / 48_000.0)))
            .collect())
    }

    fn reset(&mut self) {
        self.grid.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_frames_interpolate_and_hold_at_the_ends() {
        let mut a = NEUTRAL;
        a[17] = 0.2;
        let mut b = NEUTRAL;
        b[17] = 0.6;
        let keys = vec![(0.1, a), (0.2, b)];
        assert_eq!(sample_keys(&keys, 0.0)[17], 0.2);
        assert!((sample_keys(&keys, 0.15)[17] - 0.4).abs() < 1e-6);
        assert_eq!(sample_keys(&keys, 9.0)[17], 0.6);
    }

    #[test]
    fn pcm_is_16k_16bit_little_endian() {
        let audio = vec![0.5f32; 4800];
        let pcm = to_pcm16_16k(&audio);
        assert_eq!(pcm.len(), 1600 * 2);
        let last = i16::from_le_bytes([pcm[3198], pcm[3199]]);
        assert!((last - 16_384).abs() < 200, "{last}");
        assert_eq!(to_pcm16_16k(&[f32::NAN; 3]).len(), 2);
    }
}
