#!/usr/bin/env bash
# Fuzzes every parser of network bytes in goassist-protocol (protocol/fuzz/fuzz_targets/) with
# libFuzzer, for a bounded time each, starting from the corpus kept in the repository
# (protocol/fuzz/corpus/<target>/). CI runs it on every run (scripts/test.sh).
#
# Usage: scripts/fuzz.sh [--seconds N] [--target NAME] [--update-corpus]
#   --seconds N        time per target (default 30)
#   --target NAME      only this target (default: all of them)
#   --update-corpus    merge what this run found into the repository's corpus (minimized;
#                      for a developer's long run, not for CI)
#
# Prints, per target, the executions, the coverage reached and the corpus size; exits 1 at the
# first crash, with the input that crashed and the command that reproduces it. Builds on the
# stable toolchain: the coverage instrumentation is plain -C flags; without AddressSanitizer
# (nightly only) a panic, an overflow or a failed assertion is what counts as a crash.
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
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "fuzz: unknown option $1 (see --help)" >&2; exit 64 ;;
  esac
  shift
done
case "$seconds" in ''|*[!0-9]*) echo "fuzz: --seconds wants a whole number, got '$seconds'" >&2; exit 64 ;; esac

targets=$(sed -n 's/^name = "\([a-z_]*\)"$/\1/p' "$fuzz/Cargo.toml" | grep -v '^goassist')
if [ -n "$only" ]; then
  echo "$targets" | grep -qx "$only" || { echo "fuzz: no target '$only' (have: $(echo "$targets" | tr '\n' ' '))" >&2; exit 64; }
  targets=$only
fi

triple=$(rustc -vV | sed -n 's/^host: //p')
# What cargo-fuzz passes, minus the sanitizer: SanitizerCoverage for libFuzzer's feedback,
# `cfg(fuzzing)`, and the checks of a debug build kept in the optimized one.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
echo "fuzz: building the targets (release, coverage-instrumented)"
(cd "$fuzz" && cargo build --release --locked --quiet --target "$triple" --target-dir target/cov)
bin=$fuzz/target/cov/$triple/release

work=$(mktemp -d -t goassist-fuzz-XXXX)
trap 'rm -rf "$work"' EXIT
failed=0
count() { find "$1" -type f | wc -l; }
for target in $targets; do
  corpus=$fuzz/corpus/$target
  mkdir -p "$corpus" "$work/$target" "$fuzz/artifacts/$target"
  # New inputs go to a scratch folder: the repository's corpus is only read (unless merging).
  log=$work/$target.log
  if "$bin/$target" "$work/$target" "$corpus" -max_total_time="$seconds" -max_len=4096 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$fuzz/artifacts/$target/" \
      >"$log" 2>&1; then
    runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    echo "fuzz: $target: ${runs:-?} runs in ${seconds}s, coverage ${cov:-?}, corpus $(count "$corpus") + $(count "$work/$target") new, no crash"
    if [ "$update" = 1 ]; then
      "$bin/$target" -merge=1 -max_len=4096 "$corpus" "$work/$target" >/dev/null 2>&1
      echo "fuzz: $target: corpus now $(count "$corpus") inputs"
    fi
  else
    failed=1
    echo "fuzz: $target: CRASH" >&2
    grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" | head -20 >&2 || tail -30 "$log" >&2
    crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    [ -n "$crash" ] && echo "fuzz: reproduce with: $bin/$target $crash" >&2
    break
  fi
done
exit "$failed"
