#!/usr/bin/env bash
# Fuzzes every parser of network bytes with libFuzzer, for a bounded time each, starting from
# the corpus kept in the repository (protocol/fuzz/corpus/<target>/). CI runs it on every run
# (scripts/test.sh). The targets (table in protocol/fuzz/README.md):
#   Rust (protocol/fuzz/fuzz_targets/): the protocol decoders and tokens, WHIP offer bodies, the
#     Pixel Streaming proxy's signalling messages and hub;
#   C++ (unreal-plugin/tests/fuzz_wire.cpp): the Unreal plugin's decoder GoAssistWire.h, target
#     plugin_wire, built with clang++ under AddressSanitizer and UndefinedBehaviorSanitizer.
#
# Usage: scripts/fuzz.sh [--seconds N] [--target NAME] [--update-corpus]
#   --seconds N        time per target (default 30)
#   --target NAME      only this target (default: all of them)
#   --update-corpus    minimize the repository's corpus together with what this run found
#                      (seed-* files kept, then the fewest inputs covering every edge); for a
#                      developer's long run, not for CI
#
# Prints, per target, the executions, the coverage reached and the corpus size; exits 1 at the
# first crash, with the input that crashed and the command that reproduces it. The Rust targets
# build on the stable toolchain: the coverage instrumentation is plain -C flags; without
# AddressSanitizer (nightly only) a panic, an overflow or a failed assertion is what counts as a
# crash. The C++ target needs clang++ with libFuzzer and the sanitizer runtimes (scripts/setup.sh
# installs clang and libclang-rt-14-dev; FUZZ_CXX names another clang++).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
fuzz=$here/protocol/fuzz

seconds=30
only=""
update=0
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=${2:?--seconds needs a number}; shift ;;
    --target) only=${2:?--target needs a name}; shift ;;
    --update-corpus) update=1 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "fuzz: unknown option $1 (see --help)" >&2; exit 64 ;;
  esac
  shift
done
case "$seconds" in ''|*[!0-9]*) echo "fuzz: --seconds wants a whole number, got '$seconds'" >&2; exit 64 ;; esac

rust_targets=$(sed -n 's/^name = "\([a-z_]*\)"$/\1/p' "$fuzz/Cargo.toml" | grep -v '^goassist' | tr '\n' ' ')
cpp_targets="plugin_wire"
targets="$rust_targets$cpp_targets"
# Whether any of the names in $2 is one of the names in $1 (space-separated lists).
any_of() {
  local name
  for name in $2; do case " $1 " in *" $name "*) return 0 ;; esac; done
  return 1
}
if [ -n "$only" ]; then
  any_of "$targets" "$only" || { echo "fuzz: no target '$only' (have: $targets)" >&2; exit 64; }
  targets=$only
fi

triple=$(rustc -vV | sed -n 's/^host: //p')
rust_bin=$fuzz/target/cov/$triple/release
cpp_bin=$fuzz/target/cpp
if any_of "$targets" "$rust_targets"; then
  # What cargo-fuzz passes, minus the sanitizer: SanitizerCoverage for libFuzzer's feedback,
  # `cfg(fuzzing)`, and the checks of a debug build kept in the optimized one.
  export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
  echo "fuzz: building the Rust targets (release, coverage-instrumented)"
  (cd "$fuzz" && cargo build --release --locked --quiet --target "$triple" --target-dir target/cov)
fi
if any_of "$targets" "$cpp_targets"; then
  cxx=${FUZZ_CXX:-clang++}
  command -v "$cxx" >/dev/null || {
    echo "fuzz: plugin_wire needs clang++ with libFuzzer and the sanitizer runtimes: run scripts/setup.sh (clang, libclang-rt-14-dev) or set FUZZ_CXX" >&2
    exit 1
  }
  echo "fuzz: building plugin_wire ($cxx, libFuzzer + AddressSanitizer + UndefinedBehaviorSanitizer)"
  mkdir -p "$cpp_bin"
  "$cxx" -std=c++17 -O1 -g -Wall -Wextra -Wpedantic -Werror \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I "$here/unreal-plugin/GoAssistLiveLink/Source/GoAssistLiveLink/Public" \
    "$here/unreal-plugin/tests/fuzz_wire.cpp" -o "$cpp_bin/plugin_wire"
fi
# Stack traces for undefined behaviour too (the binary aborts on the first report).
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

binary() { if any_of "$cpp_targets" "$1"; then echo "$cpp_bin/$1"; else echo "$rust_bin/$1"; fi; }
# Longest input: a whole message of the format. Bridge datagrams reach 9,825 bytes (4,800
# samples of audio and a subject), SDP offers a few KiB (the server takes up to 64 KiB);
# everything else fits 4 KiB.
max_len() {
  case "$1" in
    whip_offer) echo 16384 ;;
    bridge_stream_decode|plugin_wire) echo 10240 ;;
    *) echo 4096 ;;
  esac
}

work=$(mktemp -d -t goassist-fuzz-XXXX)
trap 'rm -rf "$work"' EXIT
failed=0
count() { find "$1" -type f | wc -l; }
kib() { echo $(( $(find "$1" -type f -exec cat {} + | wc -c) / 1024 )); }
for target in $targets; do
  corpus=$fuzz/corpus/$target
  bin=$(binary "$target")
  len=$(max_len "$target")
  mkdir -p "$corpus" "$work/$target" "$fuzz/artifacts/$target"
  # New inputs go to a scratch folder: the repository's corpus is only read (unless merging).
  log=$work/$target.log
  if "$bin" "$work/$target" "$corpus" -max_total_time="$seconds" -max_len="$len" \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$fuzz/artifacts/$target/" \
      >"$log" 2>&1; then
    runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    echo "fuzz: $target: ${runs:-?} runs in ${seconds}s, coverage ${cov:-?}, corpus $(count "$corpus") + $(count "$work/$target") new, no crash"
    if [ "$update" = 1 ]; then
      # Minimized afresh: the hand-made seeds, then the fewest inputs of the old corpus and of
      # this run's finds that cover every edge the two reach (hit counts ignored: that keeps
      # the corpus in the repository small).
      fresh=$work/$target.merged
      mkdir -p "$fresh"
      find "$corpus" -maxdepth 1 -type f -name 'seed-*' -exec cp {} "$fresh/" \;
      "$bin" -set_cover_merge=1 -use_counters=0 -max_len="$len" -rss_limit_mb=2048 \
        "$fresh" "$corpus" "$work/$target" >"$work/$target.merge.log" 2>&1 \
        || { echo "fuzz: $target: merge failed (see below); corpus unchanged" >&2; tail -20 "$work/$target.merge.log" >&2; exit 1; }
      find "$corpus" -maxdepth 1 -type f ! -name 'seed-*' -delete
      find "$fresh" -maxdepth 1 -type f ! -name 'seed-*' -exec cp {} "$corpus/" \;
      echo "fuzz: $target: corpus now $(count "$corpus") inputs, $(kib "$corpus") KiB"
    fi
  else
    failed=1
    echo "fuzz: $target: CRASH" >&2
    grep -E -A1 'panicked|ERROR|runtime error|check failed' "$log" | head -20 >&2 || true
    grep -E 'SUMMARY|Test unit written' "$log" >&2 || tail -30 "$log" >&2
    crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    [ -n "$crash" ] && echo "fuzz: reproduce with: $bin $crash" >&2
    break
  fi
done
exit "$failed"
