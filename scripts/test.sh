#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this). Idempotent: installs what is
# missing, downloads the models once, builds once, then runs every check.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# A one-off build gains nothing from incremental state, which costs gigabytes of disk.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

started=$(date +%s)
# Each step says how much disk is left: a run needs about NEED_GB (build, models, fuzz builds).
free_gb() { df -P -BG "$here" | awk 'NR == 2 { sub("G", "", $4); print $4 }'; }
step() { printf '\n==> %s (+%ss, %s GB free)\n' "$*" "$(( $(date +%s) - started ))" "$(free_gb)"; }
need_gb=14
if [ "$(free_gb)" -lt "$need_gb" ]; then
  echo "test.sh: warning: $(free_gb) GB free on $(df -P "$here" | awk 'NR == 2 { print $6 }'); a full run needs about $need_gb GB (target/ about 6, models 1.7, fuzz builds, packages): it may stop with 'No space left on device'" >&2
fi

step "setup (system packages, .venv, debug build)"
scripts/setup.sh
# Every python3 the tests start is the workspace's virtual environment (scripts/setup.sh).
export PATH="$here/.venv/bin:$PATH"

step "models"
# --with-whisper: the multilingual Whisper base (converted to GGML, ~10 s) and the Russian test
# speech (one 179 MB Debian package, deleted once unpacked) for the whisper feature's tests.
GOASSIST_BIN=$here/target/debug/goassist-inference scripts/download_models.sh --with-optional --with-whisper

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
cargo test --workspace --locked -- --test-threads=2

# Recovery drills (scripts/drills/, docs/runbook.md §11): the real server on the embedded models,
# a real WebRTC voice session mid-answer through an LLM engine crash (the admin fault switch), a
# SIGKILLed llama.cpp server, a SIGTERM drain and a client that vanishes; each prints PASS/FAIL
# per check. About 4 min in all (40-60 s each, debug build).
step "recovery drills (scripts/drills/run.sh)"
# `cargo test --workspace` built the server and every example with the workspace's features; the
# scripts' own per-package builds would rebuild half the dependencies with other features (about
# 10 minutes here), so these steps use what it built.
DRILL_SKIP_BUILD=1 timeout 900 scripts/drills/run.sh

# The avatar degradation drill's live part (runbook §14.1): animation killed mid-answer twice,
# the voice must go on (about 1 min). Its timing comparison and the simulated part 1 (a release
# build) are for a quiet machine: scripts/test_avatar_degradation.sh without these settings.
step "avatar degradation drill (scripts/test_avatar_degradation.sh, live part)"
SKIP_PART1=1 DRILL_KILLS=2 DRILL_PAIRS=0 DRILL_SKIP_BUILD=1 timeout 600 scripts/test_avatar_degradation.sh

# The load tool's short mode (runbook §14.2): 2 users for 1.5 min with barge-ins and session
# churn; fails on unanswered turns, dropped or refused sessions and restarts (about 2 min).
step "load test, CI mode (scripts/load_test.sh --ci)"
timeout 600 scripts/load_test.sh --ci --no-build

# Every parser of network bytes under libFuzzer from the corpus in the repo (protocol/fuzz/),
# 15 s per target (10 targets) plus the build: about 4 minutes from scratch (str0m and aws-lc for
# the WHIP offer target), seconds when nothing changed.
step "fuzz (scripts/fuzz.sh --seconds 15)"
scripts/fuzz.sh --seconds 15

# deploy/: every file by its real tool (promtool, Compose v2, kubernetes-validate,
# systemd-analyze, haproxy, shellcheck, yamllint, RunPod dry runs, the entrypoint's model check).
# About 30 s.
step "deploy: static checks (scripts/test_deploy.sh)"
timeout 300 scripts/test_deploy.sh

# deploy/ live: Prometheus scraping real servers after a real voice turn (every dashboard query,
# every alert rule), and the sticky HAProxy router with real WebRTC sessions. 3-6 min.
step "deploy: live checks (scripts/test_deploy_live.sh)"
timeout 900 scripts/test_deploy_live.sh

step "done in $(( $(date +%s) - started ))s"
