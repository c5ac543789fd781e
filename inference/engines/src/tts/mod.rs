//! Text to speech: Piper VITS voices via ONNX Runtime, phonemes from espeak-ng.

pub mod espeak;
