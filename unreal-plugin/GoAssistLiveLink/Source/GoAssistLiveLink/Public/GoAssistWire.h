// GoAssistWire.h: engine-free decoding of the GoAssist bridge stream (the datagrams the
// render-bridge sends to this plugin) and of Live Link Face v6 packets.
//
// Plain C++17, no Unreal types, no allocation, no exceptions: the plugin's receive thread calls
// it, and CI compiles it with g++ and checks it against golden vectors written by the Rust
// encoder (render-bridge/tests/unreal_wire_cpp.rs). Every decoder checks lengths before it
// reads and returns a status instead of trusting the peer.
//
// Bridge stream, version 1 (little-endian), see protocol/src/bridge_stream.rs:
//   0 u8 magic 0xB5 | 1 u8 version 1 | 2 u8 flags (bit 0: audio, bit 1: subject) | 3 u8 0
//   4 u32 avatar id | 8..158 FaceFrame (150 bytes, protocol/src/face_frame.rs)
//   [158 u16 sample count N (1..4800) | 160 N x i16 mono PCM, 48 kHz]   (flag bit 0)
//   [u8 subject length L (1..64) | L bytes UTF-8 Live Link subject name]   (flag bit 1, last)
// The subject is present only when the render-bridge routed the avatar to a named subject;
// then it replaces the source's subject pattern.
// FaceFrame, version 1 (little-endian):
//   0 u8 0xFA | 1 u8 version 1 | 2 u16 flags | 4 u64 session | 12 u32 epoch | 16 u32 seq
//   20 u64 sample position (48 kHz) | 28 52 x u16 weights (/65535) | 132 9 x i16 rotations (/32767)
// Live Link Face v6 (big-endian), see protocol/src/livelink.rs.

#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace goassist {
namespace wire {

constexpr int kCurveCount = 61;
constexpr int kBlendshapeCount = 52;
constexpr std::size_t kFaceFrameLen = 150;
constexpr std::size_t kBridgeHeaderLen = 8;
constexpr std::size_t kFaceOnlyLen = kBridgeHeaderLen + kFaceFrameLen;
constexpr std::size_t kMaxAudioSamples = 4800;
constexpr std::size_t kMaxSubjectLen = 64;
constexpr std::size_t kMaxDatagramLen = kFaceOnlyLen + 2 + 2 * kMaxAudioSamples + 1 + kMaxSubjectLen;
constexpr std::uint32_t kAudioSampleRate = 48000;
constexpr std::size_t kMaxLiveLinkIdLen = 64;

// Unreal's ARKit curve names (EARFaceBlendShape order); index = position in a frame.
inline const char* const* CurveNames() {
  static const char* const kNames[kCurveCount] = {
      "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft",
      "EyeSquintLeft", "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight",
      "EyeLookOutRight", "EyeLookUpRight", "EyeSquintRight", "EyeWideRight", "JawForward",
      "JawLeft", "JawRight", "JawOpen", "MouthClose", "MouthFunnel",
      "MouthPucker", "MouthLeft", "MouthRight", "MouthSmileLeft", "MouthSmileRight",
      "MouthFrownLeft", "MouthFrownRight", "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft",
      "MouthStretchRight", "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper",
      "MouthPressLeft", "MouthPressRight", "MouthLowerDownLeft", "MouthLowerDownRight", "MouthUpperUpLeft",
      "MouthUpperUpRight", "BrowDownLeft", "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft",
      "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft", "CheekSquintRight", "NoseSneerLeft",
      "NoseSneerRight", "TongueOut",
      "HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
      "RightEyeYaw", "RightEyePitch", "RightEyeRoll"};
  return kNames;
}

enum class Status {
  kOk = 0,
  kLength,       // wrong size for what the header says
  kMagic,        // not a bridge datagram / face frame
  kVersion,      // unknown version
  kFlags,        // unknown flag bits or reserved byte set
  kAudioLength,  // audio chunk of 0 or more than kMaxAudioSamples samples
  kSubject,      // subject name of 0 or more than kMaxSubjectLen bytes, or not UTF-8
  kStringLength, // Live Link id length negative or too long
  kCurveCount,   // Live Link curve count other than 61
  kTrailing,     // bytes after the last field
};

inline const char* StatusName(Status s) {
  switch (s) {
    case Status::kOk: return "ok";
    case Status::kLength: return "length";
    case Status::kMagic: return "magic";
    case Status::kVersion: return "version";
    case Status::kFlags: return "flags";
    case Status::kAudioLength: return "audio_length";
    case Status::kSubject: return "subject";
    case Status::kStringLength: return "string_length";
    case Status::kCurveCount: return "curve_count";
    case Status::kTrailing: return "trailing";
  }
  return "unknown";
}

struct FaceFrame {
  std::uint64_t session_id = 0;
  std::uint32_t epoch = 0;
  std::uint32_t seq = 0;
  std::uint64_t sample_pos = 0;  // 48 kHz audio clock
  float values[kCurveCount] = {};  // Unreal order; weights 0..1, rotations degrees/180
};

struct BridgeDatagram {
  std::uint32_t avatar_id = 0;
  FaceFrame frame;
  // Audio stays in the caller's buffer: little-endian i16, read with AudioSample().
  const std::uint8_t* audio_le = nullptr;
  std::size_t audio_samples = 0;
  // The routed Live Link subject, when the bridge named one (points into the caller's buffer,
  // not NUL-terminated, valid UTF-8); nullptr otherwise.
  const char* subject = nullptr;
  std::size_t subject_len = 0;

  std::int16_t AudioSample(std::size_t i) const {
    if (audio_le == nullptr || i >= audio_samples) return 0;
    return static_cast<std::int16_t>(static_cast<std::uint16_t>(audio_le[2 * i]) |
                                     static_cast<std::uint16_t>(audio_le[2 * i + 1]) << 8);
  }
};

namespace detail {
inline std::uint16_t LeU16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
inline std::uint32_t LeU32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}
inline std::uint64_t LeU64(const std::uint8_t* p) {
  return static_cast<std::uint64_t>(LeU32(p)) | static_cast<std::uint64_t>(LeU32(p + 4)) << 32;
}
// Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF), as Rust's from_utf8.
inline bool ValidUtf8(const std::uint8_t* p, std::size_t n) {
  std::size_t i = 0;
  while (i < n) {
    const std::uint8_t c = p[i];
    std::size_t len = 0;
    std::uint8_t lo = 0x80, hi = 0xBF;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (n - i < len) return false;
    if (p[i + 1] < lo || p[i + 1] > hi) return false;
    for (std::size_t k = 2; k < len; ++k) {
      if (p[i + k] < 0x80 || p[i + k] > 0xBF) return false;
    }
    i += len;
  }
  return true;
}
inline std::uint32_t BeU32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) << 24 | static_cast<std::uint32_t>(p[1]) << 16 |
         static_cast<std::uint32_t>(p[2]) << 8 | static_cast<std::uint32_t>(p[3]);
}
inline float BeF32(const std::uint8_t* p) {
  const std::uint32_t bits = BeU32(p);
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}
}  // namespace detail

// Decodes the 150-byte FaceFrame encoding.
inline Status DecodeFaceFrame(const std::uint8_t* data, std::size_t len, FaceFrame* out) {
  if (data == nullptr || len != kFaceFrameLen) return Status::kLength;
  if (data[0] != 0xFA) return Status::kMagic;
  if (data[1] != 1) return Status::kVersion;
  out->session_id = detail::LeU64(data + 4);
  out->epoch = detail::LeU32(data + 12);
  out->seq = detail::LeU32(data + 16);
  out->sample_pos = detail::LeU64(data + 20);
  for (int i = 0; i < kCurveCount; ++i) {
    const std::uint16_t raw = detail::LeU16(data + 28 + 2 * i);
    out->values[i] = i < kBlendshapeCount
                         ? static_cast<float>(raw) / 65535.0f
                         : static_cast<float>(static_cast<std::int16_t>(raw)) / 32767.0f;
  }
  return Status::kOk;
}

// Decodes one bridge-stream datagram. On kOk, out->audio_le and out->subject point into `data`.
inline Status DecodeBridgeDatagram(const std::uint8_t* data, std::size_t len, BridgeDatagram* out) {
  if (data == nullptr || len < kFaceOnlyLen) return Status::kLength;
  if (data[0] != 0xB5) return Status::kMagic;
  if (data[1] != 1) return Status::kVersion;
  const std::uint8_t flags = data[2];
  if ((flags & ~3u) != 0 || data[3] != 0) return Status::kFlags;
  std::size_t end = kFaceOnlyLen;
  std::size_t audio_samples = 0;
  if (flags & 1u) {
    if (len < end + 2) return Status::kLength;
    audio_samples = detail::LeU16(data + end);
    if (audio_samples == 0 || audio_samples > kMaxAudioSamples) return Status::kAudioLength;
    end += 2 + 2 * audio_samples;
  }
  std::size_t subject_at = 0;
  std::size_t subject_len = 0;
  if (flags & 2u) {
    if (len < end + 1) return Status::kLength;
    subject_len = data[end];
    if (subject_len == 0 || subject_len > kMaxSubjectLen) return Status::kSubject;
    subject_at = end + 1;
    end = subject_at + subject_len;
    if (len == end && !detail::ValidUtf8(data + subject_at, subject_len)) return Status::kSubject;
  }
  if (len != end) return Status::kLength;
  const Status s = DecodeFaceFrame(data + kBridgeHeaderLen, kFaceFrameLen, &out->frame);
  if (s != Status::kOk) return s;
  out->avatar_id = detail::LeU32(data + 4);
  out->audio_samples = audio_samples;
  out->audio_le = audio_samples > 0 ? data + kFaceOnlyLen + 2 : nullptr;
  out->subject = subject_len > 0 ? reinterpret_cast<const char*>(data + subject_at) : nullptr;
  out->subject_len = subject_len;
  return Status::kOk;
}

// A Live Link Face v6 packet; the strings point into the caller's buffer (not NUL-terminated).
struct LiveLinkPacket {
  const char* device_id = nullptr;
  std::size_t device_id_len = 0;
  const char* subject = nullptr;
  std::size_t subject_len = 0;
  std::int32_t frame = 0;
  float sub_frame = 0.0f;
  std::int32_t rate_numerator = 0;
  std::int32_t rate_denominator = 0;
  float values[kCurveCount] = {};
};

// Decodes a Live Link Face v6 packet (big-endian). UTF-8 validity is not checked here.
inline Status DecodeLiveLink(const std::uint8_t* data, std::size_t len, LiveLinkPacket* out) {
  std::size_t at = 0;
  auto need = [&](std::size_t n) { return data != nullptr && n <= len && at <= len - n; };
  if (!need(1)) return Status::kLength;
  if (data[at++] != 6) return Status::kVersion;
  const char* strings[2] = {nullptr, nullptr};
  std::size_t lengths[2] = {0, 0};
  for (int k = 0; k < 2; ++k) {
    if (!need(4)) return Status::kLength;
    const std::int32_t n = static_cast<std::int32_t>(detail::BeU32(data + at));
    at += 4;
    if (n < 0 || static_cast<std::size_t>(n) > kMaxLiveLinkIdLen) return Status::kStringLength;
    if (!need(static_cast<std::size_t>(n))) return Status::kLength;
    strings[k] = reinterpret_cast<const char*>(data + at);
    lengths[k] = static_cast<std::size_t>(n);
    at += static_cast<std::size_t>(n);
  }
  if (!need(17)) return Status::kLength;
  out->frame = static_cast<std::int32_t>(detail::BeU32(data + at));
  out->sub_frame = detail::BeF32(data + at + 4);
  out->rate_numerator = static_cast<std::int32_t>(detail::BeU32(data + at + 8));
  out->rate_denominator = static_cast<std::int32_t>(detail::BeU32(data + at + 12));
  if (data[at + 16] != kCurveCount) return Status::kCurveCount;
  at += 17;
  if (!need(4 * kCurveCount)) return Status::kLength;
  for (int i = 0; i < kCurveCount; ++i) out->values[i] = detail::BeF32(data + at + 4 * i);
  at += 4 * kCurveCount;
  if (at != len) return Status::kTrailing;
  out->device_id = strings[0];
  out->device_id_len = lengths[0];
  out->subject = strings[1];
  out->subject_len = lengths[1];
  return Status::kOk;
}

// Tracks one subject's epoch and order, as the render-bridge does: frames of an older epoch,
// or not after the last sequence number of the same epoch and session, are stale.
struct StreamOrder {
  bool has_frame = false;
  std::uint64_t session_id = 0;
  std::uint32_t epoch = 0;
  std::uint32_t last_seq = 0;

  // Returns true if the frame should be applied (and records it).
  bool Accept(const FaceFrame& f) {
    if (!has_frame || f.session_id != session_id || f.epoch > epoch) {
      has_frame = true;
      session_id = f.session_id;
      epoch = f.epoch;
      last_seq = f.seq;
      return true;
    }
    if (f.epoch < epoch) return false;
    if (static_cast<std::int32_t>(f.seq - last_seq) <= 0) return false;
    last_seq = f.seq;
    return true;
  }
};

// Ease-in-out weight kept after `elapsed` of a freeze lasting `duration` (1 -> 0).
inline float FreezeKeep(double elapsed_s, double duration_s) {
  if (duration_s <= 0.0) return 0.0f;
  double t = elapsed_s / duration_s;
  if (t < 0.0) t = 0.0;
  if (t > 1.0) t = 1.0;
  return static_cast<float>(1.0 - t * t * (3.0 - 2.0 * t));
}

}  // namespace wire
}  // namespace goassist
