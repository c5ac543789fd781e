#!/bin/sh
# Entrypoint of the GoAssist images: prepares /workspace/logs, checks the models volume for the
# inference server (deploy/docker/check_models.sh, runbook §8.4), then runs the service as
# PID 1's child-free replacement (exec), so SIGTERM reaches it and drains (runbook §9.2).
set -eu
log_dir=${LOG_DIR:-/workspace/logs}
if ! mkdir -p "$log_dir" 2>/dev/null || ! [ -w "$log_dir" ]; then
  echo "goassist-entrypoint: FATAL: log directory $log_dir is not writable by uid $(id -u); mount /workspace/logs read-write (runbook §8.4)" >&2
  exit 73
fi
if [ "${GOASSIST_SERVICE:-}" = inference ]; then
  here=$(dirname "$0")
  check=${GOASSIST_CHECK_MODELS:-$here/goassist-check-models}
  [ -x "$check" ] || check=$here/check_models.sh
  "$check" "${MODELS_DIR:-/workspace/models}" || exit $?
fi
exec "$@"
