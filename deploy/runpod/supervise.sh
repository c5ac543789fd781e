#!/usr/bin/env bash
# Runs goassist-inference with systemd's policy where there is no systemd (a RunPod container):
# the environment file, the model check, restart always 5 s after any exit, and SIGTERM passed
# on so that a stop drains (runbook §9.1, §9.2).
#
#   goassist-supervise /etc/goassist/inference.env
set -uo pipefail
env_file=${1:-/etc/goassist/inference.env}
bin_dir=$(dirname "$(readlink -f "$0")")
[ -r "$env_file" ] || { echo "supervise: cannot read $env_file" >&2; exit 78; }
set -a
# shellcheck source=/dev/null
. "$env_file"
set +a
child=
stopping=0
trap 'stopping=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM INT
while :; do
  if "$bin_dir/goassist-check-models" "${MODELS_DIR:-/workspace/models}"; then
    runuser -u goassist -- "$bin_dir/goassist-inference" &
    child=$!
    wait "$child"; status=$?
    # wait returns early when a signal arrives: wait again for the drain to finish.
    while kill -0 "$child" 2>/dev/null; do wait "$child"; status=$?; done
    echo "supervise: goassist-inference exited with $status"
  fi
  [ "$stopping" = 1 ] && exit 0
  sleep 5
done
