#!/usr/bin/env bash
# Installs, on a control plane started by up.sh, what the operator runs with
# as user "workspace-operator": the CRDs, deploy/operator-rbac.yaml's
# permissions (its own, its leader Lease in `default`, and the tenant
# ceiling), and the chart's ValidatingAdmissionPolicies (rendered by
# admission-policies.sh, for user workspace-operator, with the admin
# wsop-admin exempt). Server-side apply: running it again changes nothing.
#
#   install.sh DIR
#
# Run before the operator starts: by quickstart.sh (`make up`), and by the
# tests and the benchmark (tests/integration/support/operator.rs).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
DIR="${1:?usage: install.sh DIR}"
# shellcheck disable=SC1091
source "$DIR/env"

install=(kubectl apply --server-side --force-conflicts --field-manager=workspace-operator-install)
"${install[@]}" -f "$REPO/crds/" >/dev/null
"${install[@]}" -f "$REPO/deploy/operator-rbac.yaml" >/dev/null
"$HERE/admission-policies.sh" | "${install[@]}" -f - >/dev/null
kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
# Established is not yet served: the API server's discovery (what kubectl
# maps a kind to a resource with) follows a moment later, and an apply
# meanwhile fails with "Resource kind ... not found". Wait for it.
for _ in $(seq 60); do
  if kubectl get --raw /apis/workspaces.dev/v1alpha1 2>/dev/null |
    grep -q '"name":"workspacemembers"' &&
    kubectl get --raw /apis 2>/dev/null | grep -q '"name":"workspaces.dev"'; then
    exit 0
  fi
  sleep 1
done
echo "install.sh: the API server does not serve workspaces.dev/v1alpha1 after 60 s" >&2
exit 1
