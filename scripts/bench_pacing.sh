#!/usr/bin/env bash
# Does running the model engines below the audio path's priority keep the packet clock on time
# when the cores are oversubscribed? (ENGINE_THREAD_NICE, inference/src/priority.rs.) Drives the
# release server with the load tool (inference/client/examples/load_test.rs: real WebRTC users on
# loopback, recorded questions, barge-ins, session churn), alternating ENGINE_THREAD_NICE=0 (every
# thread at the audio path's priority: "A") and the default 5 ("B") in ABBA order, each run on a
# fresh server, and compares the speech packets sent late with TTFA and barge-in.
#
# Writes its section of docs/benchmarks/pacing.md only when the machine was quiet (1-minute load
# below QUIET_LOAD, 1.0) before every run; otherwise the report stays in target/bench-pacing/.
#
# Usage: scripts/bench_pacing.sh [--sessions N] [--minutes M] [--rounds R] [--no-build]
#   --sessions N  users at once (default 3: one more than this 2-core machine's capacity, so that
#                 the engines want more CPU than there is, which is when priorities matter)
#   --minutes M   length of each run (default 8)
#   --rounds R    ABBA rounds (default 1, four runs)
#   --no-build    use the release binaries already built
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
source scripts/lib/voice_bench.sh

sessions=3 minutes=8 rounds=1 build=1
while [ $# -gt 0 ]; do
  case $1 in
    --sessions) sessions=$2; shift 2 ;;
    --minutes) minutes=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    *) echo "bench_pacing: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
if [ $build = 1 ]; then
  echo "bench_pacing: building (release)"
  cargo build --release --locked -q -p goassist-inference -p goassist-client --bin goassist-inference --example load_test
fi
out=target/bench-pacing
rm -rf "$out" && mkdir -p "$out"
port=${LOAD_TEST_PORT:-18291} udp_min=${LOAD_TEST_UDP_MIN:-34000}
trap 'kill ${server:-} 2>/dev/null || true' EXIT

quiet=yes
run=0
for _ in $(seq 1 "$rounds"); do
  for arm in A B B A; do
    run=$((run + 1))
    nice=0; [ $arm = B ] && nice=5
    settle
    load=$(load1)
    is_quiet || quiet=no
    echo "bench_pacing: run $run ($arm, ENGINE_THREAD_NICE=$nice), $sessions users for $minutes min, load $load"
    ENGINE_THREAD_NICE=$nice MAX_CONCURRENT_SESSIONS=$sessions \
      start_voice_server target/release/goassist-inference "$port" "$udp_min" "$out/server-$run.log"
    status=0
    target/release/examples/load_test --url "http://127.0.0.1:$port" --pid "$server" \
      --sessions "$sessions" --minutes "$minutes" --title "run $run: $arm" \
      --out "$out/run-$run.md" 2>"$out/tool-$run.log" || status=$?
    kill "$server"; wait "$server" 2>/dev/null || true
    [ $status -le 1 ] || { echo "bench_pacing: the load tool failed (exit $status; $out/tool-$run.log)" >&2; exit 1; }
    printf '%s\t%s\t%s\t%s\n' "$run" "$arm" "$load" "$(grep -m1 '^Whole run:' "$out/run-$run.md")" >> "$out/runs.tsv"
  done
done

# One row per run and a line per arm (sums of packets, medians of the runs' latencies).
python3 - "$out/runs.tsv" "$sessions" "$minutes" "$(nproc)" > "$out/pacing.md" <<'EOF'
import re, statistics, sys
path, sessions, minutes, cores = sys.argv[1:]
num = lambda pattern, text: float(re.search(pattern, text).group(1))
runs = []
for line in open(path):
    run, arm, load, whole = line.rstrip("\n").split("\t")
    runs.append(dict(
        run=run, arm=arm, load=load,
        answered=int(num(r"(\d+) turns answered", whole)), failed=int(num(r"(\d+) failed", whole)),
        ttfa50=num(r"TTFA p50 (\d+) ms", whole), ttfa95=num(r"p95 (\d+) ms; barge", whole),
        barge95=num(r"barge-in p95 (\d+) ms", whole),
        late40=num(r"(\d+) of \d+ speech packets", whole), packets=num(r"of (\d+) speech packets", whole),
        late25=num(r"\((\d+) more than 25 ms", whole), late30=num(r"(\d+) more than 30 ms", whole),
    ))
arms = {"A": "ENGINE_THREAD_NICE=0 (engines at the audio path's priority)", "B": "ENGINE_THREAD_NICE=5 (engines below it; the default)"}
print(f"## Engine thread priority and the packet clock ({sessions} users, {minutes} min per run, ABBA)\n")
print(f"Machine: {cores} cores. Release build; each run a fresh server and the load tool "
      "(`scripts/bench_pacing.sh`). A speech packet is late when it is sent more than 40 ms after "
      "the one before (runbook §3.2); the 25 and 30 ms columns count smaller slips of the 20 ms grid.\n")
print("| run | arm | load before | turns answered | failed | TTFA p50 / p95 ms | barge-in p95 ms | packets | > 25 ms | > 30 ms | > 40 ms |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for r in runs:
    print(f"| {r['run']} | {r['arm']} | {r['load']} | {r['answered']} | {r['failed']} | {r['ttfa50']:.0f} / {r['ttfa95']:.0f} | "
          f"{r['barge95']:.0f} | {r['packets']:.0f} | {r['late25']:.0f} | {r['late30']:.0f} | {r['late40']:.0f} |")
print("\n| arm | packets | > 25 ms per 10,000 | > 30 ms per 10,000 | > 40 ms | TTFA p50 ms (median of runs) | barge-in p95 ms (median of runs) | turns answered |")
print("|---|---|---|---|---|---|---|---|")
per = {}
for arm, label in arms.items():
    rs = [r for r in runs if r["arm"] == arm]
    packets = sum(r["packets"] for r in rs)
    per[arm] = dict(
        packets=packets,
        r25=1e4 * sum(r["late25"] for r in rs) / packets, r30=1e4 * sum(r["late30"] for r in rs) / packets,
        late40=sum(r["late40"] for r in rs),
        ttfa=statistics.median(r["ttfa50"] for r in rs), barge=statistics.median(r["barge95"] for r in rs),
        answered=sum(r["answered"] for r in rs),
    )
    p = per[arm]
    print(f"| {label} | {p['packets']:.0f} | {p['r25']:.1f} | {p['r30']:.1f} | {p['late40']:.0f} | {p['ttfa']:.0f} | {p['barge']:.0f} | {p['answered']} |")
ratio = lambda key: "–" if per["A"][key] == 0 else f"{per['B'][key] / per['A'][key]:.2f}"
print(f"\nB ÷ A: packets > 25 ms {ratio('r25')}, > 30 ms {ratio('r30')}, TTFA p50 {ratio('ttfa')}, "
      f"barge-in p95 {ratio('barge')}, turns answered {ratio('answered')}.")
EOF
{ cat "$out/pacing.md"; printf '\nMachine load (1-minute average) before each run is in the table; QUIET_LOAD %s.\n' "${QUIET_LOAD:-1.0}"; } > "$out/report.md"
cat "$out/report.md"

doc=docs/benchmarks/pacing.md
if [ $quiet = yes ]; then
  write_section "$doc" pacing "$out/report.md"
  echo "bench_pacing: wrote the pacing section of $doc"
else
  echo "bench_pacing: the machine was busy before a run: figures NOT written to $doc (report: $out/report.md)"
fi
