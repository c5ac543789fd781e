#!/usr/bin/env bash
# Create a GoAssist inference pod on RunPod (docs/runbook.md §7.3, §7.4) with runpodctl, on the
# runbook's image nvidia/cuda:12.1.0-devel-ubuntu22.04, a persistent volume at /workspace (models
# and logs live there, runbook §8.4), and the ports RunPod can expose: HTTP 8081 (API, demo page,
# /metrics) through RunPod's proxy, and one public TCP port for TURN over TCP (WebRTC media on a
# pod without UDP, runbook §7.4). The pod's start command runs deploy/runpod/provision.sh.
#
#   deploy/runpod/create_pod.sh --repo https://git.example.com/goassist.git [options]
#   deploy/runpod/create_pod.sh --dry-run ...     # print every command, run nothing
#
# Options: --name NAME (goassist-inference) --gpu TYPE ("NVIDIA RTX A5000") --volume-gb N (100)
#          --disk-gb N (50) --community (default: secure cloud) --sessions N (4)
# Needs: runpodctl (https://github.com/runpod/runpodctl) configured with `runpodctl config
# --apiKey ...` (RUNPOD_API_KEY is used for that when set).
set -euo pipefail

IMAGE=nvidia/cuda:12.1.0-devel-ubuntu22.04
NAME=goassist-inference
GPU="NVIDIA RTX A5000"
VOLUME_GB=100
DISK_GB=50
CLOUD=--secureCloud
SESSIONS=4
REPO=${GOASSIST_REPO:-}
REF=${GOASSIST_REF:-main}
DRY_RUN=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --name) NAME=$2; shift ;;
    --gpu) GPU=$2; shift ;;
    --volume-gb) VOLUME_GB=$2; shift ;;
    --disk-gb) DISK_GB=$2; shift ;;
    --community) CLOUD=--communityCloud ;;
    --sessions) SESSIONS=$2; shift ;;
    --repo) REPO=$2; shift ;;
    --ref) REF=$2; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "create_pod: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$REPO" ] || { echo "create_pod: --repo URL (or GOASSIST_REPO) is required: the pod clones GoAssist from there" >&2; exit 2; }
case "$VOLUME_GB$DISK_GB$SESSIONS" in *[!0-9]*) echo "create_pod: --volume-gb, --disk-gb and --sessions take whole numbers" >&2; exit 2 ;; esac

run() { # print the command; run it unless --dry-run
  printf '+'; printf ' %q' "$@"; printf '\n'
  [ "$DRY_RUN" = 1 ] || "$@"
}

if [ "$DRY_RUN" = 0 ]; then
  command -v runpodctl >/dev/null || { echo "create_pod: runpodctl is not installed (https://github.com/runpod/runpodctl)" >&2; exit 1; }
fi
if [ -n "${RUNPOD_API_KEY:-}" ]; then
  # Printed with the key hidden; the real call gets the key.
  printf '+ runpodctl config --apiKey <RUNPOD_API_KEY>\n'
  [ "$DRY_RUN" = 1 ] || runpodctl config --apiKey "$RUNPOD_API_KEY" >/dev/null
fi

# The pod's start command: fetch the provisioning script of the wanted ref and run it; it logs
# to /workspace/logs/provision.log and then supervises the server (provision.sh).
start="apt-get update -q && apt-get install -y -q git ca-certificates && mkdir -p /workspace/logs && \
rm -rf /workspace/goassist-bootstrap && git clone --depth 1 --branch $REF $REPO /workspace/goassist-bootstrap && \
bash /workspace/goassist-bootstrap/deploy/runpod/provision.sh --repo $REPO --ref $REF 2>&1 | tee -a /workspace/logs/provision.log"

run runpodctl create pod \
  --name "$NAME" \
  --imageName "$IMAGE" \
  --gpuType "$GPU" --gpuCount 1 \
  "$CLOUD" \
  --containerDiskSize "$DISK_GB" \
  --volumeSize "$VOLUME_GB" --volumePath /workspace \
  --ports 8081/http --ports 3478/tcp \
  --env MAX_CONCURRENT_SESSIONS="$SESSIONS" --env MODELS_DIR=/workspace/models --env LOG_DIR=/workspace/logs \
  --args "bash -c '$start'"

cat <<NEXT
create_pod: next steps (runbook §7.4):
  1. runpodctl get pod                      # wait for RUNNING; note the pod id and its public TCP port for 3478
  2. open https://<pod-id>-8081.proxy.runpod.net/readyz   # 200 once provision.sh has finished (models ~700 MB)
  3. set WEBRTC_TURN_SERVER=turn:<public ip>:<public port for 3478>?transport=tcp in /etc/goassist/inference.env
     on the pod and restart (runbook §7.4: WebRTC media over TURN/TCP)
NEXT
