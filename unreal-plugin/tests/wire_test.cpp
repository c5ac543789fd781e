// Checks GoAssistWire.h against golden vectors written by the Rust encoders.
// Usage: wire_test <vector-dir>. The directory holds index.txt (one vector name per line) and,
// per name, NAME.bin (the bytes) and NAME.expect (what decoding must give; "key value..." lines).
// Built and run by render-bridge/tests/unreal_wire_cpp.rs with -fsanitize=address,undefined.

#include "GoAssistWire.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace goassist::wire;

static int g_failures = 0;

#define CHECK(cond, ...)                                   \
  do {                                                     \
    if (!(cond)) {                                         \
      std::fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      std::fprintf(stderr, __VA_ARGS__);                   \
      std::fprintf(stderr, "\n");                          \
      ++g_failures;                                        \
    }                                                      \
  } while (0)

static std::vector<std::uint8_t> ReadBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<std::uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

static std::map<std::string, std::vector<std::string>> ReadExpect(const std::string& path) {
  std::map<std::string, std::vector<std::string>> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream words(line);
    std::string key, w;
    words >> key;
    while (words >> w) out[key].push_back(w);
  }
  return out;
}

static std::string One(std::map<std::string, std::vector<std::string>>& e, const char* key) {
  auto it = e.find(key);
  return it == e.end() || it->second.empty() ? std::string() : it->second[0];
}

static void CheckValues(const std::string& name, const float* got, const std::vector<std::string>& want) {
  CHECK(want.size() == kCurveCount, "%s: expect file has %zu values", name.c_str(), want.size());
  for (std::size_t i = 0; i < want.size() && i < kCurveCount; ++i) {
    const float w = std::strtof(want[i].c_str(), nullptr);
    CHECK(got[i] == w, "%s: value %zu (%s) is %.9g, want %.9g", name.c_str(), i, CurveNames()[i],
          got[i], w);
  }
}

static void CheckBridge(const std::string& name, const std::vector<std::uint8_t>& bytes,
                        std::map<std::string, std::vector<std::string>>& e) {
  BridgeDatagram d;
  const Status s = DecodeBridgeDatagram(bytes.data(), bytes.size(), &d);
  CHECK(One(e, "status") == StatusName(s), "%s: status %s, want %s", name.c_str(), StatusName(s),
        One(e, "status").c_str());
  if (s != Status::kOk) return;
  CHECK(std::to_string(d.avatar_id) == One(e, "avatar"), "%s: avatar", name.c_str());
  CHECK(std::to_string(d.frame.session_id) == One(e, "session"), "%s: session", name.c_str());
  CHECK(std::to_string(d.frame.epoch) == One(e, "epoch"), "%s: epoch", name.c_str());
  CHECK(std::to_string(d.frame.seq) == One(e, "seq"), "%s: seq", name.c_str());
  CHECK(std::to_string(d.frame.sample_pos) == One(e, "sample_pos"), "%s: sample_pos", name.c_str());
  CheckValues(name, d.frame.values, e["values"]);
  const auto& audio = e["audio"];
  CHECK(audio.size() == d.audio_samples, "%s: %zu audio samples, want %zu", name.c_str(), d.audio_samples,
        audio.size());
  for (std::size_t i = 0; i < audio.size() && i < d.audio_samples; ++i) {
    CHECK(std::to_string(d.AudioSample(i)) == audio[i], "%s: audio sample %zu", name.c_str(), i);
  }
  const std::string subject = d.subject ? std::string(d.subject, d.subject_len) : std::string("-");
  CHECK(subject == One(e, "subject"), "%s: subject %s, want %s", name.c_str(), subject.c_str(),
        One(e, "subject").c_str());
}

static void CheckLiveLink(const std::string& name, const std::vector<std::uint8_t>& bytes,
                          std::map<std::string, std::vector<std::string>>& e) {
  LiveLinkPacket p;
  const Status s = DecodeLiveLink(bytes.data(), bytes.size(), &p);
  CHECK(One(e, "status") == StatusName(s), "%s: status %s, want %s", name.c_str(), StatusName(s),
        One(e, "status").c_str());
  if (s != Status::kOk) return;
  CHECK(std::string(p.device_id, p.device_id_len) == One(e, "device_id"), "%s: device id", name.c_str());
  CHECK(std::string(p.subject, p.subject_len) == One(e, "subject"), "%s: subject", name.c_str());
  CHECK(std::to_string(p.frame) == One(e, "frame"), "%s: frame", name.c_str());
  CHECK(p.sub_frame == std::strtof(One(e, "sub_frame").c_str(), nullptr), "%s: sub-frame", name.c_str());
  CHECK(std::to_string(p.rate_numerator) == One(e, "rate_numerator"), "%s: rate", name.c_str());
  CHECK(std::to_string(p.rate_denominator) == One(e, "rate_denominator"), "%s: rate", name.c_str());
  CheckValues(name, p.values, e["values"]);
}

// Truncations of a valid vector never decode; byte flips never crash (the sanitizers watch).
static void Sweep(const std::string& kind, const std::vector<std::uint8_t>& bytes) {
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    std::vector<std::uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    BridgeDatagram d;
    LiveLinkPacket p;
    const Status s = kind == "bridge" ? DecodeBridgeDatagram(cut.data(), cut.size(), &d)
                                      : DecodeLiveLink(cut.data(), cut.size(), &p);
    CHECK(s != Status::kOk, "%s: prefix of %zu bytes decoded", kind.c_str(), n);
  }
  const std::uint8_t patterns[] = {0x00, 0x01, 0x7F, 0x80, 0xFF};
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    for (std::uint8_t b : patterns) {
      std::vector<std::uint8_t> bad = bytes;
      bad[i] = b;
      BridgeDatagram d;
      LiveLinkPacket p;
      (void)DecodeBridgeDatagram(bad.data(), bad.size(), &d);
      (void)DecodeLiveLink(bad.data(), bad.size(), &p);
      if (d.audio_samples > 0) (void)d.AudioSample(d.audio_samples - 1);
      if (d.subject != nullptr) (void)std::string(d.subject, d.subject_len);
    }
  }
  BridgeDatagram d;
  CHECK(DecodeBridgeDatagram(nullptr, 0, &d) == Status::kLength, "null input");
}

static void CheckHelpers() {
  StreamOrder order;
  FaceFrame f;
  f.session_id = 1;
  f.epoch = 2;
  f.seq = 10;
  CHECK(order.Accept(f), "first frame");
  CHECK(!order.Accept(f), "duplicate");
  f.seq = 11;
  CHECK(order.Accept(f), "next");
  f.epoch = 1;
  f.seq = 12;
  CHECK(!order.Accept(f), "stale epoch");
  f.epoch = 3;
  f.seq = 0;
  CHECK(order.Accept(f), "new epoch");
  f.seq = 0xFFFFFFFFu;
  order.last_seq = 0xFFFFFFFEu;
  CHECK(order.Accept(f), "before wrap");
  f.seq = 0;
  CHECK(order.Accept(f), "wraps");
  CHECK(FreezeKeep(0.0, 0.3) == 1.0f, "freeze starts at 1");
  CHECK(FreezeKeep(0.3, 0.3) == 0.0f, "freeze ends at 0");
  CHECK(std::fabs(FreezeKeep(0.15, 0.3) - 0.5f) < 1e-6f, "freeze midpoint");
  CHECK(FreezeKeep(1.0, 0.0) == 0.0f, "zero-length freeze snaps");
  CHECK(std::string(CurveNames()[17]) == "JawOpen", "curve 17");
  CHECK(std::string(CurveNames()[60]) == "RightEyeRoll", "curve 60");
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: wire_test <vector-dir>\n");
    return 2;
  }
  const std::string dir = argv[1];
  std::ifstream index(dir + "/index.txt");
  std::string name;
  int checked = 0;
  while (std::getline(index, name)) {
    if (name.empty()) continue;
    const auto bytes = ReadBytes(dir + "/" + name + ".bin");
    auto expect = ReadExpect(dir + "/" + name + ".expect");
    const std::string kind = One(expect, "kind");
    if (kind == "bridge") {
      CheckBridge(name, bytes, expect);
    } else if (kind == "livelink") {
      CheckLiveLink(name, bytes, expect);
    } else {
      CHECK(false, "%s: unknown kind '%s'", name.c_str(), kind.c_str());
    }
    if (One(expect, "status") == "ok") Sweep(kind, bytes);
    ++checked;
  }
  CheckHelpers();
  CHECK(checked > 0, "no vectors in %s", dir.c_str());
  std::printf("checked %d vectors, %d failures\n", checked, g_failures);
  return g_failures == 0 ? 0 : 1;
}
