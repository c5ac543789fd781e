# Shared by scripts/bench_voice.sh, bench_keep.sh, bench_pacing.sh, bench_capacity.sh,
# bench_profile_c.sh and load_test.sh (sourced, not run): the server they drive, and the
# quiet-machine rule their published figures depend on.

# The 1-minute load average.
load1() { cut -d' ' -f1 /proc/loadavg; }

# True when the 1-minute load is below QUIET_LOAD (default 1.0 on this 2-core machine).
is_quiet() { awk -v l="$(load1)" -v q="${QUIET_LOAD:-1.0}" 'BEGIN { exit !(l < q) }'; }

# Waits up to 5 minutes for the load left by builds or an earlier run to fall below QUIET_LOAD
# (the 1-minute average still counts our own server and client for a while).
settle() {
  for _ in $(seq 1 60); do
    is_quiet && return
    sleep 5
  done
}

# quiet_start NAME: says that NAME waits for a quiet machine, waits (settle), then sets
# load_before (the 1-minute load) and quiet (yes or no) for the report.
quiet_start() {
  echo "$1: waiting for the machine to be quiet (1-minute load below ${QUIET_LOAD:-1.0})"
  settle
  load_before=$(load1)
  if is_quiet; then quiet=yes; else quiet=no; fi
}

# start_voice_server BINARY PORT UDP_MIN LOG: starts goassist-inference on the embedded models
# (loopback only, no per-address session limit, animation off; MAX_CONCURRENT_SESSIONS and
# LLM_MODEL_PATH from the environment, else 16 and the default Qwen2.5-0.5B) and waits until it is
# ready. Sets `server` to its pid.
start_voice_server() {
  local binary=$1 port=$2 udp_min=$3 log=$4 models=${MODELS_DIR:-$PWD/models}
  MODELS_DIR=$models API_HOST=127.0.0.1 API_PORT=$port METRICS_PORT=0 MAX_CONCURRENT_SESSIONS=${MAX_CONCURRENT_SESSIONS:-16} \
    SESSIONS_PER_IP_PER_MINUTE=0 \
    LLM_MODEL_PATH=${LLM_MODEL_PATH:-$models/llm/qwen2.5-0.5b-instruct-q8.gguf} \
    ASR_MODEL_PATH=$models/asr/moonshine-base-en \
    TTS_ENGINE=piper TTS_MODEL_PATH=$models/tts/piper/en_US-joe-medium.onnx \
    ANIMATION_ENABLED=false WEBRTC_UDP_PORT_MIN=$udp_min WEBRTC_UDP_PORT_MAX=$((udp_min + 200)) \
    LLM_SYSTEM_PROMPT="You are a friendly voice assistant. Answer in two or three spoken sentences." \
    "$binary" >"$log" 2>&1 &
  server=$!
  for _ in $(seq 1 240); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && return
    kill -0 "$server" 2>/dev/null || break
    sleep 0.5
  done
  echo "the server did not become ready; its log ($log) ends:" >&2
  tail -20 "$log" >&2
  kill "$server" 2>/dev/null || true
  return 1
}

# write_section DOC NAME REPORT: puts REPORT's text between the lines `<!-- NAME: begin -->` and
# `<!-- NAME: end -->` of DOC (appended when DOC has no such section), keeping the rest of DOC
# (the team's reading of the figures).
write_section() {
  local doc=$1 begin="<!-- $2: begin -->" end="<!-- $2: end -->" report=$3
  grep -qxF "$begin" "$doc" 2>/dev/null || printf '\n%s\n%s\n' "$begin" "$end" >> "$doc"
  awk -v b="$begin" -v e="$end" -v f="$report" '
    $0 == b { print; while ((getline line < f) > 0) print line; skip = 1; next }
    $0 == e { skip = 0 }
    !skip' "$doc" > "$doc.new"
  mv "$doc.new" "$doc"
}
