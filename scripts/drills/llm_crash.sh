#!/usr/bin/env bash
# Recovery drill: the local LLM engine crashes mid-answer in a live WebRTC session
# (docs/runbook.md §11, "LLM crash").
#
# Starts goassist-inference on the embedded models with the fault switch on
# (ADMIN_FAULT_DRILLS=true), opens a voice session that asks a recorded question, and in the
# middle of the answer (while the LLM is generating it) crashes the engine with
# POST /admin/faults/llm-crash (lead token). Checks:
# the user hears the spoken "unavailable" line (error event llm_unavailable, the line announced
# and its audio received after the crash); /readyz 503 with the LLM failed and a new session
# refused 503 not_ready while it is down; recovery by itself (/readyz 200);
# goassist_restarts_total{component="llm"} +1; the same session's next question answered; the
# procedure audited. Prints PASS/FAIL per check; exit 1 on any FAIL. About 1-2 min (debug).
#
# Usage: scripts/drills/llm_crash.sh   (MODELS_DIR, DRILL_SKIP_BUILD=1, DRILL_KEEP_LOGS=1)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
echo "== drill: LLM engine crash mid-answer (runbook §11)"
drill_build

port=$(free_port)
udp=$(free_udp_port)
token=drill-lead-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
log=$work/server.log
start_server "$port" "$log" \
  ADMIN_TOKEN="$token" ADMIN_FAULT_DRILLS=true \
  WEBRTC_UDP_PORT_MIN="$udp" WEBRTC_UDP_PORT_MAX=$((udp + 9)) \
  LLM_MAX_NEW_TOKENS=300 \
  LLM_SYSTEM_PROMPT="You are a friendly voice assistant. Answer at length, in six or more spoken sentences."
wait_ready "$port" "$log"

run_drill "$log" llm-crash --url "http://127.0.0.1:$port" --token "$token"

# The audit trail names the procedure and the token (never its value).
audited=0
grep '"target":"goassist::audit"' "$log" | grep '"action":"fault_llm_crash"' \
  | grep -q '"outcome":"ok"' && audited=1
check "$audited" "the fault injection is audited" "goassist::audit fault_llm_crash ok, token admin"
leaked=0
grep -q "$token" "$log" && leaked=1
check $((1 - leaked)) "the token never reaches the log" "searched $(wc -l <"$log") lines"
drill_verdict "drill llm_crash"
