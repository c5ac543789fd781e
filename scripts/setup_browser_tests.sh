#!/usr/bin/env bash
# Installs playwright-core (npm) for the browser end-to-end tests of the voice page; it drives
# Debian's chromium (scripts/setup.sh installs it). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../tests/browser"
if [ ! -d node_modules/playwright-core ]; then
  npm install --no-audit --no-fund --silent || { echo "setup_browser_tests: npm install failed (is the npm registry reachable?)" >&2; exit 1; }
fi
echo "setup_browser_tests: ok"
