#!/usr/bin/env bash
# Voice-loop benchmark: starts goassist-inference on the embedded models (loopback, free ports),
# drives it over real WebRTC with recorded speech (inference/client/examples/bench_voice.rs) and writes
# docs/benchmarks/voice.md.
#
# Usage: scripts/bench_voice.sh [--turns N] [--sweep 1,2,4,8]   (PROFILE=release for a release build)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
profile=${PROFILE:-dev}
models=${MODELS_DIR:-$here/models}
flag=(); dir=debug
if [ "$profile" = release ]; then flag=(--release); dir=release; fi

echo "bench_voice: building ($profile)"
cargo build "${flag[@]}" -q -p goassist-inference -p goassist-client --bin goassist-inference --example bench_voice

port=${BENCH_PORT:-18181}
log=$(mktemp -t goassist-bench-XXXX.log)
MODELS_DIR=$models API_HOST=127.0.0.1 API_PORT=$port METRICS_PORT=0 MAX_CONCURRENT_SESSIONS=16 SESSIONS_PER_IP_PER_MINUTE=0 \
  LLM_MODEL_PATH=$models/llm/qwen2.5-0.5b-instruct-q8.gguf \
  ASR_MODEL_PATH=$models/asr/moonshine-base-en \
  TTS_ENGINE=piper TTS_MODEL_PATH=$models/tts/piper/en_US-joe-medium.onnx \
  ANIMATION_ENABLED=false WEBRTC_UDP_PORT_MIN=32000 WEBRTC_UDP_PORT_MAX=32200 \
  LLM_SYSTEM_PROMPT="You are a friendly voice assistant. Answer in two or three spoken sentences." \
  "target/$dir/goassist-inference" >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT

echo "bench_voice: waiting for the server (log: $log)"
for _ in $(seq 1 240); do
  if curl -fs "http://127.0.0.1:$port/readyz" >/dev/null; then break; fi
  kill -0 $server 2>/dev/null || { echo "bench_voice: the server exited; log:"; tail -20 "$log"; exit 1; }
  sleep 0.5
done
curl -fs "http://127.0.0.1:$port/readyz" >/dev/null || { echo "bench_voice: server not ready"; exit 1; }

build="dev profile: dependencies at opt-level 3, our crates at 1"
[ "$profile" = release ] && build="release build"
BENCH_BUILD=$build MODELS_DIR=$models "target/$dir/examples/bench_voice" --url "http://127.0.0.1:$port" --pid $server \
  --out docs/benchmarks/voice.md "$@"
