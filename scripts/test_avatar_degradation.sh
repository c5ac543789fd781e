#!/usr/bin/env bash
# Avatar degradation drill (runbook pre-launch check 14.1).
#
# Part 1 (always): the face-service boundary drill — a real-time simulated voice loop with the
# avatar on; the animation engine is killed mid-answer and, separately, the admin kill-switch
# turns animation off mid-answer. Confirms voice continues (no packet gap > 2 × 20 ms), the voice
# loop's time to first packet p95 stays within 10 % of the animation-on run, and the face eases to
# neutral. Prints PASS/FAIL with the figures.
#
# Usage: scripts/test_avatar_degradation.sh   (MODELS_DIR=... to use another model tree)
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== building the drill (release)"
cargo build --release -q -p goassist-inference --example face_degradation
echo "== running"
# Production-like: no backtrace symbolization when the drill makes the engine panic.
RUST_BACKTRACE=0 ./target/release/examples/face_degradation
