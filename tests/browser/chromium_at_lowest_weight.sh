#!/bin/sh
# Starts Chromium for a test whose server's timing is checked on the same cores, with the
# Chromium session's scheduling group at the lowest weight.
#
# Why: Playwright starts the browser in a session of its own (setsid). With the kernel's
# autogroup scheduling (kernel.sched_autogroup_enabled=1, and no CPU cgroup of its own), each
# session is one scheduling group, groups share the CPU equally, and a nice value only ranks
# threads inside their group. So `nice -n 19` alone still left a starting Chromium half the
# cores against the whole server. Raising the group's own nice (`/proc/self/autogroup`) gives it
# the weight of nice 19 against the other groups.
#
# Only a session leader changes its group: otherwise the group would be the caller's, server
# included. Without autogroups (the file is absent) nothing is needed: nice applies to all.
#
# The real browser: GOASSIST_TEST_CHROMIUM, else /usr/bin/chromium.
set -u
browser=${GOASSIST_TEST_CHROMIUM:-/usr/bin/chromium}
case $browser in */chromium_at_lowest_weight.sh) browser=/usr/bin/chromium ;; esac
session=$(cut -d' ' -f6 "/proc/$$/stat")
if [ -w /proc/self/autogroup ] && [ "$session" = "$$" ]; then
  # The kernel accepts one autogroup change per 100 ms from a process without CAP_SYS_ADMIN.
  tries=0
  until echo 19 2>/dev/null >/proc/self/autogroup; do
    tries=$((tries + 1))
    if [ "$tries" -ge 20 ]; then
      echo "chromium_at_lowest_weight: could not lower the autogroup; Chromium runs at its weight" >&2
      break
    fi
    sleep 0.1
  done
fi
exec "$browser" "$@"
