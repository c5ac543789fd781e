#!/usr/bin/env bash
# A full server refusing one more person: are the people it serves slowed by the refusals?
# Starts goassist-inference (release build, embedded models, loopback) with
# MAX_CONCURRENT_SESSIONS=N and has N sessions ask at once (recorded speech over real WebRTC,
# inference/client/examples/bench_voice.rs), alternately alone and with one more person trying
# to connect every 250 ms for the whole level (each try refused with 503 `capacity`), in ABBA
# order over ROUNDS rounds. Reports voice-to-voice at the client and the server's TTFA per level,
# and the ratio of the medians with and without the knocking.
#
# Writes its section of docs/benchmarks/capacity.md (the notes around it are kept) only when the
# 1-minute load was below QUIET_LOAD (1.0) before the run; otherwise prints the report and says
# why. About 3 minutes per round on 2 cores.
#
# Usage: scripts/bench_capacity.sh [N] [ROUNDS]   (default 8 and 2)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
source scripts/lib/voice_bench.sh
cap=${1:-8} rounds=${2:-2}

echo "bench_capacity: building (release)"
cargo build --release -q -p goassist-inference -p goassist-client --bin goassist-inference --example bench_voice
levels=()
for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) = 1 ]; then levels+=("$cap" "$cap+"); else levels+=("$cap+" "$cap"); fi
done
sweep=$(IFS=,; echo "${levels[*]}")

out=target/bench-capacity
mkdir -p "$out"
quiet_start bench_capacity
trap 'kill ${server:-} 2>/dev/null || true' EXIT
MAX_CONCURRENT_SESSIONS=$cap start_voice_server target/release/goassist-inference "${BENCH_PORT:-18182}" 33000 "$out/server.log"
echo "bench_capacity: $cap sessions, levels $sweep (load $load_before; server log $out/server.log)"
BENCH_BUILD="release build" target/release/examples/bench_voice --url "http://127.0.0.1:${BENCH_PORT:-18182}" \
  --turns 0 --sweep "$sweep" \
  --sweep-title "$cap sessions asking at once, alone and with one more knocking (MAX_CONCURRENT_SESSIONS=$cap)" \
  --out "$out/report.md" >/dev/null
kill "$server"; wait "$server" 2>/dev/null || true
load_after=$(load1)

# The levels' rows, then the ratio of the medians of each column with and without the knocking.
python3 - "$out/report.md" "$cap" "$load_before" "$load_after" > "$out/section.md" <<'PY'
import re, statistics, sys
report, cap, before, after = sys.argv[1:]
rows = [l for l in open(report).read().splitlines()
        if l.startswith("| ") and re.match(r"\s*\d+/\d+", l.strip("|").split("|")[1])]
def ms(cell):
    m = re.match(r"\s*(\d+) ms", cell)
    return float(m.group(1)) if m else None
alone, knocked = {}, {}
for row in rows:
    cells = row.strip("|").split("|")
    target = knocked if "knocking" in cells[0] else alone
    for name, cell in (("voice-to-voice p50", cells[2]), ("voice-to-voice p95", cells[3]), ("TTFA p95 (server)", cells[4])):
        if ms(cell) is not None:
            target.setdefault(name, []).append(ms(cell))
text = open(report).read()
print(text[text.index("## "):].strip())
print()
print("| median over the levels | alone | with one more refused | ratio |")
print("|---|---|---|---|")
for name in ("voice-to-voice p50", "voice-to-voice p95", "TTFA p95 (server)"):
    if name in alone and name in knocked:
        a, k = statistics.median(alone[name]), statistics.median(knocked[name])
        print(f"| {name} | {a:.0f} ms | {k:.0f} ms | {k / a:.2f} |")
print()
print(f"Machine load (1-minute average): {before} before the run, {after} after it (the run itself included).")
PY
cat "$out/section.md"

if [ "$quiet" != yes ]; then
  echo "bench_capacity: the machine was busy (1-minute load $load_before >= ${QUIET_LOAD:-1.0} before the run): not writing docs/benchmarks/capacity.md"
  exit 0
fi
doc=docs/benchmarks/capacity.md
[ -f "$doc" ] || printf '# A full server refusing one more person\n' > "$doc"
{
  echo "Measured $(date -u +%Y-%m-%d) by \`scripts/bench_capacity.sh $cap $rounds\`: release build, embedded models,"
  echo "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), client on loopback."
  echo
  cat "$out/section.md"
} > "$out/doc-section.md"
write_section "$doc" capacity "$out/doc-section.md"
echo "bench_capacity: wrote $doc"
