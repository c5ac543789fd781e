#!/usr/bin/env bash
# Install what GoAssist needs on a fresh Debian 12 or Ubuntu 22.04 machine (run as root, or with
# sudo available; Ubuntu 22.04 is the runbook's pod image nvidia/cuda:12.1.0-devel-ubuntu22.04):
# system packages, the Python packages in a virtual environment inside the workspace (.venv/;
# PEP 668 forbids pip installs into the system Python on both), then the Rust build. Idempotent
# and quiet when everything is already there.
#
#   scripts/setup.sh                      # runtime + test packages, debug build (what CI uses)
#   scripts/setup.sh --release            # same, release build
#   scripts/setup.sh --runtime --release  # only what scripts/start.sh needs to build and run the
#                                         # inference server: no browsers, test peers or tools
#   scripts/setup.sh --no-build           # packages only
#
# Everything that runs Python for GoAssist uses .venv/bin/python3 (scripts/test.sh puts .venv/bin
# first on PATH; scripts/download_models.sh and the Rust tests look for it).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

PROFILE=debug
SET="test"
for arg in "$@"; do
  case "$arg" in
    --release) PROFILE=release ;;
    --no-build) PROFILE=none ;;
    --runtime) SET=runtime ;;
    *) echo "setup: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

# shellcheck source=/dev/null
. /etc/os-release 2>/dev/null || true
case "${ID:-}:${VERSION_ID:-}" in
  debian:12) ;;
  # Not run there yet: no Ubuntu archive is reachable from the machines that test this script.
  ubuntu:22.04) echo "setup: note: Ubuntu 22.04 follows the same steps as Debian 12 but has not been tested yet (docs/runbook.md, top)" >&2 ;;
  *) echo "setup: warning: written for Debian 12 and Ubuntu 22.04, this is ${PRETTY_NAME:-unknown}; package names may differ" >&2 ;;
esac

# Runtime (build + run goassist-inference): a C/C++ toolchain and cmake (libopus), libclang-dev
# (bindgen), libespeak-ng-dev + espeak-ng-data (Piper phonemes), pkg-config, Python with venv and
# pip (model downloads, the .ort -> .onnx converter), curl/jq/ca-certificates (probes, downloads).
RUNTIME_PACKAGES=(build-essential cmake pkg-config libclang-dev libespeak-ng-dev espeak-ng-data
  python3 python3-venv python3-pip curl ca-certificates jq git)
# Tests only: chromium + chromium-driver (browser end-to-end), pocketsphinx-testdata (real
# recorded speech), sox (audio tools), prometheus (promtool + a real Prometheus for the dashboard
# queries), haproxy (the sticky-session router of deploy/k8s), nodejs + npm (the player page and
# the browser-test driver), shellcheck (the deploy scripts), clang + libclang-rt-14-dev (clang++
# with libFuzzer and the address/undefined sanitizer runtimes: scripts/fuzz.sh's target for the
# Unreal plugin's C++ decoder; Debian 12's clang is 14 and ships those runtimes apart).
# systemd-analyze comes with systemd, already on Debian.
TEST_PACKAGES=(chromium chromium-driver pocketsphinx-testdata sox prometheus haproxy shellcheck nodejs npm
  clang libclang-rt-14-dev)

packages=("${RUNTIME_PACKAGES[@]}")
if [ "$SET" = test ]; then
  if [ "${ID:-}" = ubuntu ]; then
    # Ubuntu's chromium is a snap; the browser tests run on Debian (CI) only.
    echo "setup: Ubuntu: skipping chromium/chromium-driver (snap-only there); the browser tests need Debian" >&2
    TEST_PACKAGES=("${TEST_PACKAGES[@]/chromium*/}")
    # Ubuntu 22.04's clang-14 has the sanitizer and libFuzzer runtimes in libclang-common-14-dev,
    # which it pulls in; the separate runtime package is Debian's.
    TEST_PACKAGES=("${TEST_PACKAGES[@]/libclang-rt-14-dev/}")
  fi
  packages+=("${TEST_PACKAGES[@]}")
fi

missing=()
for p in "${packages[@]}"; do
  [ -n "$p" ] || continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js may come from elsewhere (NodeSource, nvm): a working node + npm >= 18 is enough.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs/}"); missing=("${missing[@]/npm/}")
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sed '/^$/d')
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q || { echo "setup: apt-get update failed (is the package mirror reachable?)" >&2; exit 1; }
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" \
    || { echo "setup: apt-get install failed for: ${missing[*]}" >&2; exit 1; }
else
  echo "setup: system packages present ($SET set)"
fi

command -v cargo >/dev/null || { echo "setup: cargo is missing: install Rust >= 1.95 with rustup (https://rustup.rs)" >&2; exit 1; }

# Python: one virtual environment in the workspace. Its python is whichever python3 is first
# on PATH (Debian's, Ubuntu's, or a pyenv one); the stamp records which requirement files went in.
VENV=$here/.venv
if [ ! -x "$VENV/bin/python3" ] || ! "$VENV/bin/python3" -m pip --version >/dev/null 2>&1; then
  echo "setup: creating $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV" || { echo "setup: python3 -m venv failed (install python3-venv)" >&2; exit 1; }
fi
requirements=(scripts/requirements-runtime.txt)
[ "$SET" = test ] && requirements+=(scripts/requirements-test.txt)
for requirement in "${requirements[@]}"; do
  stamp=$VENV/.installed-$(basename "$requirement")
  want=$(sha256sum "$requirement" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "setup: python packages of $requirement present in .venv"
    continue
  fi
  echo "setup: pip install -r $requirement into .venv"
  "$VENV/bin/python3" -m pip install -q --disable-pip-version-check -r "$requirement" \
    || { echo "setup: pip install -r $requirement failed (is PyPI reachable?)" >&2; exit 1; }
  echo "$want" > "$stamp"
done

if [ "$SET" = test ]; then
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "setup: node and npm (>= 18) are needed for the browser tests and the player page" >&2; exit 1
  fi
  # npm packages: the Pixel Streaming player bundle and the browser-test driver.
  scripts/setup_pixelstream_frontend.sh
  scripts/setup_browser_tests.sh
fi

case "$PROFILE" in
  debug) echo "setup: cargo build (debug)"; cargo build --workspace --all-targets --locked ;;
  release) echo "setup: cargo build --release"; cargo build --release --locked -p goassist-inference ;;
  none) ;;
esac
echo "setup: done"
