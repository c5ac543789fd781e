#!/usr/bin/env bash
# Runs the recovery drills (docs/runbook.md §11) one after the other, builds once, and ends with
# one line per drill: PASS/FAIL and its wall time. Exit 1 when any failed. scripts/test.sh runs
# all four (about 4 min on a 2-core CI host, debug build).
#
# Usage: scripts/drills/run.sh [DRILL...]   (default: llm_crash llm_remote_killed sigterm_drain
#        client_vanishes; each is also a script of its own in this directory)
set -euo pipefail
cd "$(dirname "$0")/../.."
drills=("$@")
[ ${#drills[@]} -gt 0 ] || drills=(llm_crash llm_remote_killed sigterm_drain client_vanishes)
for drill in "${drills[@]}"; do
  [ -x "scripts/drills/$drill.sh" ] || { echo "no drill $drill (scripts/drills/$drill.sh)"; exit 64; }
done
if [ "${DRILL_SKIP_BUILD:-0}" != 1 ]; then
  echo "== building goassist-inference and the drill client (debug)"
  nice -n 10 cargo build -q -p goassist-inference -p goassist-client \
    --bin goassist-inference --example drill
fi
summary=()
failed=0
for drill in "${drills[@]}"; do
  started=$(date +%s)
  if DRILL_SKIP_BUILD=1 "scripts/drills/$drill.sh"; then
    verdict=PASS
  else
    verdict=FAIL
    failed=$((failed + 1))
  fi
  summary+=("$verdict: $drill ($(( $(date +%s) - started )) s)")
  echo
done
echo "== recovery drills"
printf '%s\n' "${summary[@]}"
[ "$failed" = 0 ]
