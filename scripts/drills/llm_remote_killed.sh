#!/usr/bin/env bash
# Recovery drill: the remote LLM server dies mid-answer (docs/runbook.md §11, "remote server
# down"). A real third-party OpenAI-compatible server: llama.cpp's (scripts/llamacpp_server.py,
# xllamacpp in .venv from scripts/setup.sh) serving the project's Qwen2.5 0.5B GGUF on loopback;
# goassist-inference uses it through LLM_BASE_URL.
#
# A voice session asks a recorded question; when the answer starts playing the drill SIGKILLs
# the llama.cpp server. Checks: the user hears the spoken "unavailable" line; /readyz 503 with
# the LLM failed and a new session refused 503 not_ready while the server is gone; then the drill
# starts the server again on the same port and GoAssist heals by itself, without a restart of
# its own (/readyz 200, goassist_restarts_total{component="llm"} +1, the same process and
# session answer the next question). Prints PASS/FAIL per check; exit 1 on any FAIL. About
# 1.5-2.5 min (debug), most of it two llama.cpp model loads.
#
# Usage: scripts/drills/llm_remote_killed.sh   (MODELS_DIR, DRILL_SKIP_BUILD=1, DRILL_KEEP_LOGS=1)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
echo "== drill: the remote LLM server is killed mid-answer (runbook §11)"
python=$root/.venv/bin/python3
gguf=$models/llm/qwen2.5-0.5b-instruct-q4_k_m.gguf
if ! "$python" -c 'import xllamacpp' 2>/dev/null || [ ! -f "$gguf" ]; then
  echo "FAIL: needs $python with xllamacpp (scripts/setup.sh) and $gguf (scripts/download_models.sh)"
  exit 1
fi
drill_build

llm_port=$(free_port)
llm_log=$work/llamacpp.log
# The same command starts it and, from the drill client, starts it again on the same port.
llm_cmd=(sh -c "exec '$python' '$root/scripts/llamacpp_server.py' --model '$gguf' --port $llm_port \
  --parallel 2 --threads 1 --ctx 4096 >>'$llm_log' 2>&1")
"${llm_cmd[@]}" &
llm=$!
started_pids+=("$llm")
disown "$llm" # the drill kills it on purpose: no job-control notice for that
for _ in $(seq 1 480); do
  grep -q '^listening' "$llm_log" 2>/dev/null && break
  kill -0 "$llm" 2>/dev/null || break
  sleep 0.25
done
if ! grep -q '^listening' "$llm_log" 2>/dev/null; then
  echo "FAIL: llama.cpp's server did not listen within 120 s; its log ends:"
  tail -5 "$llm_log"
  exit 1
fi
echo "  .. llama.cpp server listening on 127.0.0.1:$llm_port (pid $llm)"

port=$(free_port)
udp=$(free_udp_port)
log=$work/server.log
start_server "$port" "$log" \
  LLM_BASE_URL="http://127.0.0.1:$llm_port/v1" LLM_MAX_BATCH_SIZE=2 \
  WEBRTC_UDP_PORT_MIN="$udp" WEBRTC_UDP_PORT_MAX=$((udp + 9)) \
  LLM_MAX_NEW_TOKENS=300 \
  LLM_SYSTEM_PROMPT="You are a friendly voice assistant. Answer at length, in six or more spoken sentences."
wait_ready "$port" "$log"
goassist=$server

run_drill "$log" llm-remote-killed --url "http://127.0.0.1:$port" \
  --llm-pid "$llm" --llm-pidfile "$work/restarted.pid" -- "${llm_cmd[@]}"

alive=0
kill -0 "$goassist" 2>/dev/null && alive=1
starts=$(grep -c '"message":"listening"' "$log" || true)
check "$([ "$alive" = 1 ] && [ "$starts" = 1 ] && echo 1 || echo 0)" \
  "GoAssist healed without restarting" "pid $goassist alive: $alive, started $starts time(s)"
drill_verdict "drill llm_remote_killed"
