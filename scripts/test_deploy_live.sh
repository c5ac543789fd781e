#!/usr/bin/env bash
# Live checks of deploy/ with real servers on loopback (about 3-6 min on 2 cores; bounded):
#   1. monitoring: goassist-render-bridge, goassist-pixelstream-proxy and two goassist-inference
#      servers on the embedded models; Debian's Prometheus scrapes all of them with
#      deploy/monitoring/alerts.yml loaded; a real WebRTC voice session with a question and a
#      barge-in (inference/examples/bench_voice.rs, 2 turns) feeds inference A and, through its
#      face frames, the render-bridge; then every query of the Grafana dashboard must return data
#      (scripts/check_dashboard.py), the measured latencies finite, and every alert rule must
#      evaluate without error in that Prometheus.
#   2. sticky routing (runbook §12.1): HAProxy with deploy/k8s/haproxy.cfg (its server lines
#      pointed at the two local servers) in front of A and B; inference/client/examples/sticky_probe.rs
#      opens 4 real WebRTC sessions through it and ends them in an interleaved order: every
#      DELETE must reach the owning server. The same probe against HAProxy without the sticky
#      rules must see DELETEs land on the wrong server (404), which shows the probe can fail.
# Needs scripts/setup.sh (debug build with examples; apt prometheus, haproxy) and the models.
# ok() and bad() both return 0, so `check && ok || bad` is an if-then-else here.
# shellcheck disable=SC2015
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export PATH="$here/.venv/bin:$PATH"
PY=$here/.venv/bin/python3
models=${MODELS_DIR:-$here/models}
bin=$here/target/debug
for b in goassist-inference goassist-render-bridge goassist-pixelstream-proxy examples/bench_voice examples/sticky_probe; do
  [ -x "$bin/$b" ] || { echo "test_deploy_live: $bin/$b is missing: run scripts/setup.sh (cargo build --workspace --all-targets)" >&2; exit 1; }
done
for tool in prometheus haproxy curl; do
  command -v "$tool" >/dev/null || { echo "test_deploy_live: $tool is missing: run scripts/setup.sh" >&2; exit 1; }
done

work=$(mktemp -d -t goassist-live-XXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
passed=0
failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }
section() { printf '\n-- %s (+%ss)\n' "$*" "$SECONDS"; }
# Free loopback TCP ports, chosen by the kernel (other agents run servers on this machine).
free_ports() { "$PY" -c '
import socket, sys
kind = socket.SOCK_DGRAM if sys.argv[2] == "udp" else socket.SOCK_STREAM
socks = [socket.socket(type=kind) for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
ports = [str(s.getsockname()[1]) for s in socks]
for s in socks: s.close()  # closed before the ports are printed, so they are free when read
print(" ".join(ports))' "$1" "${2:-tcp}"; }
# wait_http URL SECONDS NAME PID: until URL answers 200, the process exits, or time runs out.
wait_http() {
  local deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do
    curl -fs -o /dev/null "$1" && return 0
    kill -0 "$4" 2>/dev/null || { echo "test_deploy_live: $3 exited; its log:"; tail -20 "$work/$3.log"; return 1; }
    sleep 0.5
  done
  echo "test_deploy_live: $3 not ready at $1 after $2 s; its log:"; tail -20 "$work/$3.log"; return 1
}

read -r api_a met_a api_b met_b bridge_http proxy_player proxy_streamer proxy_admin prom haproxy_port < <(free_ports 10)
read -r bridge_ingest < <(free_ports 1 udp)
# UDP media ranges: 40 ports each, below the kernel's ephemeral range (32768+) where the free
# ports above come from, and varied by the process id so parallel runs rarely meet.
udp_a=$((12000 + ($$ % 100) * 100)); udp_b=$((udp_a + 50))

section "start render-bridge, pixelstream-proxy, inference A (animation -> bridge) and B"
BRIDGE_INGEST_ADDR=127.0.0.1:$bridge_ingest BRIDGE_HTTP_ADDR=127.0.0.1:$bridge_http BRIDGE_LIVELINK_ADDRS=127.0.0.1:9 \
  "$bin/goassist-render-bridge" > "$work/bridge.log" 2>&1 & pids+=($!); bridge=$!
PS_PLAYER_BIND=127.0.0.1 PS_PLAYER_PORT=$proxy_player PS_STREAMER_PORT=$proxy_streamer PS_ADMIN_PORT=$proxy_admin \
  PS_FRONTEND_DIR=pixelstream-proxy/frontend/dist "$bin/goassist-pixelstream-proxy" > "$work/proxy.log" 2>&1 & pids+=($!); proxy=$!
inference_env=(MODELS_DIR="$models" API_HOST=127.0.0.1 MAX_CONCURRENT_SESSIONS=8
  LLM_MODEL_PATH="$models/llm/qwen2.5-0.5b-instruct-q8.gguf" ASR_MODEL_PATH="$models/asr/moonshine-base-en"
  TTS_ENGINE=piper TTS_MODEL_PATH="$models/tts/piper/en_US-joe-medium.onnx" LLM_MAX_NEW_TOKENS=40
  ADMIN_TOKEN=live-test-admin-token-0123456789 ALERT_CRASH_LOOP_THRESHOLD=4
  LLM_SYSTEM_PROMPT="You are a friendly voice assistant. Answer in one short spoken sentence.")
env "${inference_env[@]}" API_PORT="$api_a" METRICS_PORT="$met_a" WEBRTC_UDP_PORT_MIN=$udp_a WEBRTC_UDP_PORT_MAX=$((udp_a + 39)) \
  ANIMATION_ENABLED=true ANIMATION_ENGINE=lam ANIMATION_FALLBACK=none RENDER_BRIDGE_ADDR="127.0.0.1:$bridge_ingest" \
  "$bin/goassist-inference" > "$work/inference-a.log" 2>&1 & pids+=($!); inf_a=$!
# Session ids are derived from the server's start second: two servers started in the same
# second hand out the same ids, and a misrouted DELETE would then end the other server's session
# of that id. Start B in a later second so the control below can see misrouting.
a_second=$(date +%s)
while [ "$(date +%s)" -le "$a_second" ]; do sleep 0.1; done
env "${inference_env[@]}" API_PORT="$api_b" METRICS_PORT="$met_b" WEBRTC_UDP_PORT_MIN=$udp_b WEBRTC_UDP_PORT_MAX=$((udp_b + 39)) \
  ANIMATION_ENABLED=false "$bin/goassist-inference" > "$work/inference-b.log" 2>&1 & pids+=($!); inf_b=$!

section "start Prometheus (deploy/monitoring/alerts.yml, the three jobs of deploy/monitoring/prometheus.yml)"
cp deploy/monitoring/alerts.yml "$work/alerts.yml"
cat > "$work/prometheus.yml" <<EOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [alerts.yml]
scrape_configs:
  - job_name: goassist-inference
    static_configs: [{targets: ["127.0.0.1:$met_a", "127.0.0.1:$met_b"]}]
  - job_name: goassist-render-bridge
    static_configs: [{targets: ["127.0.0.1:$bridge_http"]}]
  - job_name: goassist-pixelstream-proxy
    static_configs: [{targets: ["127.0.0.1:$proxy_admin"]}]
EOF
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom" > "$work/prometheus.log" 2>&1 & pids+=($!); prom_pid=$!

wait_http "http://127.0.0.1:$prom/-/ready" 60 prometheus $prom_pid
wait_http "http://127.0.0.1:$bridge_http/healthz" 60 bridge $bridge
wait_http "http://127.0.0.1:$proxy_admin/healthz" 60 proxy $proxy
wait_http "http://127.0.0.1:$api_a/readyz" 300 inference-a $inf_a
wait_http "http://127.0.0.1:$api_b/readyz" 300 inference-b $inf_b
ok "all servers up and ready"

section "a real voice session on A: one question, one barge-in (bench_voice, 2 turns)"
if MODELS_DIR=$models timeout 300 "$bin/examples/bench_voice" --url "http://127.0.0.1:$api_a" --turns 2 --sweep "" \
    > "$work/bench.log" 2>&1; then
  ok "voice session: $(grep -E '^turn' "$work/bench.log" | tr '\n' ' ')"
else
  tail -20 "$work/bench.log"; bad "voice session (bench_voice)"
fi
# Let Prometheus take a few scrapes after the turn (bounded wait for the TTFA histogram).
deadline=$((SECONDS + 30))
until curl -fsG "http://127.0.0.1:$prom/api/v1/query" --data-urlencode 'query=sum(goassist_ttfa_seconds_count) > 0' \
    | grep -q '"value"'; do
  [ $SECONDS -lt $deadline ] || { bad "Prometheus never scraped a TTFA observation"; break; }
  sleep 1
done
sleep 3

section "every dashboard query against this Prometheus"
if "$PY" scripts/check_dashboard.py "http://127.0.0.1:$prom" deploy/monitoring/grafana/goassist-dashboard.json \
    --exporter "http://127.0.0.1:$met_a/metrics" --exporter "http://127.0.0.1:$bridge_http/metrics" \
    --exporter "http://127.0.0.1:$proxy_admin/metrics" \
    --finite "TTFA p50 / p95" --finite "Barge-in p50 / p95" --finite "Voice-to-voice p95 and stages p95" \
    --finite "WebRTC packet loss per session (p50 / p95)" --finite "WebRTC jitter per session (p50 / p95)" \
    --finite "Render-bridge ingest to emit p99" --finite "Audio send interval p99"; then
  ok "dashboard: every query returns data, measured panels are finite"
else
  bad "dashboard queries"
fi

section "alert rules evaluated by this Prometheus"
rules_in_file=$(grep -c -- '- alert:' deploy/monitoring/alerts.yml)
if curl -fs "http://127.0.0.1:$prom/api/v1/rules" | "$PY" -c '
import json, sys
rules = [r for g in json.load(sys.stdin)["data"]["groups"] for r in g["rules"]]
bad = [(r["name"], r.get("lastError")) for r in rules if r.get("health") != "ok"]
print(f"{len(rules)} rules, unhealthy: {bad}")
sys.exit(1 if bad or len(rules) != int(sys.argv[1]) else 0)' "$rules_in_file"; then
  ok "alerts.yml: all $rules_in_file rules loaded and evaluated without error on live data"
else
  bad "alert rules on live data"
fi
threshold=$(curl -fsG "http://127.0.0.1:$prom/api/v1/query" --data-urlencode 'query=max(goassist_alert_threshold{threshold="crash_loop"})' \
  | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["data"]["result"][0]["value"][1])')
[ "$threshold" = 4 ] && ok "ALERT_CRASH_LOOP_THRESHOLD=4 reaches the crash-loop rule's input" || bad "crash-loop threshold seen as $threshold"

section "sticky routing through HAProxy (deploy/k8s/haproxy.cfg)"
# The router's config with its server lines pointed at A and B (slots 3-16 unused).
servers="    server inference1 127.0.0.1:$api_a check\n    server inference2 127.0.0.1:$api_b check\n    server-template inference 3-16 127.0.0.1:9 disabled"
awk -v servers="$servers" -v port="$haproxy_port" '
  /# BEGIN resolvers/ {skip=1} /# END resolvers/ {skip=0; next}
  /# BEGIN servers/ {print "    # servers for this test"; print servers; skip=1; next} /# END servers/ {skip=0; next}
  /^    bind :8081$/ {print "    bind 127.0.0.1:" port; next}
  /^    log stdout/ {next}
  !skip {print}' deploy/k8s/haproxy.cfg > "$work/haproxy.cfg"
haproxy -c -f "$work/haproxy.cfg" >/dev/null && ok "haproxy -c: the test config derived from deploy/k8s/haproxy.cfg"
ended() { curl -fs "http://127.0.0.1:$1/metrics" | awk '/^goassist_sessions_ended_total\{reason="client"\}/ {print $2}'; }
a_before=$(ended "$api_a"); b_before=$(ended "$api_b")
haproxy -db -f "$work/haproxy.cfg" > "$work/haproxy.log" 2>&1 & pids+=($!); router=$!
wait_http "http://127.0.0.1:$haproxy_port/healthz" 30 haproxy $router
if timeout 120 "$bin/examples/sticky_probe" --url "http://127.0.0.1:$haproxy_port" --sessions 4 > "$work/sticky.log" 2>&1; then
  a_after=$(ended "$api_a"); b_after=$(ended "$api_b")
  if [ $((a_after - a_before)) -ge 1 ] && [ $((b_after - b_before)) -ge 1 ] && [ $((a_after - a_before + b_after - b_before)) -eq 4 ]; then
    ok "sticky: 4 sessions over both servers (A $((a_after - a_before)), B $((b_after - b_before))), every DELETE reached its owner"
  else
    cat "$work/sticky.log"; bad "sticky: sessions not spread or not all ended by their DELETE (A +$((a_after - a_before)), B +$((b_after - b_before)))"
  fi
else
  cat "$work/sticky.log"; bad "sticky: a session failed or a DELETE missed its owner"
fi
grep -q 'resource http://127.0.0.1:[0-9]*/r/inference[12]/v1/sessions/' "$work/sticky.log" \
  && ok "sticky: the resource URL names the owning slot" || bad "sticky: resource URL not rewritten"
kill $router; wait $router 2>/dev/null || true
# Control: the same router without the sticky rules (round robin, Location untouched).
grep -v 'replace-header Location\|use-server\|set-var(txn.slot)\|return status 404\|replace-path' "$work/haproxy.cfg" \
  | sed 's/balance leastconn/balance roundrobin/; s#acl session_resource path_beg /r/#acl session_resource path_beg /nowhere/#' > "$work/haproxy-plain.cfg"
haproxy -db -f "$work/haproxy-plain.cfg" > "$work/haproxy-plain.log" 2>&1 & pids+=($!); plain=$!
wait_http "http://127.0.0.1:$haproxy_port/healthz" 30 haproxy-plain $plain
if timeout 120 "$bin/examples/sticky_probe" --url "http://127.0.0.1:$haproxy_port" --sessions 4 > "$work/plain.log" 2>&1; then
  cat "$work/plain.log"; bad "control: without sticky rules every DELETE still found its owner (the probe cannot tell)"
else
  grep -q 'DELETE refused with 404' "$work/plain.log" \
    && ok "control: without the sticky rules DELETEs reach the wrong server (404): $(tail -1 "$work/plain.log")" \
    || { cat "$work/plain.log"; bad "control: failed for another reason"; }
fi

printf '\ntest_deploy_live: %ss\n%s passed, %s failed\n' "$SECONDS" "$passed" "$failed"
[ "$failed" -eq 0 ]
