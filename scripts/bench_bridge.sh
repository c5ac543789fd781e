#!/usr/bin/env bash
# Render-bridge benchmark: this commit's bridge against the bridge of the commit before the
# bevy_ecs rewrite, in one run on one machine (render-bridge/benches/bridge.rs), written to
# docs/benchmarks/bridge.md when the machine is quiet (else to target/bench-bridge.md).
#
# Usage: scripts/bench_bridge.sh
#   BRIDGE_BASELINE_REV   the baseline commit (default: the last one before the rewrite)
#   BRIDGE_BASELINE_BIN   a baseline binary already built (skips building it)
#   BENCH_SECONDS         length of each measurement (default 5); BENCH_REPEATS (default 3)
#   BENCH_MAX_LOAD        highest 1-minute load average before the run that still counts as
#                         quiet (default: half the logical cores)
#   BENCH_MAX_OTHER_CPU   most CPU (in cores) that other processes may use during the run
#                         (default 0.25; the benchmark's own floods are not counted)
# Takes about 1 + 6 × BENCH_SECONDS × BENCH_REPEATS seconds plus two release builds.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

if [ -z "${BRIDGE_BASELINE_BIN:-}" ]; then
  rev=${BRIDGE_BASELINE_REV:-fcb7d2431bdb6f57c350f366fcda6bc8a6726351}
  tree=$(mktemp -d -t goassist-bridge-baseline-XXXX)
  trap 'git worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"' EXIT
  echo "bench_bridge: building the baseline bridge at $rev"
  git worktree add --detach "$tree" "$rev" >/dev/null
  # Its own target directory: the baseline shares nothing with this workspace's build, so
  # building only its bridge package (-p) is right here.
  (cd "$tree" && cargo build --release --locked -q -p goassist-render-bridge \
    --bin goassist-render-bridge --target-dir "$here/target/bench-baseline")
  export BRIDGE_BASELINE_BIN=$here/target/bench-baseline/release/goassist-render-bridge
fi

cargo bench --workspace --locked --bench bridge --no-run
# The builds just loaded the machine: let the 1-minute load fall to the quiet limit before
# measuring (at most 5 minutes; the benchmark itself says whether it was quiet).
limit=${BENCH_MAX_LOAD:-$(awk "BEGIN { print $(nproc) / 2 }")}
for _ in $(seq 30); do
  load=$(cut -d' ' -f1 /proc/loadavg)
  awk "BEGIN { exit !($load <= $limit) }" && break
  echo "bench_bridge: waiting for the load ($load) to fall to $limit"
  sleep 10
done
echo "bench_bridge: load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo bench --workspace --locked --bench bridge
echo "bench_bridge: load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
