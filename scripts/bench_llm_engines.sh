#!/usr/bin/env bash
# The CPU reference side by side (the latency issue's item 6): our candle engine and llama.cpp's
# server (PyPI xllamacpp in .venv, scripts/llamacpp_server.py) on the same GGUF, in one run,
# alternating run by run: prefill tok/s, decode tok/s, time to first token with the
# conversation cached, and aggregate decode of 1 and 4 sequences at once
# (inference/engines/examples/llm_engines.rs).
#
# The table goes into docs/benchmarks/llm.md (between its llm-engines markers) only when the
# machine was quiet (1-minute load below QUIET_LOAD, 1.0, before the run); otherwise it is
# printed and kept in target/bench-llm-engines/report.md.
#
# Usage: scripts/bench_llm_engines.sh [--runs N] [--model FILE]   (FILE under MODELS_DIR/llm)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
source scripts/lib/voice_bench.sh

runs=5 model=qwen2.5-0.5b-instruct-q8.gguf
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    *) echo "bench_llm_engines: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
models=${MODELS_DIR:-$PWD/models}
[ -f "$models/llm/$model" ] || { echo "bench_llm_engines: $models/llm/$model not found (scripts/download_models.sh)" >&2; exit 1; }
python=.venv/bin/python
"$python" -c 'import xllamacpp' 2>/dev/null \
  || { echo "bench_llm_engines: xllamacpp is not installed in .venv (run scripts/setup.sh)" >&2; exit 1; }

echo "bench_llm_engines: building (release)"
cargo build --release -q -p goassist-engines --example llm_engines
out=target/bench-llm-engines
mkdir -p "$out"

# The server on a free loopback port, 4 slots (the aggregate measurement's 4 sequences), the
# same 2 threads our engine uses.
exec {llama}< <(exec "$python" scripts/llamacpp_server.py --model "$models/llm/$model" \
  --port 0 --parallel 4 --threads 2 --ctx 4096 2>"$out/llamacpp.log")
llama_pid=$!
trap 'kill $llama_pid 2>/dev/null || true' EXIT
read -r -t 120 listening url <&"$llama" || true
if [ "${listening:-}" != listening ]; then
  echo "bench_llm_engines: llama.cpp's server did not start; its log ($out/llamacpp.log) ends:" >&2
  tail -20 "$out/llamacpp.log" >&2
  exit 1
fi

quiet_start bench_llm_engines
echo "bench_llm_engines: $runs runs of each engine on $model (load $load_before)"
MODELS_DIR=$models LLAMACPP_URL=$url LLM_ENGINES_MODEL=$model LLM_ENGINES_RUNS=$runs \
  target/release/examples/llm_engines > "$out/report.md"
cat "$out/report.md"

if [ "$quiet" = yes ]; then
  write_section docs/benchmarks/llm.md llm-engines "$out/report.md"
  echo "bench_llm_engines: wrote docs/benchmarks/llm.md"
else
  echo "bench_llm_engines: the machine was busy (1-minute load $load_before >= ${QUIET_LOAD:-1.0} before the run): figures NOT written to docs/benchmarks/llm.md (report: $out/report.md)"
fi
