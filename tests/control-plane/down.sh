#!/usr/bin/env bash
# Stops a control plane started by up.sh: every component, in reverse order,
# SIGTERM then SIGKILL after 10 s. Data and logs stay in DIR for debugging;
# pass --purge to delete DIR as well.
#
#   down.sh DIR [--purge]
set -uo pipefail

DIR="${1:?usage: down.sh DIR [--purge]}"
purge="${2:-}"
log() { printf '[down %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

stop() { # <name>
  local pidfile="$DIR/pids/$1.pid" pid
  [[ -f "$pidfile" ]] || return 0
  pid="$(cat "$pidfile")"
  # Each component runs in its own process group (setsid): signal the group.
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$1 ignored SIGTERM; killing"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$pidfile"
}

for name in workspace-operator kube-controller-manager kube-apiserver etcd; do
  stop "$name"
done
if [[ "$purge" == "--purge" ]]; then
  rm -rf "$DIR"
  log "stopped and removed $DIR"
else
  log "stopped; logs in $DIR/logs"
fi
