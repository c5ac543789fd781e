#!/usr/bin/env bash
# "No regression" check of the voice loop against an older commit, in one run on one machine:
# builds goassist-inference in release at BASELINE and at this tree, then drives each in turn
# (alternating, ROUNDS times) with the same client (inference/client/examples/bench_voice.rs:
# real WebRTC on loopback, recorded speech, barge-ins) and compares TTFA, voice-to-voice,
# barge-in, each stage before the first packet and RSS per session (no concurrency sweep). Writes docs/benchmarks/keep.md only when the machine was quiet
# (1-minute load below QUIET_LOAD before every round); otherwise prints the figures and says so.
#
# Usage: scripts/bench_keep.sh BASELINE [--turns N] [--rounds R]
#   BASELINE: a commit, or env:NAME=VALUE[,NAME=VALUE...] to compare this tree with itself run
#   with those settings (a feature switched off: the same binary, only the setting differs).
#   e.g. scripts/bench_keep.sh 62f6296 --turns 8 --rounds 2
#        scripts/bench_keep.sh env:TURN_PREEMPTIVE_ANSWER=false --turns 10 --rounds 2
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
source scripts/lib/voice_bench.sh
baseline=${1:?usage: scripts/bench_keep.sh BASELINE [--turns N] [--rounds R]}
shift
turns=8 rounds=2
while [ $# -gt 0 ]; do
  case $1 in
    --turns) turns=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "bench_keep: unknown argument $1" >&2; exit 2 ;;
  esac
done
models=${MODELS_DIR:-$here/models}
head_rev=$(git rev-parse --short HEAD)
[ -z "$(git status --porcelain --untracked-files=no)" ] || head_rev="$head_rev+changes"
out=target/bench-keep
mkdir -p "$out"

echo "bench_keep: building $head_rev (release) and the client"
cargo build --release -q -p goassist-inference --bin goassist-inference
cargo build --release -q -p goassist-client --example bench_voice
cp target/release/goassist-inference "$out/server-head"

base_env=()
if [[ $baseline == env:* ]]; then
  IFS=, read -r -a base_env <<< "${baseline#env:}"
  base_rev=${baseline#env:}
  cp "$out/server-head" "$out/server-base"
else
  base_rev=$(git rev-parse --short "$baseline")
  # The baseline gets a target directory of its own (its first build compiles every
  # dependency). Sharing this tree's would be wrong, not just slow: cargo names a workspace
  # member's build by its path inside the workspace, so both trees' builds of a crate share
  # one fingerprint, and whichever built last makes the other look up to date.
  echo "bench_keep: building $base_rev (release) in a worktree"
  src=$out/src-$base_rev
  [ -d "$src" ] || git worktree add -q --detach "$src" "$base_rev"
  (cd "$src" && CARGO_TARGET_DIR=$here/$out/target cargo build --release -q -p goassist-inference --bin goassist-inference)
  cp "$out/target/release/goassist-inference" "$out/server-base"
  # The worktree stays (remove it with `git worktree remove target/bench-keep/src-REV`): a
  # fresh checkout has new file times, and cargo would rebuild every crate of it next time.
fi

port=${BENCH_PORT:-18191}
quiet=yes
loads=()
# run_one NAME ROUND: one server, one bench client run; the client's report goes to
# $out/NAME-ROUND.md.
run_one() {
  local name=$1 round=$2 load
  settle
  load=$(load1)
  loads+=("$load ($name, round $round)")
  is_quiet || quiet=no
  local settings=() kv
  [ "$name" = base ] && settings=("${base_env[@]}")
  for kv in "${settings[@]}"; do export "$kv"; done
  start_voice_server "$out/server-$name" "$port" 32400 "$out/$name-$round.log"
  for kv in "${settings[@]}"; do unset "${kv%%=*}"; done
  echo "bench_keep: $name round $round (load $load)"
  BENCH_BUILD="release build" MODELS_DIR=$models target/release/examples/bench_voice \
    --url "http://127.0.0.1:$port" --pid $server --turns "$turns" --sweep "" --out "$out/$name-$round.md" \
    | sed "s/^/  $name: /"
  kill $server; wait $server 2>/dev/null || true
}
for round in $(seq 1 "$rounds"); do
  run_one base "$round"
  run_one head "$round"
done

report=$out/keep.md
python3 - "$out" "$rounds" "$base_rev" "$head_rev" "$turns" "$quiet" "$(IFS=";"; echo "${loads[*]}")" "$baseline" > "$report" <<'EOF'
import re, sys, statistics
out, rounds, base, head, turns, quiet, loads, arg = sys.argv[1:9]
loads = loads.replace(";", ", ")
def read(name):
    """Each round's table rows (measure -> [(p50, p95)]) and RSS per session."""
    figures, rss = {}, []
    for k in range(1, int(rounds) + 1):
        text = open(f"{out}/{name}-{k}.md").read()
        table = text.split("## One session", 1)[1].split("\n## ", 1)[0]
        for line in table.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) == 4 and cells[2].endswith(" ms") and cells[3].endswith(" ms"):
                figures.setdefault(cells[0], []).append(
                    (float(cells[2].split()[0]), float(cells[3].split()[0])))
        m = re.search(r"\*\*([0-9.]+) MB per extra session\*\*", text)
        if m:
            rss.append(float(m.group(1)))
    return figures, rss
b, brss = read("base")
h, hrss = read("head")
med = lambda xs: statistics.median(xs) if xs else float("nan")
print(f"# Voice loop: this tree against {base}\n")
builds = (f"the release build of {head}, run as is and with {base}" if arg.startswith("env:")
          else f"release builds of {base} and {head}")
print(f"`scripts/bench_keep.sh {arg} --turns {turns} --rounds {rounds}`: {builds}, "
      f"the same client and models, {rounds} alternating rounds of {turns} "
      f"turns each; each figure is the median over the rounds of that round's p50 or p95. "
      f"Machine load (1-minute load average on 2 cores, read just before each server started; "
      f"a run counts as quiet below QUIET_LOAD, 1.0): {loads}.\n")
print("| measure | " + f"{base} p50 | {head} p50 | ratio | {base} p95 | {head} p95 | ratio |")
print("|---|---|---|---|---|---|---|")
ms = lambda v: f"{v:.0f} ms" if v == v else "–"
ratio = lambda x, y: f"{y / x:.2f}" if x == x and y == y and x > 0 else "–"
for r in list(h) + [r for r in b if r not in h]:
    bp50, bp95 = (med([f[i] for f in b.get(r, [])]) for i in (0, 1))
    hp50, hp95 = (med([f[i] for f in h.get(r, [])]) for i in (0, 1))
    print(f"| {r} | {ms(bp50)} | {ms(hp50)} | {ratio(bp50, hp50)} | {ms(bp95)} | {ms(hp95)} | "
          f"{ratio(bp95, hp95)} |")
print(f"| RSS per extra connected session | {med(brss):.1f} MB | {med(hrss):.1f} MB | | | | |")
for name, rev in (("base", base), ("head", head)):
    for k in range(1, int(rounds) + 1):
        m = re.search(r"^Turn ends: .*$", open(f"{out}/{name}-{k}.md").read(), re.M)
        if m:
            print(f"\n{rev}, round {k}: {m.group(0)}")
print("\nRatios are this tree ÷ the baseline: below 1 is faster; – where a build does not "
      "measure that stage. Client figures include the network path on loopback; server "
      "figures come from each server's own histograms (interpolated inside Prometheus "
      "buckets).")
EOF
cat "$report"
if [ "$quiet" = yes ]; then
  cp "$report" docs/benchmarks/keep.md
  echo "bench_keep: wrote docs/benchmarks/keep.md"
else
  echo "bench_keep: the machine was busy (1-minute load >= ${QUIET_LOAD:-1.0} before a round): figures NOT written to docs/benchmarks/keep.md"
fi
