#!/usr/bin/env bash
# Builds, once per machine, the real Kubernetes components the tests run:
# kube-apiserver, kube-controller-manager and kubectl (one pinned Kubernetes
# release), etcd and helm, each from a wrapper Go module under ./go whose
# go.mod/go.sum pin every dependency.
#
# The versions are the ones those go.mod files require (the one place they
# are written): to move a component, change its wrapper module.
#
# The binaries are cached under $WSOP_CACHE (default ~/.cache/workspace-operator)
# in a directory keyed by the versions and a hash of the wrapper modules, so a
# second run with a warm cache only checks that the files exist.
#
# Prints the directory holding the binaries as its last line on stdout;
# progress goes to stderr.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Go usually lives here when it is not on PATH (non-login shells, CI).
[[ -d /usr/local/go/bin ]] && PATH="$PATH:/usr/local/go/bin"
WSOP_CACHE="${WSOP_CACHE:-$HOME/.cache/workspace-operator}"

log() { printf '[build %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

required() { # <wrapper module> <module path>: the version its go.mod requires
  local v
  v="$(sed -n "s|^require $2 \(v[^ ]*\)\$|\1|p" "$HERE/go/$1/go.mod")"
  [[ -n "$v" ]] || { log "go/$1/go.mod has no line 'require $2 <version>'"; exit 1; }
  echo "$v"
}
K8S_VERSION="$(required kubernetes k8s.io/kubernetes)"
ETCD_VERSION="$(required etcd go.etcd.io/etcd/server/v3)"
HELM_VERSION="$(required helm helm.sh/helm/v3)"
# Kubernetes vX.Y.Z publishes its staging modules (k8s.io/api, ...) as
# v0.Y.Z: every replace in the wrapper module must name that tag.
staging="v0.${K8S_VERSION#v1.}"
replaces="$(sed -n 's|^\t\(k8s\.io/[^ ]*\) => k8s\.io/[^ ]* \(v[^ ]*\)$|\1 \2|p' "$HERE/go/kubernetes/go.mod")"
stale="$(awk -v want="$staging" '$2 != want' <<<"$replaces")"
if [[ -z "$replaces" || -n "$stale" ]]; then
  log "go/kubernetes/go.mod must replace every staging module by its $staging tag (k8s.io/kubernetes $K8S_VERSION); not so:"
  echo "${stale:-(no replace lines found)}" >&2
  exit 1
fi

# Key the cache by the exact inputs: a change of go.mod/go.sum, this script or
# the Go toolchain produces a new directory instead of reusing stale binaries.
inputs_hash="$(
  {
    cat "$HERE"/go/*/go.mod "$HERE"/go/*/go.sum "$HERE/build.sh"
    go version
  } | sha256sum | cut -c1-12
)"
BIN_DIR="$WSOP_CACHE/bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-helm-$HELM_VERSION-$inputs_hash"

wanted=(kube-apiserver kube-controller-manager kubectl etcd helm)
missing=()
for b in "${wanted[@]}"; do
  [[ -x "$BIN_DIR/$b" ]] || missing+=("$b")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  log "cached: $BIN_DIR"
  echo "$BIN_DIR"
  exit 0
fi

command -v go >/dev/null || { log "go is not installed; it is needed once to build the components"; exit 1; }

# GOTOOLCHAIN=local: never download another toolchain. GOSUMDB=off: the
# checksum database is not reachable here; go.sum (committed) still pins and
# verifies every module hash. -mod=readonly: fail instead of changing go.sum.
export GOTOOLCHAIN=local GOSUMDB=off GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0
# Two cores: link one binary at a time so a cold build stays within memory.
export GOMAXPROCS="${GOMAXPROCS:-$(nproc)}"

mkdir -p "$BIN_DIR.partial"
started=$SECONDS

k8s_minor="${K8S_VERSION#v1.}"; k8s_minor="${k8s_minor%%.*}"
version_ldflags() {
  local pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    printf -- '-X %s.gitVersion=%s -X %s.gitMajor=1 -X %s.gitMinor=%s -X %s.gitTreeState=clean ' \
      "$pkg" "$K8S_VERSION" "$pkg" "$pkg" "$k8s_minor" "$pkg"
  done
}

build() { # <module dir> <output name> <package> [extra ldflags]
  local dir="$1" out="$2" pkg="$3" extra="${4:-}" t0=$SECONDS
  if [[ -x "$BIN_DIR.partial/$out" ]]; then
    log "$out: already built in an interrupted run"
    return
  fi
  log "$out: building $pkg (cold: several minutes)"
  (cd "$HERE/go/$dir" && go mod download && go build -trimpath -tags selinux,notest \
    -ldflags "-s -w $extra" -o "$BIN_DIR.partial/$out" "$pkg")
  log "$out: done in $((SECONDS - t0))s"
}

log "building into $BIN_DIR (first run on a machine: about 20 minutes on 2 cores)"
build kubernetes kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$(version_ldflags)"
build kubernetes kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$(version_ldflags)"
build kubernetes kubectl k8s.io/kubernetes/cmd/kubectl "$(version_ldflags)"
build etcd etcd go.etcd.io/etcd/server/v3 \
  "-X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION"
helm_minor="$(sed -n 's/^\tk8s.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$HERE/go/helm/go.mod")"
build helm helm helm.sh/helm/v3/cmd/helm \
  "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean $(
    for pkg in pkg/lint/rules pkg/chartutil; do
      printf -- '-X helm.sh/helm/v3/%s.k8sVersionMajor=1 -X helm.sh/helm/v3/%s.k8sVersionMinor=%s ' "$pkg" "$pkg" "$helm_minor"
    done)"

rm -rf "$BIN_DIR"
mv "$BIN_DIR.partial" "$BIN_DIR"
log "all components built in $((SECONDS - started))s"
echo "$BIN_DIR"
