#!/usr/bin/env bash
# Profile C from a browser, measured: runs the talk page's end-to-end test (tests/profile_c_browser.rs:
# real inference server, render-bridge and proxy, a stand-in streamer for Unreal, headless Chromium
# talking with recorded speech, the stand-in killed mid-answer and restarted) RUNS times and
# collects what it prints: the lip-sync offset of the video against the heard voice, the time the
# page took to stand by, and the time the video took to come back.
# Writes docs/benchmarks/profile-c.md only when the machine was quiet before every run (1-minute
# load average at most BENCH_MAX_LOAD, default half the cores); otherwise prints the figures
# and says why it did not write them.
#
# Usage: scripts/bench_profile_c.sh [RUNS]   (about 3-5 minutes per run on 2 cores; needs
#        scripts/setup.sh, scripts/download_models.sh and a `cargo build --workspace`)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
runs=${1:-3}
cores=$(nproc)
max_load=${BENCH_MAX_LOAD:-$(awk -v c="$cores" 'BEGIN { print c / 2 }')}
out=docs/benchmarks/profile-c.md
logs=$(mktemp -d -t goassist-bench-c-XXXX)
trap 'rm -rf "$logs"' EXIT

cargo build --workspace --quiet
cargo test --workspace --test profile_c_browser --no-run --quiet
quiet=true
loads=()
for run in $(seq 1 "$runs"); do
  before=$(cut -d' ' -f1 /proc/loadavg)
  awk -v l="$before" -v m="$max_load" 'BEGIN { exit !(l > m) }' && quiet=false
  echo "bench_profile_c: run $run/$runs (load average before: $before)"
  cargo test --workspace --test profile_c_browser --quiet -- --nocapture > "$logs/run$run.txt" 2>&1 \
    || { tail -40 "$logs/run$run.txt"; echo "bench_profile_c: run $run failed" >&2; exit 1; }
  after=$(cut -d' ' -f1 /proc/loadavg)
  loads+=("$before/$after")
  grep -E "lip-sync offset|on standby|video back" "$logs/run$run.txt"
done

table=$(for run in $(seq 1 "$runs"); do
  python3 - "$logs/run$run.txt" "$run" "${loads[$((run - 1))]}" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def find(pattern):
    m = re.search(pattern, text)
    return m.group(1) if m else "?"
offset = find(r"lip-sync offset \(video mouth after the heard voice\): ([+-]?\d+) ms")
corr = find(r"lip-sync offset.*?correlation ([\d.]+)")
standby = find(r"page on standby (\d+) ms later")
back = find(r"video back ([\d.]+) s after the restart")
print(f"| {sys.argv[2]} | {offset} | {corr} | {standby} | {back} | {sys.argv[3]} |")
PY
done)
echo "$table"

if [ "$quiet" != true ]; then
  echo "bench_profile_c: the machine was busy (1-minute load average above $max_load on $cores cores before a run):"
  echo "bench_profile_c: not writing $out; rerun on a quiet machine"
  exit 0
fi
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
browser=$("${CHROMIUM:-/usr/bin/chromium}" --version 2>/dev/null || echo chromium)
{
  echo "# Profile C talk page: lip sync, standby, recovery"
  echo
  echo "Measured $(date -u +%Y-%m-%d) on $cpu ($cores cores, no GPU), $browser headless, by"
  echo "\`scripts/bench_profile_c.sh $runs\` (each run is \`tests/profile_c_browser.rs\`: inference server on"
  echo "the embedded models, render-bridge, Pixel Streaming proxy, the stand-in streamer for Unreal and"
  echo "the talking browser, all on this machine)."
  echo
  echo "- **lip-sync offset**: how long after the voice is heard the video shows the matching mouth"
  echo "  (mouth seen in each decoded video frame vs the page's face locked to the played audio;"
  echo "  positive = video late). The stand-in draws with a canvas and encodes in software; Unreal's"
  echo "  frame time and NVENC replace those in production."
  echo "- **standby**: stand-in SIGKILLed → the page shows its own face."
  echo "- **video back**: stand-in restarted → the page shows video again (includes Chromium's start)."
  echo
  echo "| run | lip-sync offset (ms) | correlation | standby (ms) | video back (s) | load before/after |"
  echo "|---|---|---|---|---|---|"
  echo "$table"
} > "$out"
echo "bench_profile_c: wrote $out"
