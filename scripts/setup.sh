#!/usr/bin/env bash
# Install what GoAssist needs on a fresh Debian machine (run as root, or with sudo available):
# system packages for building and testing, then the Rust build. Idempotent and quiet when
# everything is already there.
#
#   scripts/setup.sh            # packages + debug build (what the tests use)
#   scripts/setup.sh --release  # packages + release build (what scripts/start.sh runs)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

PROFILE=debug
for arg in "$@"; do
  case "$arg" in
    --release) PROFILE=release ;;
    --no-build) PROFILE=none ;;
    *) echo "setup: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

# Build: cmake (libopus, whisper.cpp), libclang-dev (bindgen), libespeak-ng-dev (Piper phonemes).
# Tests: chromium + chromium-driver (browser end-to-end), pocketsphinx-testdata (real recorded
# speech), sox (audio tools), g++ (the Unreal plugin's engine-free decoder), python3-venv.
APT_PACKAGES=(cmake libclang-dev libespeak-ng-dev espeak-ng-data chromium chromium-driver
  pocketsphinx-testdata sox g++ jq)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q || { echo "setup: apt-get update failed (is the Debian mirror reachable?)" >&2; exit 1; }
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" \
    || { echo "setup: apt-get install failed for: ${missing[*]}" >&2; exit 1; }
else
  echo "setup: system packages present"
fi

command -v node >/dev/null && command -v npm >/dev/null \
  || { echo "setup: node and npm (>= 18) are needed for the browser tests and the player page" >&2; exit 1; }
command -v cargo >/dev/null || { echo "setup: cargo is missing: install Rust >= 1.95 (rustup)" >&2; exit 1; }

# Python peers for the cross-checks (Live Link and OSC decoders nobody here wrote), the
# .ort -> .onnx converter for Moonshine and the Whisper -> GGML converter (numpy), installed for
# the python3 the tests run.
if ! python3 -c "import pylivelinkface, pythonosc, onnx, flatbuffers, numpy" 2>/dev/null; then
  echo "setup: pip install -r scripts/python-requirements.txt"
  python3 -m pip install -q --disable-pip-version-check -r scripts/python-requirements.txt \
    || { echo "setup: pip install failed (is PyPI reachable?)" >&2; exit 1; }
fi

# npm packages: the Pixel Streaming player bundle and the browser-test driver.
scripts/setup_pixelstream_frontend.sh
scripts/setup_browser_tests.sh

case "$PROFILE" in
  debug) echo "setup: cargo build (debug)"; cargo build --workspace --all-targets --locked ;;
  release) echo "setup: cargo build --release"; cargo build --release --locked -p goassist-inference ;;
  none) ;;
esac
echo "setup: done"
