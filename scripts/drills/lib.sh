# shellcheck shell=bash
# Shared by the recovery drills in scripts/drills/ (sourced, not run): builds the debug server
# and the drill client, starts goassist-inference on the embedded models on loopback (free
# ports), waits for it with a bound, and cleans up whatever a drill started, however it ends.
#
# Environment: MODELS_DIR (default models/), DRILL_SKIP_BUILD=1 (the binaries are built),
# DRILL_KEEP_LOGS=1 (keep the work directory with the logs).

set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
models=${MODELS_DIR:-$root/models}
server_bin=$root/target/debug/goassist-inference
drill_bin=$root/target/debug/examples/drill
work=$(mktemp -d -t goassist-drill-XXXXXX)
drill_started=$(date +%s)
started_pids=()

drill_cleanup() {
  local pid
  for pid in "${started_pids[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
  done
  # A process the drill client started itself (a restarted LLM server) records its pid here.
  if [ -s "$work/restarted.pid" ]; then
    kill -KILL "$(cat "$work/restarted.pid")" 2>/dev/null || true
  fi
  if [ "${DRILL_KEEP_LOGS:-0}" = 1 ]; then
    echo "logs kept in $work"
  else
    rm -rf "$work"
  fi
}
trap drill_cleanup EXIT

drill_build() {
  [ "${DRILL_SKIP_BUILD:-0}" = 1 ] && return
  echo "  .. building goassist-inference and the drill client (debug)"
  nice -n 10 cargo build -q -p goassist-inference -p goassist-client \
    --bin goassist-inference --example drill
}

# A free TCP port on loopback.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A free UDP port on loopback (the start of a session port range).
free_udp_port() {
  python3 -c 'import socket; s = socket.socket(type=socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server PORT LOG [VAR=VALUE...]: goassist-inference on the embedded models, loopback only,
# animation off, no per-address session limit; the arguments override the defaults. Sets
# `server` to its pid.
start_server() {
  local port=$1 log=$2
  shift 2
  env MODELS_DIR="$models" API_HOST=127.0.0.1 API_PORT="$port" METRICS_PORT=0 \
    MAX_CONCURRENT_SESSIONS=2 SESSIONS_PER_IP_PER_MINUTE=0 \
    LLM_MODEL_PATH="$models/llm/qwen2.5-0.5b-instruct-q8.gguf" \
    ASR_MODEL_PATH="$models/asr/moonshine-base-en" \
    TTS_ENGINE=piper TTS_MODEL_PATH="$models/tts/piper/en_US-joe-medium.onnx" \
    ANIMATION_ENABLED=false LOG_LEVEL="${DRILL_LOG_LEVEL:-INFO}" \
    "$@" "$server_bin" >"$log" 2>&1 &
  server=$!
  started_pids+=("$server")
}

# wait_ready PORT LOG [SECONDS]: until /readyz answers 200 (default bound 300 s).
wait_ready() {
  local port=$1 log=$2 limit=${3:-300} waited=0
  while [ "$waited" -lt $((limit * 4)) ]; do
    curl -fs -o /dev/null "http://127.0.0.1:$port/readyz" && {
      echo "  .. server ready after $(( $(date +%s) - drill_started )) s"
      return 0
    }
    kill -0 "$server" 2>/dev/null || break
    sleep 0.25
    waited=$((waited + 1))
  done
  echo "FAIL: the server did not become ready within ${limit} s; its log ends:"
  tail -20 "$log"
  return 1
}

drill_failures=0

# check OK WHAT DETAIL: one PASS/FAIL line of the script's own checks.
check() {
  if [ "$1" = 1 ]; then
    echo "PASS: $2 ($3)"
  else
    echo "FAIL: $2 ($3)"
    drill_failures=$((drill_failures + 1))
  fi
}

# run_drill LOG ARGS...: the drill client, bounded; its checks print PASS/FAIL. On failure the
# server log's tail follows.
run_drill() {
  local log=$1
  shift
  local rc=0
  timeout "${DRILL_CLIENT_TIMEOUT_S:-480}" "$drill_bin" "$@" || rc=$?
  if [ "$rc" = 124 ]; then
    echo "FAIL: the drill client did not finish within ${DRILL_CLIENT_TIMEOUT_S:-480} s"
  fi
  if [ "$rc" != 0 ]; then
    drill_failures=$((drill_failures + 1))
    echo "--- server log tail ($log)"
    tail -25 "$log" | cut -c1-400
  fi
}

# The verdict line and exit status of the whole drill.
drill_verdict() {
  local name=$1 took=$(( $(date +%s) - drill_started ))
  if [ "$drill_failures" = 0 ]; then
    echo "PASS: $name (${took} s)"
    exit 0
  fi
  echo "FAIL: $name ($drill_failures failed, ${took} s)"
  exit 1
}
