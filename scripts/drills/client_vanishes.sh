#!/usr/bin/env bash
# Recovery drill: a client vanishes mid-answer without hanging up (docs/runbook.md §11, "client
# gone"): the laptop lid closes, the network drops. Its peer stops answering (no DELETE, no
# goodbye on the wire) while the assistant speaks.
#
# goassist-inference gets one session slot (MAX_CONCURRENT_SESSIONS=1) and one UDP media port
# (WEBRTC_UDP_PORT_MIN = MAX), and a long answer to generate. Checks: the session is reaped
# (ICE consent fails: goassist_sessions_active 0) within the limit, ended as `client`, not by the
# idle rule (SESSION_IDLE_TIMEOUT_S stays 300); the LLM sequence is freed
# (goassist_llm_queue_depth and goassist_engine_slots_active{engine="llm"} 0); /readyz 200 again;
# a new session gets the slot and the port and is answered. Prints PASS/FAIL per check; exit 1 on
# any FAIL. About 1-2 min (debug).
#
# Usage: scripts/drills/client_vanishes.sh   (REAP_LIMIT_S, default 45; MODELS_DIR,
#        DRILL_SKIP_BUILD=1, DRILL_KEEP_LOGS=1)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
echo "== drill: a client vanishes mid-answer (runbook §11)"
drill_build

port=$(free_port)
udp=$(free_udp_port)
log=$work/server.log
start_server "$port" "$log" \
  MAX_CONCURRENT_SESSIONS=1 \
  WEBRTC_UDP_PORT_MIN="$udp" WEBRTC_UDP_PORT_MAX="$udp" \
  SESSION_IDLE_TIMEOUT_S=300 \
  LLM_MAX_NEW_TOKENS=600 \
  LLM_SYSTEM_PROMPT="You are a friendly voice assistant. Answer at great length, in ten or more spoken sentences."
wait_ready "$port" "$log"

run_drill "$log" client-vanishes --url "http://127.0.0.1:$port" --reap-limit-s "${REAP_LIMIT_S:-45}"

# The server log says why the vanished session ended: its peer went away (no DELETE was sent, so
# this is the ICE consent timeout), not the idle rule or the length cap.
reason=$(grep '"session closed"' "$log" | head -1 | grep -o '"reason":"[a-z_]*"' || true)
check "$([ "$reason" = '"reason":"client"' ] && echo 1 || echo 0)" \
  "the vanished session ended because its peer went away" "${reason:-no session closed line}"
drill_verdict "drill client_vanishes"
