#!/usr/bin/env bash
# What the GoAssist servers will see on this GPU host: each card's name and VRAM (through the
# CUDA driver API, as the inference server reads it), and the NVENC encoder on GPU 0 (codecs and
# the session cap the Pixel Streaming proxy applies). With --measure-sessions N it also opens up
# to N encode sessions at once and prints how many the driver allowed: stop Unreal first.
# Where nvidia-smi exists its own view is printed too, for comparison.
#
#   scripts/gpu_check.sh [--measure-sessions 16]
#
# Exit 0 with a GPU, 2 without one (the reason is printed). Takes about a minute the first time
# (it builds a small example), seconds afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== GoAssist GPU probe (cudarc + libnvidia-encode.so.1, loaded at run time)"
status=0
cargo run --quiet --example gpu_check -- "$@" || status=$?

if command -v nvidia-smi >/dev/null 2>&1; then
  echo
  echo "== nvidia-smi (for comparison)"
  nvidia-smi --query-gpu=index,name,driver_version,memory.total,memory.used,encoder.stats.sessionCount \
    --format=csv || true
else
  echo
  echo "== nvidia-smi: not installed"
fi
exit "$status"
