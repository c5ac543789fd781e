// libFuzzer target for GoAssistWire.h, the plugin's decoder of network bytes: every input goes
// to every decode entry point (bridge-stream datagram, FaceFrame, Live Link Face v6) and what
// decodes is read to its last byte, as the plugin's receive thread reads it
// (GoAssistLiveLinkSource.cpp: subject, frame order, every audio sample), with
// AddressSanitizer and UndefinedBehaviorSanitizer watching. Beyond "no memory error, no UB",
// each decode is checked against the layout in the header's comment: a datagram that decodes
// is exactly as long as its flags say, its pointers stay inside the input, its subject is
// valid UTF-8 of 1..64 bytes, its weights are in 0..1 and its rotations in -1..1.
//
// Built and run by scripts/fuzz.sh (target plugin_wire, corpus protocol/fuzz/corpus/plugin_wire/):
//   clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
//     -I unreal-plugin/GoAssistLiveLink/Source/GoAssistLiveLink/Public unreal-plugin/tests/fuzz_wire.cpp

#include "GoAssistWire.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

using namespace goassist::wire;

#define FUZZ_CHECK(cond)                                                          \
  do {                                                                            \
    if (!(cond)) {                                                                \
      std::fprintf(stderr, "fuzz_wire: check failed at %s:%d: %s\n", __FILE__,    \
                   __LINE__, #cond);                                              \
      std::abort();                                                               \
    }                                                                             \
  } while (0)

namespace {

// Sums bytes so that reading them cannot be optimised away (ASan sees every read).
volatile unsigned g_sink = 0;

void Touch(const void* p, std::size_t n) {
  const auto* b = static_cast<const std::uint8_t*>(p);
  unsigned sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum += b[i];
  g_sink = g_sink + sum;
}

bool Inside(const void* p, std::size_t n, const std::uint8_t* data, std::size_t len) {
  const auto* b = static_cast<const std::uint8_t*>(p);
  return b >= data && n <= len && static_cast<std::size_t>(b - data) <= len - n;
}

void CheckFrame(const FaceFrame& f) {
  for (int i = 0; i < kCurveCount; ++i) {
    const float v = f.values[i];
    FUZZ_CHECK(std::isfinite(v));
    if (i < kBlendshapeCount) {
      FUZZ_CHECK(v >= 0.0f && v <= 1.0f);
    } else {
      // i16 / 32767: -32768 gives a hair under -1.
      FUZZ_CHECK(v >= -1.0001f && v <= 1.0f);
    }
  }
  // The plugin keeps one order per subject: a frame is never accepted twice in a row.
  StreamOrder order;
  FUZZ_CHECK(order.Accept(f));
  FUZZ_CHECK(!order.Accept(f));
}

void FuzzFaceFrame(const std::uint8_t* data, std::size_t len) {
  FaceFrame f;
  const Status s = DecodeFaceFrame(data, len, &f);
  (void)StatusName(s);
  if (s != Status::kOk) return;
  FUZZ_CHECK(len == kFaceFrameLen && data[0] == 0xFA && data[1] == 1);
  CheckFrame(f);
}

void FuzzBridge(const std::uint8_t* data, std::size_t len) {
  BridgeDatagram d;
  const Status s = DecodeBridgeDatagram(data, len, &d);
  (void)StatusName(s);
  if (s != Status::kOk) {
    FUZZ_CHECK(d.audio_le == nullptr && d.subject == nullptr);
    return;
  }
  // The length is exactly what the flags announce.
  const std::uint8_t flags = data[2];
  std::size_t want = kFaceOnlyLen;
  if (flags & 1u) want += 2 + 2 * static_cast<std::size_t>(data[kFaceOnlyLen] | data[kFaceOnlyLen + 1] << 8);
  if (flags & 2u) {
    FUZZ_CHECK(want < len);
    want += 1 + data[want];
  }
  FUZZ_CHECK(len == want);
  FUZZ_CHECK(d.avatar_id == (static_cast<std::uint32_t>(data[4]) | static_cast<std::uint32_t>(data[5]) << 8 |
                             static_cast<std::uint32_t>(data[6]) << 16 | static_cast<std::uint32_t>(data[7]) << 24));
  // Audio: inside the input, every sample read as PushAudio reads it, nothing past the end.
  FUZZ_CHECK((d.audio_samples > 0) == ((flags & 1u) != 0));
  FUZZ_CHECK(d.audio_samples <= kMaxAudioSamples);
  if (d.audio_samples > 0) {
    FUZZ_CHECK(Inside(d.audio_le, 2 * d.audio_samples, data, len));
    float sum = 0.0f;
    for (std::size_t i = 0; i < d.audio_samples; ++i) sum += d.AudioSample(i) / 32768.0f;
    FUZZ_CHECK(std::isfinite(sum));
  } else {
    FUZZ_CHECK(d.audio_le == nullptr);
  }
  FUZZ_CHECK(d.AudioSample(d.audio_samples) == 0);
  // Subject: inside the input, 1..64 bytes of strict UTF-8 (FUTF8ToTCHAR gets it as is).
  FUZZ_CHECK((d.subject != nullptr) == ((flags & 2u) != 0));
  if (d.subject != nullptr) {
    FUZZ_CHECK(d.subject_len >= 1 && d.subject_len <= kMaxSubjectLen);
    FUZZ_CHECK(Inside(d.subject, d.subject_len, data, len));
    FUZZ_CHECK(detail::ValidUtf8(reinterpret_cast<const std::uint8_t*>(d.subject), d.subject_len));
    Touch(d.subject, d.subject_len);
  } else {
    FUZZ_CHECK(d.subject_len == 0);
  }
  // The embedded frame is the FaceFrame decoder's reading of the same bytes.
  FaceFrame f;
  FUZZ_CHECK(DecodeFaceFrame(data + kBridgeHeaderLen, kFaceFrameLen, &f) == Status::kOk);
  FUZZ_CHECK(f.session_id == d.frame.session_id && f.epoch == d.frame.epoch && f.seq == d.frame.seq &&
             f.sample_pos == d.frame.sample_pos);
  for (int i = 0; i < kCurveCount; ++i) FUZZ_CHECK(f.values[i] == d.frame.values[i]);
  CheckFrame(d.frame);
}

void FuzzLiveLink(const std::uint8_t* data, std::size_t len) {
  LiveLinkPacket p;
  const Status s = DecodeLiveLink(data, len, &p);
  (void)StatusName(s);
  if (s != Status::kOk) {
    FUZZ_CHECK(p.device_id == nullptr && p.subject == nullptr);
    return;
  }
  FUZZ_CHECK(p.device_id_len <= kMaxLiveLinkIdLen && p.subject_len <= kMaxLiveLinkIdLen);
  FUZZ_CHECK(Inside(p.device_id, p.device_id_len, data, len));
  FUZZ_CHECK(Inside(p.subject, p.subject_len, data, len));
  Touch(p.device_id, p.device_id_len);
  Touch(p.subject, p.subject_len);
  // version, two length-prefixed strings, frame time and rate, curve count, 61 floats.
  FUZZ_CHECK(len == 1 + 4 + p.device_id_len + 4 + p.subject_len + 17 + 4 * kCurveCount);
  Touch(p.values, sizeof p.values);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzBridge(data, size);
  FuzzLiveLink(data, size);
  FuzzFaceFrame(data, size);
  // A FaceFrame has one exact length; also read the input's first 150 bytes as one, so the
  // fuzzer reaches it from any longer input.
  if (size > kFaceFrameLen) FuzzFaceFrame(data, kFaceFrameLen);
  // And the null input the decoders promise to refuse.
  BridgeDatagram d;
  LiveLinkPacket p;
  FaceFrame f;
  FUZZ_CHECK(DecodeBridgeDatagram(nullptr, size, &d) == Status::kLength);
  FUZZ_CHECK(DecodeLiveLink(nullptr, size, &p) == Status::kLength);
  FUZZ_CHECK(DecodeFaceFrame(nullptr, size, &f) == Status::kLength);
  return 0;
}
