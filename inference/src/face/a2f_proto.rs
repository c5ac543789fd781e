//! The subset of NVIDIA's Audio2Face-3D gRPC messages GoAssist uses, written by hand as prost
//! messages (so no `protoc` is needed at build time). Field numbers and types follow NVIDIA's
//! published protos (github.com/NVIDIA/ACE, `microservices/audio_2_face_microservice`:
//! `nvidia_ace.controller.v1`, `nvidia_ace.a2f.v1`, `nvidia_ace.audio.v1`,
//! `nvidia_ace.animation_data.v1`, `nvidia_ace.status.v1`). Fields we never send or read (face
//! and emotion parameters, emotions, joints, camera, `Any` metadata) are left out; protobuf
//! decoding skips unknown fields, so real NIM responses that carry them still decode.

#![allow(missing_docs)] // mirrors of NVIDIA's messages; see their protos for field docs

/// gRPC method path of the bidirectional stream.
pub const PROCESS_AUDIO_STREAM_PATH: &str =
    "/nvidia_ace.services.a2f_controller.v1.A2FControllerService/ProcessAudioStream";
/// gRPC service name (for a server).
pub const SERVICE_NAME: &str = "nvidia_ace.services.a2f_controller.v1.A2FControllerService";

/// `nvidia_ace.audio.v1.AudioHeader`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AudioHeader {
    /// 0 = AUDIO_FORMAT_PCM.
    #[prost(int32, tag = "1")]
    pub audio_format: i32,
    #[prost(uint32, tag = "2")]
    pub channel_count: u32,
    #[prost(uint32, tag = "3")]
    pub samples_per_second: u32,
    #[prost(uint32, tag = "4")]
    pub bits_per_sample: u32,
}

/// `nvidia_ace.controller.v1.AudioStreamHeader` (face/emotion/blendshape parameters omitted:
/// the service then uses its configured defaults).
#[derive(Clone, PartialEq, prost::Message)]
pub struct AudioStreamHeader {
    #[prost(message, optional, tag = "1")]
    pub audio_header: Option<AudioHeader>,
}

/// `nvidia_ace.a2f.v1.AudioWithEmotion` (emotions omitted).
#[derive(Clone, PartialEq, prost::Message)]
pub struct AudioWithEmotion {
    /// PCM as described by the header (16-bit little-endian mono).
    #[prost(bytes = "vec", tag = "1")]
    pub audio_buffer: Vec<u8>,
}

/// `nvidia_ace.controller.v1.AudioStream.EndOfAudio`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EndOfAudio {}

/// `nvidia_ace.controller.v1.AudioStream`: header, audio chunks, end of audio.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AudioStream {
    #[prost(oneof = "audio_stream::StreamPart", tags = "1, 2, 3")]
    pub stream_part: Option<audio_stream::StreamPart>,
}

/// The parts of [`AudioStream`].
pub mod audio_stream {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum StreamPart {
        #[prost(message, tag = "1")]
        AudioStreamHeader(super::AudioStreamHeader),
        #[prost(message, tag = "2")]
        AudioWithEmotion(super::AudioWithEmotion),
        #[prost(message, tag = "3")]
        EndOfAudio(super::EndOfAudio),
    }
}

/// `nvidia_ace.animation_data.v1.SkelAnimationHeader`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SkelAnimationHeader {
    /// Blendshape names, in the order of every later weight array.
    #[prost(string, repeated, tag = "1")]
    pub blend_shapes: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub joints: Vec<String>,
}

/// `nvidia_ace.controller.v1.AnimationDataStreamHeader`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AnimationDataStreamHeader {
    #[prost(message, optional, tag = "1")]
    pub audio_header: Option<AudioHeader>,
    #[prost(message, optional, tag = "2")]
    pub skel_animation_header: Option<SkelAnimationHeader>,
    #[prost(double, tag = "3")]
    pub start_time_code_since_epoch: f64,
}

/// `nvidia_ace.animation_data.v1.FloatArrayWithTimeCode`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FloatArrayWithTimeCode {
    /// Seconds from the start of the stream's audio.
    #[prost(double, tag = "1")]
    pub time_code: f64,
    #[prost(float, repeated, tag = "2")]
    pub values: Vec<f32>,
}

/// `nvidia_ace.animation_data.v1.SkelAnimation` (joint transforms omitted).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SkelAnimation {
    #[prost(message, repeated, tag = "1")]
    pub blend_shape_weights: Vec<FloatArrayWithTimeCode>,
}

/// `nvidia_ace.animation_data.v1.AudioWithTimeCode`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AudioWithTimeCode {
    #[prost(double, tag = "1")]
    pub time_code: f64,
    #[prost(bytes = "vec", tag = "2")]
    pub audio_buffer: Vec<u8>,
}

/// `nvidia_ace.animation_data.v1.AnimationData` (camera and metadata omitted).
#[derive(Clone, PartialEq, prost::Message)]
pub struct AnimationData {
    #[prost(message, optional, tag = "1")]
    pub skel_animation: Option<SkelAnimation>,
    #[prost(message, optional, tag = "2")]
    pub audio: Option<AudioWithTimeCode>,
}

/// `nvidia_ace.controller.v1.Event` (metadata omitted).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    /// 0 = END_OF_A2F_AUDIO_PROCESSING.
    #[prost(int32, tag = "1")]
    pub event_type: i32,
}

/// `nvidia_ace.status.v1.Status`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Status {
    /// 0 SUCCESS, 1 INFO, 2 WARNING, 3 ERROR.
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// Status code meaning the request failed.
pub const STATUS_ERROR: i32 = 3;

/// `nvidia_ace.controller.v1.AnimationDataStream`: header, animation data, events, status.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AnimationDataStream {
    #[prost(oneof = "animation_data_stream::StreamPart", tags = "1, 2, 3, 4")]
    pub stream_part: Option<animation_data_stream::StreamPart>,
}

/// The parts of [`AnimationDataStream`].
pub mod animation_data_stream {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum StreamPart {
        #[prost(message, tag = "1")]
        AnimationDataStreamHeader(super::AnimationDataStreamHeader),
        #[prost(message, tag = "2")]
        AnimationData(super::AnimationData),
        #[prost(message, tag = "3")]
        Event(super::Event),
        #[prost(message, tag = "4")]
        Status(super::Status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// Golden bytes worked out by hand from the proto field numbers, so a change of tag or
    /// wire type shows up here rather than against a real NIM.
    #[test]
    fn wire_bytes_match_the_proto_field_numbers() {
        let header = AudioStream {
            stream_part: Some(audio_stream::StreamPart::AudioStreamHeader(
                AudioStreamHeader {
                    audio_header: Some(AudioHeader {
                        audio_format: 0,
                        channel_count: 1,
                        samples_per_second: 16_000,
                        bits_per_sample: 16,
                    }),
                },
            )),
        };
        // field 1 (len) { field 1 (len) { 2:1, 3:16000, 4:16 } }
        assert_eq!(
            header.encode_to_vec(),
            vec![
                0x0A, 0x09, 0x0A, 0x07, 0x10, 0x01, 0x18, 0x80, 0x7D, 0x20, 0x10
            ]
        );
        let end = AudioStream {
            stream_part: Some(audio_stream::StreamPart::EndOfAudio(EndOfAudio {})),
        };
        assert_eq!(end.encode_to_vec(), vec![0x1A, 0x00]);
        let weights = FloatArrayWithTimeCode {
            time_code: 0.5,
            values: vec![1.0],
        };
        // 1: double 0.5 (fixed64), 2: packed floats
        assert_eq!(
            weights.encode_to_vec(),
            vec![
                0x09, 0, 0, 0, 0, 0, 0, 0xE0, 0x3F, 0x12, 0x04, 0, 0, 0x80, 0x3F
            ]
        );
        let status = AnimationDataStream {
            stream_part: Some(animation_data_stream::StreamPart::Status(Status {
                code: STATUS_ERROR,
                message: "x".into(),
            })),
        };
        assert_eq!(
            status.encode_to_vec(),
            vec![0x22, 0x05, 0x08, 0x03, 0x12, 0x01, b'x']
        );
    }

    #[test]
    fn garbage_bytes_decode_to_errors_not_panics() {
        for bytes in [
            &[0xFFu8, 0xFF, 0xFF][..],
            &[0x0A, 0x50],
            &[0x22, 0x05, 0x08],
        ] {
            assert!(AnimationDataStream::decode(bytes).is_err());
        }
    }
}
