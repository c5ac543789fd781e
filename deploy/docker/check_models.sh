#!/bin/sh
# The model check of the inference image's entrypoint (runbook §8.4): the models volume is
# mounted at MODELS_DIR (/workspace/models), read-only, and holds every file the configured
# engines load. Prints one line per problem with the runbook's wording, exits 78 (EX_CONFIG) on
# any, 0 with a summary when all is there. Reads the same variables as goassist-inference
# (deploy/config.yaml); relative model paths are inside MODELS_DIR.
#
#   check_models.sh [MODELS_DIR]
# GOASSIST_ALLOW_WRITABLE_MODELS=1 accepts a writable models directory (development only).
set -u
dir=${1:-${MODELS_DIR:-/workspace/models}}
problems=0
fail() { echo "goassist-check-models: FATAL: $*" >&2; problems=$((problems + 1)); }
resolve() { case "$1" in /*) echo "$1" ;; *) echo "$dir/$1" ;; esac; }

if [ ! -d "$dir" ]; then
  echo "goassist-check-models: FATAL: models directory $dir not found: mount the models volume read-only at $dir (runbook §8.4; fill it with scripts/download_models.sh)" >&2
  exit 78
fi
# Read-only: the server never writes there, and a shared volume must not be changed by a pod.
probe="$dir/.goassist-write-probe.$$"
if ( : > "$probe" ) 2>/dev/null; then
  rm -f "$probe"
  if [ "${GOASSIST_ALLOW_WRITABLE_MODELS:-0}" != 1 ]; then
    fail "models directory $dir is writable: mount it read-only (:ro, readOnly: true, ReadOnlyPaths=) (runbook §8.4), or set GOASSIST_ALLOW_WRITABLE_MODELS=1 for development"
  fi
fi

need_file() { # variable path what
  path=$(resolve "$2")
  [ -f "$path" ] || fail "$3 not found: $1=$2 ($path is missing in the models volume)"
}
need_dir() {
  path=$(resolve "$2")
  [ -d "$path" ] || fail "$3 not found: $1=$2 ($path is missing in the models volume)"
}

if [ -z "${LLM_BASE_URL:-}" ]; then
  if [ -z "${LLM_MODEL_PATH:-}" ]; then
    fail "LLM model not found: set LLM_MODEL_PATH (a GGUF file in the models volume) or LLM_BASE_URL"
  else
    need_file LLM_MODEL_PATH "$LLM_MODEL_PATH" "LLM model"
  fi
fi
if [ -z "${ASR_MODEL_PATH:-}" ]; then fail "ASR model not found: ASR_MODEL_PATH is not set"; else
  need_dir ASR_MODEL_PATH "$ASR_MODEL_PATH" "ASR model"
  [ -f "$(resolve "$ASR_MODEL_PATH")/tokenizer.bin" ] \
    || fail "ASR model not found: tokenizer.bin is missing in $(resolve "$ASR_MODEL_PATH")"
fi
if [ -z "${TTS_MODEL_PATH:-}" ]; then fail "TTS model not found: TTS_MODEL_PATH is not set"; else
  need_file TTS_MODEL_PATH "$TTS_MODEL_PATH" "TTS model"
  need_file TTS_MODEL_PATH "$TTS_MODEL_PATH.json" "TTS model config"
fi
case "${VAD_ENGINE:-silero}" in
  silero) need_file VAD_ENGINE vad/silero_vad.onnx "VAD model" ;;
esac
need_file ORT_DYLIB_PATH "${ORT_DYLIB_PATH:-onnxruntime/libonnxruntime.so}" "ONNX Runtime library"

if [ "$problems" -gt 0 ]; then
  echo "goassist-check-models: $problems problem(s) with $dir; not starting" >&2
  exit 78
fi
echo "goassist-check-models: ok: $dir (read-only) has the LLM, ASR, TTS, VAD models and ONNX Runtime"
