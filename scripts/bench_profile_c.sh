#!/usr/bin/env bash
# Profile C from a browser, measured: runs the talk page's end-to-end test (tests/profile_c_browser.rs:
# real inference server, render-bridge and proxy, a stand-in streamer for Unreal, headless Chromium
# talking with recorded speech, the stand-in killed mid-answer and restarted) RUNS times and
# collects what it prints: the lip-sync offset of the video against the heard voice (before the
# kill and after the video came back), the time the page took to stand by, the time the video
# took to come back, and the server's speech packets held late while the stand-in was away.
#
# Before each run it waits (up to 5 minutes) for the 1-minute load to fall below QUIET_LOAD
# (default 1.0), since every run leaves a load of 4-8 behind. It writes its section of
# docs/benchmarks/profile-c.md (the team's notes around it are kept) only when every run started
# on a quiet machine; otherwise it prints the figures and says why it did not write them.
#
# Usage: scripts/bench_profile_c.sh [RUNS]   (default 5; about 3 minutes per run on 2 cores with
#        the waits; needs scripts/setup.sh and scripts/download_models.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
source scripts/lib/voice_bench.sh
runs=${1:-5}
out=docs/benchmarks/profile-c.md
logs=$(mktemp -d -t goassist-bench-c-XXXX)
trap 'rm -rf "$logs"' EXIT

cargo build --workspace --quiet
cargo test --workspace --test profile_c_browser --no-run --quiet
quiet=true
loads=()
for run in $(seq 1 "$runs"); do
  settle
  before=$(load1)
  is_quiet || quiet=false
  echo "bench_profile_c: run $run/$runs (1-minute load before: $before)"
  cargo test --workspace --test profile_c_browser --quiet -- --nocapture > "$logs/run$run.txt" 2>&1 \
    || { tail -40 "$logs/run$run.txt"; echo "bench_profile_c: run $run failed" >&2; exit 1; }
  loads+=("$before/$(load1)")
  grep -E "lip-sync offset|on standby|video back|server speech packets" "$logs/run$run.txt"
done

python3 - "$logs" "$runs" "${loads[@]}" > "$logs/report.md" <<'PY'
import re, statistics, sys
logs, runs, loads = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
rows, cols = [], {}
for run in range(1, runs + 1):
    text = open(f"{logs}/run{run}.txt").read()
    def find(pattern):
        m = re.search(pattern, text)
        return float(m.group(1)) if m else None
    row = {
        "before": find(r"heard voice\): ([+-]?\d+) ms"),
        "before_corr": find(r"heard voice\): [+-]?\d+ ms \(correlation ([\d.]+)"),
        "after": find(r"after the video came back: ([+-]?\d+) ms"),
        "after_corr": find(r"after the video came back: [+-]?\d+ ms \(correlation ([\d.]+)"),
        "standby": find(r"page on standby (\d+) ms later"),
        "back": find(r"video back ([\d.]+) s after the restart"),
        "late40": find(r"(\d+) of \d+ while the render pod was away"),
        "packets": find(r"\d+ of (\d+) while the render pod was away"),
        "late100": find(r"during the outage more than 100 ms after the one before: (\d+)"),
    }
    rows.append(row)
    for k, v in row.items():
        if v is not None:
            cols.setdefault(k, []).append(v)
fmt = lambda v, f="{:.0f}": "?" if v is None else f.format(v)
med = lambda k, f="{:+.0f}": fmt(statistics.median(cols[k]), f) if k in cols else "?"
total = lambda k: fmt(sum(cols.get(k, [])))
print("| run | video lips after the voice, before the kill (ms, correlation) | after the video came back (ms, correlation) | standby (ms) | video back (s) | server packets > 40 ms late while the video was away | > 100 ms | load before/after |")
print("|---|---|---|---|---|---|---|---|")
for i, r in enumerate(rows):
    print(f"| {i + 1} | {fmt(r['before'], '{:+.0f}')} ({fmt(r['before_corr'], '{:.2f}')}) "
          f"| {fmt(r['after'], '{:+.0f}')} ({fmt(r['after_corr'], '{:.2f}')}) | {fmt(r['standby'])} "
          f"| {fmt(r['back'], '{:.1f}')} | {fmt(r['late40'])} of {fmt(r['packets'])} | {fmt(r['late100'])} | {loads[i]} |")
print(f"| median | {med('before')} | {med('after')} | {med('standby', '{:.0f}')} "
      f"| {med('back', '{:.1f}')} | {total('late40')} of {total('packets')} (sum) | {total('late100')} (sum) | |")
PY
cat "$logs/report.md"

if [ "$quiet" != true ]; then
  echo "bench_profile_c: the machine was busy (1-minute load at or above ${QUIET_LOAD:-1.0} before a run):"
  echo "bench_profile_c: not writing $out; rerun on a quiet machine"
  exit 0
fi
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
browser=$("${CHROMIUM:-/usr/bin/chromium}" --version 2>/dev/null || echo chromium)
{
  echo "Measured $(date -u +%Y-%m-%d) on $cpu ($(nproc) cores, no GPU), $browser headless, by"
  echo "\`scripts/bench_profile_c.sh $runs\` (each run is \`tests/profile_c_browser.rs\`: inference server on"
  echo "the embedded models, render-bridge, Pixel Streaming proxy, the stand-in streamer for Unreal and"
  echo "the talking browser, all on this machine; every run started below a 1-minute load of ${QUIET_LOAD:-1.0})."
  echo
  cat "$logs/report.md"
} > "$logs/section.md"
[ -f "$out" ] || printf '# Profile C talk page: lip sync, standby, recovery\n' > "$out"
write_section "$out" profile-c "$logs/section.md"
echo "bench_profile_c: wrote $out"
