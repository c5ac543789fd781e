#!/usr/bin/env bash
# "No regression" check of the voice loop against an older commit, in one run on one machine:
# builds goassist-inference in release at BASELINE and at this tree, then drives each in turn
# (alternating, ROUNDS times) with the same client (inference/client/examples/bench_voice.rs:
# real WebRTC on loopback, recorded speech, barge-ins) and compares TTFA, voice-to-voice,
# barge-in and RSS per session. Writes docs/benchmarks/keep.md only when the machine was quiet
# (1-minute load below QUIET_LOAD before every round); otherwise prints the figures and says so.
#
# Usage: scripts/bench_keep.sh BASELINE [--turns N] [--rounds R]
#   e.g. scripts/bench_keep.sh 62f6296 --turns 8 --rounds 2
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
baseline=${1:?usage: scripts/bench_keep.sh BASELINE [--turns N] [--rounds R]}
shift
turns=8 rounds=2
while [ $# -gt 0 ]; do
  case $1 in
    --turns) turns=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "bench_keep: unknown argument $1" >&2; exit 2 ;;
  esac
done
models=${MODELS_DIR:-$here/models}
quiet_load=${QUIET_LOAD:-1.0}
base_rev=$(git rev-parse --short "$baseline")
head_rev=$(git rev-parse --short HEAD)
[ -z "$(git status --porcelain --untracked-files=no)" ] || head_rev="$head_rev+changes"
out=target/bench-keep
mkdir -p "$out"

# Release builds share this target directory, so the dependencies both commits use compile once.
echo "bench_keep: building $base_rev (release) in a worktree"
src=$out/src-$base_rev
[ -d "$src" ] || git worktree add -q --detach "$src" "$base_rev"
(cd "$src" && CARGO_TARGET_DIR=$here/target cargo build --release -q -p goassist-inference --bin goassist-inference)
cp target/release/goassist-inference "$out/server-base"
# The worktree stays (remove it with `git worktree remove target/bench-keep/src-REV`): a fresh
# checkout has new file times, and cargo would rebuild every crate of it on the next run.
echo "bench_keep: building $head_rev (release) and the client"
cargo build --release -q -p goassist-inference --bin goassist-inference
cargo build --release -q -p goassist-client --example bench_voice
cp target/release/goassist-inference "$out/server-head"

load1() { cut -d' ' -f1 /proc/loadavg; }
# Waits (up to 5 minutes) for the load left by the builds or the previous round (the 1-minute
# average counts our own server and client) to fall below the quiet level.
settle() {
  for _ in $(seq 1 60); do
    awk -v l="$(load1)" -v q="$quiet_load" 'BEGIN { exit !(l < q) }' && return
    sleep 5
  done
}

port=${BENCH_PORT:-18191}
quiet=yes
loads=()
# run_one NAME: one server, one bench client run; the client's report goes to $out/NAME-ROUND.md.
run_one() {
  local name=$1 round=$2 log=$out/$1-$2.log load
  settle
  load=$(load1)
  loads+=("$load ($name, round $round)")
  awk -v l="$load" -v q="$quiet_load" 'BEGIN { exit !(l >= q) }' && quiet=no
  MODELS_DIR=$models API_HOST=127.0.0.1 API_PORT=$port METRICS_PORT=0 MAX_CONCURRENT_SESSIONS=16 \
    SESSIONS_PER_IP_PER_MINUTE=0 \
    LLM_MODEL_PATH=$models/llm/qwen2.5-0.5b-instruct-q8.gguf \
    ASR_MODEL_PATH=$models/asr/moonshine-base-en \
    TTS_ENGINE=piper TTS_MODEL_PATH=$models/tts/piper/en_US-joe-medium.onnx \
    ANIMATION_ENABLED=false WEBRTC_UDP_PORT_MIN=32400 WEBRTC_UDP_PORT_MAX=32600 \
    LLM_SYSTEM_PROMPT="You are a friendly voice assistant. Answer in two or three spoken sentences." \
    "$out/server-$name" >"$log" 2>&1 &
  local server=$!
  for _ in $(seq 1 240); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break
    kill -0 $server 2>/dev/null || { echo "bench_keep: $name exited; log $log" >&2; tail -20 "$log" >&2; exit 1; }
    sleep 0.5
  done
  echo "bench_keep: $name round $round (load $load)"
  BENCH_BUILD="release build" MODELS_DIR=$models target/release/examples/bench_voice \
    --url "http://127.0.0.1:$port" --pid $server --turns "$turns" --out "$out/$name-$round.md" \
    | sed "s/^/  $name: /"
  kill $server; wait $server 2>/dev/null || true
}
for round in $(seq 1 "$rounds"); do
  run_one base "$round"
  run_one head "$round"
done

report=$out/keep.md
python3 - "$out" "$rounds" "$base_rev" "$head_rev" "$turns" "$quiet" "$(IFS=,; echo "${loads[*]}")" > "$report" <<'EOF'
import re, sys, statistics
out, rounds, base, head, turns, quiet, loads = sys.argv[1:8]
rows = ["voice-to-voice (client", "barge-in (client", "TTFA (server", "voice-to-voice (server",
        "barge-in (server"]
def read(name):
    figures = {r: {"p50": [], "p95": []} for r in rows}
    rss = []
    for k in range(1, int(rounds) + 1):
        text = open(f"{out}/{name}-{k}.md").read()
        for line in text.splitlines():
            cells = [c.strip() for c in line.strip("|").split("|")]
            for r in rows:
                if cells and cells[0].startswith(r) and len(cells) >= 4:
                    figures[r]["p50"].append(float(cells[2].split()[0]))
                    figures[r]["p95"].append(float(cells[3].split()[0]))
        m = re.search(r"\*\*([0-9.]+) MB per extra session\*\*", text)
        if m:
            rss.append(float(m.group(1)))
    return figures, rss
b, brss = read("base")
h, hrss = read("head")
med = lambda xs: statistics.median(xs) if xs else float("nan")
print(f"# Voice loop: this tree against {base}\n")
print(f"`scripts/bench_keep.sh {base} --turns {turns} --rounds {rounds}`: release builds of "
      f"{base} and {head}, the same client and models, {rounds} alternating rounds of {turns} "
      f"turns each; each figure is the median over the rounds of that round's p50 or p95. "
      f"Machine load (1-minute load average on 2 cores, read just before each server started; "
      f"a run counts as quiet below QUIET_LOAD, 1.0): {loads}.\n")
print("| measure | " + f"{base} p50 | {head} p50 | ratio | {base} p95 | {head} p95 | ratio |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    bp50, hp50, bp95, hp95 = (med(b[r]["p50"]), med(h[r]["p50"]), med(b[r]["p95"]), med(h[r]["p95"]))
    ratio = lambda x, y: f"{y / x:.2f}" if x == x and x > 0 else "–"
    print(f"| {r}) | {bp50:.0f} ms | {hp50:.0f} ms | {ratio(bp50, hp50)} | {bp95:.0f} ms | "
          f"{hp95:.0f} ms | {ratio(bp95, hp95)} |")
print(f"| RSS per extra connected session | {med(brss):.1f} MB | {med(hrss):.1f} MB | | | | |")
print("\nRatios are this tree ÷ the baseline: below 1 is faster. Client figures include the "
      "network path on loopback; server figures come from each server's own histograms "
      "(interpolated inside Prometheus buckets).")
EOF
cat "$report"
if [ "$quiet" = yes ]; then
  cp "$report" docs/benchmarks/keep.md
  echo "bench_keep: wrote docs/benchmarks/keep.md"
else
  echo "bench_keep: the machine was busy (1-minute load >= $quiet_load before a round): figures NOT written to docs/benchmarks/keep.md"
fi
