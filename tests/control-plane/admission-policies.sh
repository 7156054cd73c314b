#!/usr/bin/env bash
# Renders the Helm chart's admission policies (the ValidatingAdmissionPolicies,
# and the MutatingAdmissionPolicies that put the operator's finalizer on the
# four kinds as they are created and give workloads the workspace's defaults:
# the control plane is 1.37) for an operator that
# runs outside the chart as user "workspace-operator" (the local control
# plane's, and deploy/'s), with the local control plane's admin exempt: the
# tests edit generated children by hand as that admin, to see the operator
# repair them. One source: the chart's templates, rendered with helm.
#
#   admission-policies.sh            print them (install.sh applies this); the
#                                    mutating ones only where the cluster of
#                                    KUBECONFIG serves them
#   admission-policies.sh --write    rewrite deploy/admission-policies.yaml and
#                                    deploy/mutating-policies.yaml
#
# helm comes from $WSOP_BIN_DIR (set by DIR/env) or build.sh's cache.
# tests/integration/chart.rs fails when deploy/admission-policies.yaml differs
# from this rendering.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# The names up.sh gives the operator's and the admin's client certificates.
OPERATOR_USER=workspace-operator
ADMIN_USER=wsop-admin

helm="${WSOP_BIN_DIR:+$WSOP_BIN_DIR/helm}"
[[ -x "${helm:-}" ]] || helm="$("$HERE/build.sh")/helm"
# helm template reads no repositories, but keep it out of $HOME anyway.
scratch="$(mktemp -d "${TMPDIR:-/tmp}/wsop-helm.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

helm_template() {
  HELM_CACHE_HOME="$scratch" HELM_CONFIG_HOME="$scratch" HELM_DATA_HOME="$scratch" \
    "$helm" template workspace-operator "$REPO/charts/workspace-operator" \
    --set "operatorUser=$OPERATOR_USER" \
    --set "admissionPolicies.exemptUsers[0]=$ADMIN_USER" "$@"
}

render() {
  helm_template --show-only templates/admission-policies.yaml \
    --show-only templates/admission-policies-operator.yaml
}

# The MutatingAdmissionPolicies (Kubernetes 1.36 and later).
render_mutating() {
  helm_template --show-only templates/finalizer-policy.yaml \
    --show-only templates/workload-defaults-policy.yaml \
    --api-versions admissionregistration.k8s.io/v1/MutatingAdmissionPolicy
}

# Whether the cluster of the current KUBECONFIG serves MutatingAdmissionPolicies.
# Asks the group version itself: `kubectl api-resources` reads every group,
# and right after the CRDs are applied it can come back partial, which
# skipped the policy once on a freshly started API server. A failed request
# is retried, then fails the install rather than skipping silently.
serves_mutating_policies() {
  local list
  for _ in $(seq 30); do
    if list=$(kubectl get --raw /apis/admissionregistration.k8s.io/v1 2>/dev/null); then
      grep -q '"name":"mutatingadmissionpolicies"' <<<"$list"
      return
    fi
    sleep 1
  done
  echo "admission-policies.sh: cannot read /apis/admissionregistration.k8s.io/v1" >&2
  exit 1
}

case "${1:-}" in
  "")
    render
    if serves_mutating_policies; then
      echo "---"
      render_mutating
    fi
    ;;
  --write)
    {
      cat <<EOF
# The Helm chart's admission policies, for installing without Helm,
# rendered by tests/control-plane/admission-policies.sh --write (do not edit:
# change the chart's templates and render again; tests/integration/chart.rs
# fails when this file differs from the chart's rendering).
#
# Rendered for an operator running as user "$OPERATOR_USER" (deploy/operator-rbac.yaml)
# with user "$ADMIN_USER" (the local control plane's admin) exempt. For
# another identity, render with the chart instead:
#   helm template workspace-operator charts/workspace-operator \\
#     --show-only templates/admission-policies.yaml \\
#     --show-only templates/admission-policies-operator.yaml \\
#     --set operatorUser=<the operator's user> --set 'admissionPolicies.exemptUsers={<break-glass admin>}'
EOF
      render
    } >"$REPO/deploy/admission-policies.yaml"
    {
      cat <<EOF
# The Helm chart's MutatingAdmissionPolicies workspaces.dev-finalizer and
# workspaces.dev-workload-defaults, for installing without Helm on
# Kubernetes 1.36 and later (older API servers do not serve
# admissionregistration.k8s.io/v1 MutatingAdmissionPolicy; the operator then
# adds its finalizer itself, and workloads get no defaults). Rendered by
# tests/control-plane/admission-policies.sh --write (do not edit), for an
# operator running as user "$OPERATOR_USER".
EOF
      render_mutating
    } >"$REPO/deploy/mutating-policies.yaml"
    echo "wrote $REPO/deploy/admission-policies.yaml and deploy/mutating-policies.yaml" >&2
    ;;
  *) echo "usage: admission-policies.sh [--write]" >&2; exit 2 ;;
esac
