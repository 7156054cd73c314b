#!/usr/bin/env bash
# The README's first command (`make up`): a local control plane in DIR, the
# operator running against it, the examples applied, and what came of them.
# Running it again restarts the operator with a freshly built binary.
#
#   quickstart.sh DIR
#
# The operator runs in the background as user "workspace-operator" (see
# install.sh for what it is given), logs to DIR/logs/workspace-operator.log,
# and is stopped by down.sh with the rest (`make down`). The tests do not use
# this operator: they start their own (tests/integration/support/operator.rs).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
DIR="${1:?usage: quickstart.sh DIR}"
log() { printf '[quickstart %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

if [[ -f "$DIR/pids/kube-apiserver.pid" ]] && kill -0 "$(cat "$DIR/pids/kube-apiserver.pid")" 2>/dev/null; then
  log "control plane already running in $DIR"
else
  [[ -d "$DIR" ]] && "$HERE/down.sh" "$DIR" --purge 2>/dev/null
  "$HERE/up.sh" "$DIR" >/dev/null
fi
# shellcheck disable=SC1091
source "$DIR/env"

log "building the operator"
(cd "$REPO" && cargo build --locked --quiet --bin workspace-operator)
bin="$REPO/target/debug/workspace-operator"
pidfile="$DIR/pids/workspace-operator.pid"
if [[ -f "$pidfile" ]]; then
  pid="$(cat "$pidfile")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
fi
"$HERE/install.sh" "$DIR"
KUBECONFIG="$DIR/operator.kubeconfig" RUST_LOG="${RUST_LOG:-info,kube=warn}" \
  setsid "$bin" run --delegated-membership --owners-edit-settings --pod-security-enforce=baseline \
  --cluster-network=10.0.0.0/24 >>"$DIR/logs/workspace-operator.log" 2>&1 </dev/null &
echo $! >"$pidfile"
sleep 0.5
if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  log "operator exited at once:"
  tail -n 20 "$DIR/logs/workspace-operator.log" >&2
  exit 1
fi
log "operator running (pid $(cat "$pidfile")); logs in $DIR/logs/workspace-operator.log"

log "applying examples/: the organization first (the operator makes its namespace)"
# kubectl's own discovery cache can lag the API server's by a moment.
for attempt in $(seq 10); do
  kubectl apply -f "$REPO/examples/01-organization.yaml" >/dev/null && break
  [[ $attempt == 10 ]] && exit 1
  sleep 2
done
kubectl wait --for=condition=Ready organization/acme --timeout=120s >/dev/null
log "then roles, workspaces and members"
kubectl apply -f "$REPO/examples/02-roles.yaml" -f "$REPO/examples/03-workspaces.yaml" \
  -f "$REPO/examples/04-members.yaml" >/dev/null
kubectl wait --for=condition=Ready workspaces --all -n acme --timeout=120s >/dev/null
# The credentials live in namespaces the operator has just made.
kubectl apply -f "$REPO/examples/05-credentials.yaml" >/dev/null

echo
kubectl get organizations
echo
kubectl get workspaces -A
echo
kubectl get workspacemembers -A
cat <<MSG

Control plane and operator running. In your shell:
  source $DIR/env                                  # KUBECONFIG (admin), PATH with kubectl and helm
  kubectl get tenancy -A                           # every organization, workspace, role and member
  KUBECONFIG=$DIR/users/carol.kubeconfig kubectl get configmaps -n acme--research   # as a test user
Operator log: $DIR/logs/workspace-operator.log
Stop everything: make down
MSG
