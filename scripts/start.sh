#!/usr/bin/env bash
# Quick start: install everything, download the embedded default models, and run the inference
# server on them (API on :8081, demo page at http://localhost:8081/). Idempotent: a second run
# skips what is already there and starts the server again.
#
# Configuration comes from deploy/example.env, overridden by ./.env and by the environment.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

scripts/setup.sh --runtime --release
GOASSIST_BIN=$here/target/release/goassist-inference scripts/download_models.sh

# Defaults from the example, then the operator's .env, then the caller's environment wins.
declare -A from_caller
while IFS='=' read -r name _; do from_caller[$name]=1; done < <(env)
for file in deploy/example.env .env; do
  [ -f "$file" ] || continue
  while IFS= read -r line; do
    case "$line" in ''|'#'*) continue ;; esac
    name=${line%%=*}
    [ -n "${from_caller[$name]:-}" ] || export "$line"
  done < "$file"
done

echo "start: goassist-inference on ${API_HOST:-0.0.0.0}:${API_PORT:-8081} (Ctrl-C drains and stops)"
exec target/release/goassist-inference
