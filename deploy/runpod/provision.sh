#!/usr/bin/env bash
# Provision a GoAssist inference host (docs/runbook.md §8): a RunPod pod on
# nvidia/cuda:12.1.0-devel-ubuntu22.04, or any Debian 12 / Ubuntu 22.04 machine with a GPU.
# Steps, each printed before it runs:
#   1. bootstrap   system packages (git, curl), Rust (rustup) when cargo is missing
#   2. clone       GoAssist into /workspace/goassist (or update it to --ref)
#   3. build       scripts/setup.sh --runtime --release (Python deps in .venv, release binary)
#   4. models      scripts/download_models.sh into /workspace/models (~700 MB, checksummed)
#   5. install     /opt/goassist/bin, the goassist user, /etc/goassist/inference.env, models
#                  read-only for the service (runbook §8.4)
#   6. turn        (--turn) coturn on TCP 3478 for WebRTC over TURN/TCP (runbook §7.4)
#   7. start       under systemd (deploy/systemd/goassist-inference.service) when systemd runs;
#                  in a container without systemd (RunPod), deploy/runpod/supervise.sh with the
#                  same policy (restart always, 5 s apart, SIGTERM drains)
#   8. verify      wait for /readyz 200
#
#   deploy/runpod/provision.sh --repo URL [--ref main] [--turn] [--dry-run]
set -euo pipefail

REPO=${GOASSIST_REPO:-}
REF=${GOASSIST_REF:-main}
WORKSPACE=${WORKSPACE:-/workspace}
TURN=0
DRY_RUN=0
while [ $# -gt 0 ]; do
  case "$1" in
    --repo) REPO=$2; shift ;;
    --ref) REF=$2; shift ;;
    --turn) TURN=1 ;;
    --dry-run) DRY_RUN=1 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "provision: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$REPO" ] || { echo "provision: --repo URL (or GOASSIST_REPO) is required" >&2; exit 2; }
SRC=$WORKSPACE/goassist
MODELS=$WORKSPACE/models
LOGS=$WORKSPACE/logs
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo

step() { printf '\n== provision: %s\n' "$*"; }
run() { # print the command; run it unless --dry-run
  printf '+'; printf ' %q' "$@"; printf '\n'
  [ "$DRY_RUN" = 1 ] || "$@"
}
secret() { # a random hex secret; a placeholder in a dry run
  if [ "$DRY_RUN" = 1 ]; then echo "<generated: $1 random bytes, hex>"
  else head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; fi
}
write_file() { # path mode: stdin -> file (printed in a dry run)
  printf '+ write %s (mode %s):\n' "$1" "$2"
  if [ "$DRY_RUN" = 1 ]; then sed 's/^/    /'; else $SUDO install -m "$2" /dev/stdin "$1"; fi
}

step "1. bootstrap"
run $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
run $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends git curl ca-certificates sudo
if ! command -v cargo >/dev/null 2>&1; then
  run sh -c 'curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain 1.95.0'
  export PATH="$HOME/.cargo/bin:$PATH"
fi

step "2. clone $REPO ($REF) into $SRC"
if [ -d "$SRC/.git" ]; then
  run git -C "$SRC" fetch --depth 1 origin "$REF"
  run git -C "$SRC" checkout --force FETCH_HEAD
else
  run git clone --depth 1 --branch "$REF" "$REPO" "$SRC"
fi

step "3. build (runtime set, release)"
run "$SRC/scripts/setup.sh" --runtime --release

step "4. models into $MODELS"
run env MODELS_DIR="$MODELS" GOASSIST_BIN="$SRC/target/release/goassist-inference" "$SRC/scripts/download_models.sh"

step "5. install"
if ! id goassist >/dev/null 2>&1; then
  run $SUDO useradd --system --home-dir "$WORKSPACE" --shell /usr/sbin/nologin goassist
fi
run $SUDO install -d -m 0755 /opt/goassist/bin /opt/goassist/docs /etc/goassist
run $SUDO install -m 0755 "$SRC/target/release/goassist-inference" /opt/goassist/bin/goassist-inference
run $SUDO install -m 0755 "$SRC/deploy/docker/check_models.sh" /opt/goassist/bin/goassist-check-models
run $SUDO install -m 0755 "$SRC/deploy/runpod/supervise.sh" /opt/goassist/bin/goassist-supervise
run $SUDO install -m 0644 "$SRC/docs/runbook.md" /opt/goassist/docs/runbook.md
# Models: owned by root, not writable by the service (read-only for it, runbook §8.4).
run $SUDO chown -R root:root "$MODELS"
run $SUDO chmod -R go-w "$MODELS"
run $SUDO install -d -o goassist -m 0750 "$LOGS"
if [ ! -f /etc/goassist/inference.env ] || [ "$DRY_RUN" = 1 ]; then
  {
    grep -v '^MODELS_DIR=\|^LLM_MODEL_PATH=\|^ASR_MODEL_PATH=\|^TTS_MODEL_PATH=' "$SRC/deploy/example.env" 2>/dev/null \
      || echo "# deploy/example.env"
    echo "MODELS_DIR=$MODELS"
    echo "LOG_DIR=$LOGS"
    echo "LLM_MODEL_PATH=llm/qwen2.5-0.5b-instruct-q8.gguf"
    echo "ASR_MODEL_PATH=asr/moonshine-base-en"
    echo "TTS_MODEL_PATH=tts/piper/en_US-joe-medium.onnx"
    echo "MAX_CONCURRENT_SESSIONS=${MAX_CONCURRENT_SESSIONS:-4}"
    echo "ADMIN_TOKEN=$(secret 32)"
  } | write_file /etc/goassist/inference.env 0640
fi

if [ "$TURN" = 1 ]; then
  step "6. turn: coturn on TCP 3478"
  run $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends coturn
  pod_ip=$(hostname -I 2>/dev/null | awk '{print $1}')
  turn_secret=$(secret 24)
  write_file /etc/turnserver.conf 0640 <<TURNCONF
# coturn for GoAssist on a pod that exposes only TCP (runbook §7.4): clients reach TURN over
# TCP on 3478 and their media is relayed to goassist-inference on this pod only. Credentials
# are TURN REST ones: goassist-inference signs a short-lived pair per client with the shared
# secret (WEBRTC_TURN_SECRET), so a leaked pair dies with its expiry.
listening-port=3478
no-udp
no-tls
no-dtls
use-auth-secret
static-auth-secret=$turn_secret
realm=goassist
relay-ip=${pod_ip:-<pod ip>}
allowed-peer-ip=${pod_ip:-<pod ip>}
denied-peer-ip=0.0.0.0-255.255.255.255
no-cli
fingerprint
TURNCONF
  printf '+ append WEBRTC_TURN_SERVER/SECRET to /etc/goassist/inference.env (set the public host:port RunPod maps to 3478)\n'
  if [ "$DRY_RUN" = 0 ]; then
    printf 'WEBRTC_TURN_SERVER=turn:%s:3478?transport=tcp\nWEBRTC_TURN_SECRET=%s\nWEBRTC_PUBLIC_IPS=%s\n' \
      "${RUNPOD_PUBLIC_IP:-$pod_ip}" "$turn_secret" "$pod_ip" | $SUDO tee -a /etc/goassist/inference.env >/dev/null
  fi
  run $SUDO sh -c 'turnserver -c /etc/turnserver.conf --daemon'
fi

step "7. start"
# PID 1 decides (PROVISION_INIT overrides it, e.g. to print either path in a dry run).
init=${PROVISION_INIT:-$(cat /proc/1/comm 2>/dev/null || echo unknown)}
if [ "$init" = systemd ]; then
  run $SUDO install -m 0644 "$SRC/deploy/systemd/goassist-inference.service" /etc/systemd/system/goassist-inference.service
  run $SUDO systemctl daemon-reload
  run $SUDO systemctl enable --now goassist-inference
else
  echo "provision: no systemd here (a container): supervising with deploy/runpod/supervise.sh (restart always, 5 s)"
  run $SUDO sh -c "nohup /opt/goassist/bin/goassist-supervise /etc/goassist/inference.env >>$LOGS/supervise.log 2>&1 &"
fi

step "8. verify"
run sh -c 'for i in $(seq 1 120); do curl -fsS http://127.0.0.1:8081/readyz >/dev/null && exit 0; sleep 5; done; echo "provision: /readyz not 200 after 10 min; see '"$LOGS"'" >&2; exit 1'
echo "provision: done; the API is on :8081 (runbook §9: operate it, §10: monitor it)"
