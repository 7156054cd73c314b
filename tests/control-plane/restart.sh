#!/usr/bin/env bash
# Restarts one component of a control plane started by up.sh, the way a
# crash and a supervisor would: SIGKILL (no clean shutdown), an optional
# pause with the component down, then the same command line again. Waits
# until the API server answers /readyz (which checks etcd too).
#
#   restart.sh DIR etcd|kube-apiserver|kube-controller-manager [DOWN_SECONDS]
set -euo pipefail

DIR="${1:?usage: restart.sh DIR COMPONENT [DOWN_SECONDS]}"
name="${2:?usage: restart.sh DIR COMPONENT [DOWN_SECONDS]}"
down="${3:-0}"
log() { printf '[restart %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
pidfile="$DIR/pids/$name.pid"
cmdfile="$DIR/cmds/$name"
[[ -f "$pidfile" && -f "$cmdfile" ]] || { log "$name is not running from $DIR"; exit 1; }

pid="$(cat "$pidfile")"
kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
for _ in $(seq 100); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
log "$name killed (pid $pid); down for ${down}s"
sleep "$down"

# The recorded command line was written with printf %q: eval restores it.
eval "setsid $(cat "$cmdfile") >>\"\$DIR/logs/$name.log\" 2>&1 </dev/null &"
echo $! >"$pidfile"

pki="$DIR/pki"
server="$(sed -n 's/^ *server: //p' "$DIR/admin.kubeconfig" | head -n1)"
t0=$SECONDS
until curl -fsS --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
  "$server/readyz" >/dev/null 2>&1; do
  if (( SECONDS - t0 >= 120 )); then
    log "API server not ready 120 s after restarting $name; last log lines:"
    tail -n 30 "$DIR/logs/$name.log" >&2
    exit 1
  fi
  sleep 0.3
done
log "$name restarted (pid $(cat "$pidfile")); API server ready in $((SECONDS - t0))s"
