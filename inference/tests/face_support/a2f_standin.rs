//! `a2f_standin`: a stand-in for NVIDIA's Audio2Face-3D service (which needs an NVIDIA GPU and
//! cannot run here). It speaks the same gRPC protocol (`A2FControllerService/
//! ProcessAudioStream` with the same protobuf messages) and answers with a crude but
//! audio-driven animation: `JawOpen` follows the clip's loudness at 30 fps. Its blendshape
//! names come in a different order from ARKit's and include a name ARKit does not have, so the
//! client's mapping by name is exercised.

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use goassist_inference::face::a2f_proto::{
    self as pb, AnimationDataStream, AudioStream, SERVICE_NAME, animation_data_stream, audio_stream,
};
use tonic::body::Body;
use tonic::codegen::http;
use tonic::server::NamedService;

/// How the stand-in behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Animate every clip.
    Normal,
    /// Answer with an ERROR status.
    Error,
    /// Never answer.
    Hang,
}

/// The names the stand-in announces, in its own order.
pub const NAMES: [&str; 5] = [
    "MouthClose",
    "NotAnArkitShape",
    "JawOpen",
    "EyeBlinkRight",
    "BrowInnerUp",
];

/// What the stand-in saw.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub headers: Vec<pb::AudioHeader>,
    pub clips: usize,
    pub samples: usize,
    pub ended_with_end_of_audio: bool,
    /// The `authorization` header of the last call.
    pub authorization: Option<String>,
    /// TCP connections accepted.
    pub connections: usize,
}

#[derive(Clone)]
struct Standin {
    behaviour: Behaviour,
    seen: Arc<Mutex<Seen>>,
}

impl NamedService for Standin {
    const NAME: &'static str = SERVICE_NAME;
}

impl tower::Service<http::Request<Body>> for Standin {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Infallible>> + Send>,
    >;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            if request.uri().path() != pb::PROCESS_AUDIO_STREAM_PATH {
                return Ok(tonic::Status::unimplemented("unknown method").into_http());
            }
            this.seen.lock().unwrap().authorization = request
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let handler =
                tower::service_fn(move |req: tonic::Request<tonic::Streaming<AudioStream>>| {
                    let this = this.clone();
                    async move { this.process(req.into_inner()).await }
                });
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::<
                AnimationDataStream,
                AudioStream,
            >::default());
            Ok(grpc.streaming(handler, request).await)
        })
    }
}

type Answer = tokio_stream::Iter<std::vec::IntoIter<Result<AnimationDataStream, tonic::Status>>>;

impl Standin {
    async fn process(
        &self,
        mut input: tonic::Streaming<AudioStream>,
    ) -> Result<tonic::Response<Answer>, tonic::Status> {
        let mut pcm = Vec::new();
        let mut rate = 16_000;
        let mut ended = false;
        while let Some(message) = input.message().await? {
            match message.stream_part {
                Some(audio_stream::StreamPart::AudioStreamHeader(h)) => {
                    let header = h.audio_header.unwrap_or_default();
                    rate = header.samples_per_second.max(1);
                    self.seen.lock().unwrap().headers.push(header);
                }
                Some(audio_stream::StreamPart::AudioWithEmotion(a)) => pcm.extend(
                    a.audio_buffer
                        .chunks_exact(2)
                        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0),
                ),
                Some(audio_stream::StreamPart::EndOfAudio(_)) => {
                    ended = true;
                    break;
                }
                None => {}
            }
        }
        {
            let mut seen = self.seen.lock().unwrap();
            seen.clips += 1;
            seen.samples += pcm.len();
            seen.ended_with_end_of_audio = ended;
        }
        match self.behaviour {
            Behaviour::Hang => {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            Behaviour::Error => {
                let status = AnimationDataStream {
                    stream_part: Some(animation_data_stream::StreamPart::Status(pb::Status {
                        code: pb::STATUS_ERROR,
                        message: "stand-in told to fail".into(),
                    })),
                };
                return Ok(tonic::Response::new(tokio_stream::iter(vec![Ok(status)])));
            }
            Behaviour::Normal => {}
        }
        let header = AnimationDataStream {
            stream_part: Some(
                animation_data_stream::StreamPart::AnimationDataStreamHeader(
                    pb::AnimationDataStreamHeader {
                        audio_header: None,
                        skel_animation_header: Some(pb::SkelAnimationHeader {
                            blend_shapes: NAMES.iter().map(|s| s.to_string()).collect(),
                            joints: vec![],
                        }),
                        start_time_code_since_epoch: 0.0,
                    },
                ),
            ),
        };
        // 30 fps key frames; JawOpen = 4 × RMS of the 1/30 s around the key's time.
        let per_frame = (rate / 30) as usize;
        let mut frames = Vec::new();
        let mut k = 0;
        while k * per_frame < pcm.len() {
            let from = k * per_frame;
            let window = &pcm[from..(from + per_frame).min(pcm.len())];
            let rms = (window.iter().map(|x| x * x).sum::<f32>() / window.len() as f32).sqrt();
            frames.push(pb::FloatArrayWithTimeCode {
                time_code: (from + window.len() / 2) as f64 / f64::from(rate),
                values: vec![0.05, 0.9, (4.0 * rms).min(1.0), 0.0, 0.1],
            });
            k += 1;
        }
        // Two animation-data messages, as a streaming service would send them.
        let half = frames.len() / 2;
        let second = frames.split_off(half);
        let data = |weights| AnimationDataStream {
            stream_part: Some(animation_data_stream::StreamPart::AnimationData(
                pb::AnimationData {
                    skel_animation: Some(pb::SkelAnimation {
                        blend_shape_weights: weights,
                    }),
                    audio: None,
                },
            )),
        };
        let ok = AnimationDataStream {
            stream_part: Some(animation_data_stream::StreamPart::Status(pb::Status {
                code: 0,
                message: "done".into(),
            })),
        };
        Ok(tonic::Response::new(tokio_stream::iter(vec![
            Ok(header),
            Ok(data(frames)),
            Ok(data(second)),
            Ok(ok),
        ])))
    }
}

/// A running stand-in; stops when dropped.
pub struct A2fStandin {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Seen>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl A2fStandin {
    /// Starts a stand-in on 127.0.0.1 (free port) with its own runtime thread.
    pub fn start(behaviour: Behaviour) -> A2fStandin {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        // Bound with std so this works from inside another runtime (async tests) too.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let service = Standin {
            behaviour,
            seen: seen.clone(),
        };
        let counted = seen.clone();
        runtime.spawn(async move {
            use tokio_stream::StreamExt;
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let incoming =
                tokio_stream::wrappers::TcpListenerStream::new(listener).map(move |connection| {
                    counted.lock().unwrap().connections += 1;
                    connection
                });
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming)
                .await
                .unwrap();
        });
        A2fStandin {
            addr,
            seen,
            runtime: Some(runtime),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for A2fStandin {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
