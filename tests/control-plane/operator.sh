#!/usr/bin/env bash
# Runs workspace-operator against a control plane started by up.sh, as user
# "workspace-operator" with only deploy/operator-rbac.yaml's permissions (its
# own, its leader Lease in `default`, and the tenant ceiling), bounded by the
# chart's ValidatingAdmissionPolicies (rendered by admission-policies.sh, for
# user workspace-operator, with the admin wsop-admin exempt).
#
#   operator.sh start DIR [BINARY]   install CRDs, RBAC and admission policies, start the operator
#   operator.sh stop DIR             SIGTERM, then SIGKILL after 10 s
#   operator.sh restart DIR          stop, then start the same binary again
#
# Logs go to DIR/logs/workspace-operator.log (appended across restarts).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
cmd="${1:?usage: operator.sh start|stop|restart DIR [BINARY]}"
DIR="${2:?usage: operator.sh start|stop|restart DIR [BINARY]}"
log() { printf '[operator %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
# shellcheck disable=SC1091
source "$DIR/env"
pidfile="$DIR/pids/workspace-operator.pid"

stop() {
  [[ -f "$pidfile" ]] || return 0
  local pid
  pid="$(cat "$pidfile")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

start() {
  local bin="${1:-}"
  [[ -n "$bin" ]] || bin="$(cat "$DIR/operator.bin" 2>/dev/null || echo "$REPO/target/debug/workspace-operator")"
  [[ -x "$bin" ]] || { log "no operator binary at $bin: run cargo build"; exit 1; }
  echo "$bin" >"$DIR/operator.bin"
  local install=(kubectl apply --server-side --force-conflicts --field-manager=workspace-operator-install)
  "${install[@]}" -f "$REPO/crds/" >/dev/null
  "${install[@]}" -f "$REPO/deploy/operator-rbac.yaml" >/dev/null
  "$HERE/admission-policies.sh" | "${install[@]}" -f - >/dev/null
  kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
  KUBECONFIG="$DIR/operator.kubeconfig" RUST_LOG="${RUST_LOG:-info,kube=warn}" \
    setsid "$bin" run >>"$DIR/logs/workspace-operator.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  sleep 0.5
  if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    log "operator exited at once:"
    tail -n 20 "$DIR/logs/workspace-operator.log" >&2
    exit 1
  fi
  log "operator running (pid $(cat "$pidfile")); logs in $DIR/logs/workspace-operator.log"
}

case "$cmd" in
  start) start "${3:-}" ;;
  stop) stop ;;
  restart) stop; start ;;
  *) log "unknown command $cmd"; exit 2 ;;
esac
