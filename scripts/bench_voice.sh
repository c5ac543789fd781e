#!/usr/bin/env bash
# Voice-loop benchmark: starts goassist-inference (release build) on the embedded models
# (loopback, free ports), drives it over real WebRTC with recorded speech
# (inference/client/examples/bench_voice.rs) and reports voice-to-voice, TTFA, barge-in and
# every stage from the end of the user's speech to the first packet (p50 and p95), memory per
# session and a concurrency sweep. The sweep runs three times in the same run: the local engine
# batching (the default), the local engine one request at a time (LLM_MAX_BATCH_SIZE=1), and
# llama.cpp's server as the remote LLM (scripts/llamacpp_server.py, PyPI xllamacpp in .venv).
#
# The figures go to docs/benchmarks/voice.md only when the machine was quiet: the 1-minute load
# below QUIET_LOAD (1.0) before the run, after waiting up to 5 minutes for it to fall. Otherwise
# the report is printed and kept under target/bench-voice/, and the script says why.
#
# Usage: scripts/bench_voice.sh [--turns N] [--sweep 1,2,4,8]
#        scripts/bench_voice.sh --baseline REV [--turns N] [--rounds R]
#   --baseline REV compares this tree with an earlier commit in the same run, round by round
#   (or, with env:NAME=VALUE, with itself run with that setting, e.g. a feature switched off)
#   (scripts/bench_keep.sh: builds REV in a worktree, writes docs/benchmarks/keep.md).
#   PROFILE=dev measures the dev profile instead of release.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
source scripts/lib/voice_bench.sh

turns=10 sweep=1,2,4,8 baseline="" rounds=2
while [ $# -gt 0 ]; do
  case $1 in
    --turns) turns=$2; shift 2 ;;
    --sweep) sweep=$2; shift 2 ;;
    --baseline) baseline=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "bench_voice: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
if [ -n "$baseline" ]; then
  exec scripts/bench_keep.sh "$baseline" --turns "$turns" --rounds "$rounds"
fi

profile=${PROFILE:-release}
flag=(--release) dir=release build="release build"
if [ "$profile" = dev ]; then
  flag=() dir=debug build="dev profile: dependencies at opt-level 3, our crates at 1"
fi
echo "bench_voice: building ($profile)"
cargo build "${flag[@]}" -q -p goassist-inference -p goassist-client --bin goassist-inference --example bench_voice

out=target/bench-voice
mkdir -p "$out"
quiet_start bench_voice
port=${BENCH_PORT:-18181}
trap 'kill ${server:-} ${llama_pid:-} 2>/dev/null || true' EXIT
# bench REPORT TURNS TITLE: one server (with the caller's environment) and one client run:
# TURNS turns on one session (0: none, and no memory figure), then the sweep titled TITLE.
# The report goes to $out/REPORT.md.
bench() {
  local report=$1 turns=$2 title=$3 memory=()
  start_voice_server "target/$dir/goassist-inference" "$port" 32000 "$out/server-$report.log"
  [ "$turns" -gt 0 ] && memory=(--pid "$server")
  echo "bench_voice: $title (server log $out/server-$report.log)" >&2
  # The CPU per answer counts the server and, for the remote sweep, llama.cpp's server.
  BENCH_BUILD=$build "target/$dir/examples/bench_voice" --url "http://127.0.0.1:$port" \
    --turns "$turns" "${memory[@]}" --sweep "$sweep" --sweep-title "$title" \
    --cpu-pids "$server${llama_pid:+,$llama_pid}" --out "$out/$report.md"
  kill $server; wait $server 2>/dev/null || true
}

echo "bench_voice: running (load $load_before)"
bench voice "$turns" "Concurrency sweep, batched (the default, LLM_MAX_BATCH_SIZE=8)"

# The same sweep with the LLM one request at a time, then with llama.cpp's server behind it,
# appended to the report. LLM_MAX_QUEUE=8 lets every one of 8 sessions wait instead of being
# refused as busy.
sweep_only() {
  bench "$2" 0 "$1" >/dev/null
  sed -n '/^## /,$p' "$out/$2.md" >> "$out/voice.md"
}
if [ -n "$sweep" ]; then
  LLM_MAX_BATCH_SIZE=1 LLM_MAX_QUEUE=8 \
    sweep_only "Concurrency sweep, batching off (LLM_MAX_BATCH_SIZE=1, LLM_MAX_QUEUE=8)" unbatched
  python=.venv/bin/python
  if "$python" -c 'import xllamacpp' 2>/dev/null; then
    exec {llama}< <(exec "$python" scripts/llamacpp_server.py --model "${MODELS_DIR:-$PWD/models}/llm/qwen2.5-0.5b-instruct-q8.gguf" \
      --port 0 --parallel 8 --threads 2 --ctx 8192 2>"$out/llamacpp.log")
    llama_pid=$!
    read -r -t 120 listening url <&"$llama" || true
    if [ "$listening" = listening ]; then
      LLM_BASE_URL=$url/v1 LLM_MAX_BATCH_SIZE=8 \
        sweep_only "Concurrency sweep, llama.cpp server as the LLM (xllamacpp, same Q8_0 GGUF, --parallel 8 --threads 2; LLM_BASE_URL)" llamacpp
    else
      echo "bench_voice: llama.cpp's server did not start (log: $out/llamacpp.log): its sweep is left out" >&2
      printf '\n## Concurrency sweep, llama.cpp server\n\nLeft out: the server did not start.\n' >> "$out/voice.md"
    fi
    kill "$llama_pid" 2>/dev/null || true
  else
    echo "bench_voice: no xllamacpp in .venv (run scripts/setup.sh): the llama.cpp sweep is left out" >&2
    printf '\n## Concurrency sweep, llama.cpp server\n\nLeft out: xllamacpp is not installed in .venv (scripts/setup.sh installs it).\n' >> "$out/voice.md"
  fi
fi

load_after=$(load1)
printf '\nMachine load (1-minute average): %s before the run, %s after it (the run itself included).\n' \
  "$load_before" "$load_after" >> "$out/voice.md"

# The notes under this line in docs/benchmarks/voice.md are the team's reading of the figures.
marker='<!-- notes: kept when bench_voice.sh rewrites the figures above -->'
if [ "$quiet" = yes ]; then
  { cat "$out/voice.md"; echo; sed -n "/^$marker\$/,\$p" docs/benchmarks/voice.md; } > "$out/voice-with-notes.md"
  grep -qxF "$marker" "$out/voice-with-notes.md" || printf '\n%s\n' "$marker" >> "$out/voice-with-notes.md"
  cp "$out/voice-with-notes.md" docs/benchmarks/voice.md
  echo "bench_voice: wrote docs/benchmarks/voice.md"
else
  echo "bench_voice: the machine was busy (1-minute load $load_before >= ${QUIET_LOAD:-1.0} before the run): figures NOT written to docs/benchmarks/voice.md (report: $out/voice.md)"
fi
