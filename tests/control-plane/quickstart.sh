#!/usr/bin/env bash
# The README's first command (`make up`): a local control plane in DIR, the
# operator running against it, the examples applied, and what came of them.
# Running it again restarts the operator with a freshly built binary.
#
#   quickstart.sh DIR
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
"$HERE/operator.sh" stop "$DIR"
"$HERE/operator.sh" start "$DIR" "$REPO/target/debug/workspace-operator"

log "applying examples/: the organization first (the operator makes its namespace)"
kubectl apply -f "$REPO/examples/01-organization.yaml" >/dev/null
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
cat <<EOF

Control plane and operator running. In your shell:
  source $DIR/env                                  # KUBECONFIG (admin), PATH with kubectl and helm
  kubectl get tenancy -A                           # every organization, workspace, role and member
  KUBECONFIG=$DIR/users/carol.kubeconfig kubectl get configmaps -n acme--research   # as a test user
Operator log: $DIR/logs/workspace-operator.log
Stop everything: make down
EOF
