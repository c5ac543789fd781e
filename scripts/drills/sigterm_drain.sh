#!/usr/bin/env bash
# Recovery drill: SIGTERM with sessions open, one of them mid-answer (docs/runbook.md §9.2 safe
# restart, §11 "slow pod": drain and let the supervisor restart it).
#
# goassist-inference runs with a short drain deadline (DRAIN_TIMEOUT_S=12) and short answers.
# User A asks a recorded question, user B stays connected and silent; the drill sends SIGTERM
# when A's answer starts playing. Checks: /readyz 503 draining and a new session refused 503
# draining; A's answer plays to its end (assistant_done before the deadline) and A hangs up;
# B is not cancelled before the deadline, is cancelled at it, and the server then stops; the
# process exits 0; the log shows one session ended by its client and one by the drain. Prints
# PASS/FAIL per check; exit 1 on any FAIL. About 1 min (debug).
#
# Usage: scripts/drills/sigterm_drain.sh   (MODELS_DIR, DRILL_SKIP_BUILD=1, DRILL_KEEP_LOGS=1)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
echo "== drill: SIGTERM with sessions mid-answer (runbook §9.2, §11)"
drill_build

drain_s=12
port=$(free_port)
udp=$(free_udp_port)
log=$work/server.log
start_server "$port" "$log" \
  MAX_CONCURRENT_SESSIONS=3 DRAIN_TIMEOUT_S=$drain_s \
  WEBRTC_UDP_PORT_MIN="$udp" WEBRTC_UDP_PORT_MAX=$((udp + 9)) \
  LLM_MAX_NEW_TOKENS=32 \
  LLM_SYSTEM_PROMPT="You are a friendly voice assistant. Answer in one short sentence."
wait_ready "$port" "$log"

run_drill "$log" sigterm-drain --url "http://127.0.0.1:$port" \
  --server-pid "$server" --drain-timeout-s "$drain_s"

# The process itself: exit code 0 once drained (bounded: the drill client already saw it stop).
rc=0
if timeout 30 tail --pid="$server" -f /dev/null; then
  wait "$server" || rc=$?
  check "$([ "$rc" = 0 ] && echo 1 || echo 0)" "goassist-inference exits 0 after the drain" "exit code $rc"
else
  check 0 "goassist-inference exits 0 after the drain" "still running 30 s after the drill"
fi
closed() { grep '"session ended"' "$log" | grep -c "\"reason\":\"$1\"" || true; }
check "$([ "$(closed client)" = 1 ] && [ "$(closed drain)" = 1 ] && echo 1 || echo 0)" \
  "the log shows A ended by its client and B by the drain deadline" \
  "session ended: client $(closed client), drain $(closed drain)"
cancelled=$(grep -c 'drain deadline passed: cancelling remaining sessions' "$log" || true)
check "$([ "$cancelled" = 1 ] && echo 1 || echo 0)" "the drain deadline cancelled what was left" \
  "$cancelled deadline line(s)"
drill_verdict "drill sigterm_drain"
