#!/usr/bin/env bash
# What the browser face costs to draw: the built-in 2D face and the optional 3D head (three.js +
# facecap.glb), each animated for SECONDS in headless Chromium; CPU of the whole browser and
# frames per second. Writes docs/benchmarks/face-render.md.
#
# Usage: scripts/bench_face_render.sh [SECONDS]   (needs scripts/setup_browser_tests.sh and
#        scripts/download_models.sh --with-optional)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
seconds=${1:-10}
models=${MODELS_DIR:-$here/models}
[ -f "$models/face/vendor/facecap.glb" ] \
  || { echo "bench_face_render: the 3D head is not installed: run scripts/download_models.sh --with-optional" >&2; exit 1; }
[ -d tests/browser/node_modules/playwright-core ] || scripts/setup_browser_tests.sh

# The demo page as the server lays it out: face.js, demo.html and vendor/ side by side.
site=$(mktemp -d -t goassist-face-render-XXXX)
cp inference/web/face/face.js inference/web/face/demo.html "$site/"
ln -s "$models/face/vendor" "$site/vendor"
port=${BENCH_PORT:-18282}
python3 -m http.server "$port" --bind 127.0.0.1 -d "$site" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$site"' EXIT
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$port/demo.html" >/dev/null && break; sleep 0.1; done

echo "bench_face_render: ${seconds} s per renderer"
results=$(cd tests/browser && node face_render_cost.mjs "http://127.0.0.1:$port/demo.html" "$seconds")
echo "$results"

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
cores=$(nproc)
browser=$("${CHROMIUM:-/usr/bin/chromium}" --version 2>/dev/null || echo chromium)
{
  echo "# Browser face: drawing cost"
  echo
  echo "Measured $(date -u +%Y-%m-%d) on $cpu ($cores cores, no GPU), $browser headless."
  echo "\`scripts/bench_face_render.sh $seconds\`: the face demo's animated loop (inference/web/face/demo.html)"
  echo "for one $seconds s window per renderer after 2 s of warm-up; CPU is all of Chromium's processes"
  echo "(/proc), in cores (1.0 = one core busy)."
  echo
  echo "| renderer | WebGL | CPU (cores) | frames/s |"
  echo "|---|---|---|---|"
  echo "$results" | python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    name = {"2d": "built-in 2D face (canvas)", "3d": "3D head (three.js, facecap.glb)"}[r["mode"]]
    gl = r["gl"] or "-"
    cpu, fps = r["cpu_cores"], r["fps"]
    print(f"| {name} | {gl} | {cpu:.2f} | {fps:.1f} |")'
  echo
  echo "Without a GPU the 3D head is rendered by SwiftShader on the CPU, which is why the voice"
  echo "page's \`face=auto\` keeps the 2D face on software WebGL (docs/face.md). With a GPU the"
  echo "head's cost is the GPU's; this machine has none, so that case is not measured here."
} > docs/benchmarks/face-render.md
echo "bench_face_render: wrote docs/benchmarks/face-render.md"
