#!/usr/bin/env bash
# Installs the Pixel Streaming pages' npm packages (pinned in package-lock.json) and bundles
# the player page and the Profile C talk page into pixelstream-proxy/frontend/dist.
# Idempotent: reinstalls only when the lockfile changed, rebuilds only when sources changed.
# CI calls this before `cargo test`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
frontend="$root/pixelstream-proxy/frontend"
command -v node >/dev/null || { echo "node (>= 18) is required: apt-get install nodejs npm" >&2; exit 1; }
cd "$frontend"
stamp="node_modules/.goassist-lock-stamp"
if [[ ! -f "$stamp" ]] || ! cmp -s package-lock.json "$stamp"; then
    # esbuild ships its binary as an optional dependency; no install scripts are needed.
    npm ci --no-audit --no-fund --ignore-scripts
    cp package-lock.json "$stamp"
fi
# The talk page bundles the voice page's face renderer and network help (inference/web).
shared=("$root/inference/web/face/face.js" "$root/inference/web/network_help.js")
if [[ ! -f dist/index.html || ! -f dist/player.js || ! -f dist/talk/talk.js ]] \
    || [[ -n "$(find src build.mjs package-lock.json "${shared[@]}" -newer dist/talk/talk.js -print -quit)" ]] \
    || [[ -n "$(find src build.mjs package-lock.json -newer dist/player.js -print -quit)" ]]; then
    node build.mjs
fi
echo "player and talk pages ready: $frontend/dist"
