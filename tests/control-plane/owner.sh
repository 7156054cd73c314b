#!/usr/bin/env bash
# Shared by up.sh, watchdog.sh and sweep.sh (sourced): who owns a control
# plane. DIR/owner holds "PID STARTTIME" of the process that asked for it
# (a test run, a benchmark); the start time tells a live owner from a new
# process that reused its PID.

# Start time of PID in clock ticks since boot (field 22 of /proc/PID/stat),
# or nothing when there is no such process.
proc_start() { # <pid>
  local stat rest fields
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
  rest="${stat##*) }"   # the command name may hold spaces and ')'
  read -ra fields <<<"$rest"
  printf '%s' "${fields[19]:-}"
}

# Whether DIR has an owner file and that very process is gone.
owner_gone() { # <dir>
  local pid start
  [[ -f "$1/owner" ]] || return 1
  read -r pid start <"$1/owner" || return 1
  [[ "$(proc_start "$pid")" != "$start" ]]
}
