//! Wire types and codecs that GoAssist processes and clients share.
//!
//! Every encoding here is a pure `encode`/`decode` pair with no I/O, so each is unit-tested
//! alone with golden vectors and fuzzed. Decoders never panic on peer input: malformed bytes
//! come back as a typed error.

pub mod arkit;
pub mod auth;
pub mod bridge_auth;
pub mod bridge_stream;
pub mod events;
pub mod face_frame;
pub mod livelink;
pub mod vmc;
#[cfg(feature = "whip")]
pub mod whip;

pub use arkit::{ARKIT_COUNT, BLENDSHAPE_COUNT, CurveIndex};
pub use face_frame::{FaceFrame, FaceFrameError};
