#!/usr/bin/env bash
# Builds, once per machine, the real Kubernetes components the tests run:
# kube-apiserver, kube-controller-manager and kubectl (one pinned Kubernetes
# release), etcd, helm 3 and 4 (helm, helm4), promtool, actionlint and cyclonus
# (offline NetworkPolicy evaluation), each from a wrapper Go module under ./go
# whose go.mod/go.sum pin every dependency.
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
# WSOP_K8S_MODULE picks another Kubernetes wrapper module (make compat:
# kubernetes-1.33, the oldest release the project supports).
K8S_MODULE="${WSOP_K8S_MODULE:-kubernetes}"
[[ -f "$HERE/go/$K8S_MODULE/go.mod" ]] || { log "no wrapper module go/$K8S_MODULE"; exit 1; }
K8S_VERSION="$(required "$K8S_MODULE" k8s.io/kubernetes)"
ETCD_VERSION="$(required etcd go.etcd.io/etcd/server/v3)"
HELM_VERSION="$(required helm helm.sh/helm/v3)"
# Kubernetes vX.Y.Z publishes its staging modules (k8s.io/api, ...) as
# v0.Y.Z: every replace in the wrapper module must name that tag.
staging="v0.${K8S_VERSION#v1.}"
replaces="$(sed -n 's|^\t\(k8s\.io/[^ ]*\) => k8s\.io/[^ ]* \(v[^ ]*\)$|\1 \2|p' "$HERE/go/$K8S_MODULE/go.mod")"
stale="$(awk -v want="$staging" '$2 != want' <<<"$replaces")"
if [[ -z "$replaces" || -n "$stale" ]]; then
  log "go/$K8S_MODULE/go.mod must replace every staging module by its $staging tag (k8s.io/kubernetes $K8S_VERSION); not so:"
  echo "${stale:-(no replace lines found)}" >&2
  exit 1
fi

PROM_VERSION="$(required prometheus github.com/prometheus/prometheus)"
HELM4_VERSION="$(required helm4 helm.sh/helm/v4)"
ACTIONLINT_VERSION="$(required actionlint github.com/rhysd/actionlint)"
CYCLONUS_VERSION="$(required cyclonus github.com/mattfenwick/cyclonus)"

# GOTOOLCHAIN=local: never download another toolchain. GOSUMDB=off: the
# checksum database is not reachable here; go.sum (committed) still pins and
# verifies every module hash. -mod=readonly: fail instead of changing go.sum.
export GOTOOLCHAIN=local GOSUMDB=off GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0
# Two cores: link one binary at a time so a cold build stays within memory.
export GOMAXPROCS="${GOMAXPROCS:-$(nproc)}"
command -v go >/dev/null || { log "go is not installed; it is needed to build (and key) the components"; exit 1; }
GO_VERSION="$(go version)"

k8s_minor="${K8S_VERSION#v1.}"; k8s_minor="${k8s_minor%%.*}"
version_ldflags() {
  local pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    printf -- '-X %s.gitVersion=%s -X %s.gitMajor=1 -X %s.gitMinor=%s -X %s.gitTreeState=clean ' \
      "$pkg" "$K8S_VERSION" "$pkg" "$pkg" "$k8s_minor" "$pkg"
  done
}
helm_minor="$(sed -n 's/^\tk8s.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$HERE/go/helm/go.mod")"
helm_ldflags="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean $(
  for pkg in pkg/lint/rules pkg/chartutil; do
    printf -- '-X helm.sh/helm/v3/%s.k8sVersionMajor=1 -X helm.sh/helm/v3/%s.k8sVersionMinor=%s ' "$pkg" "$pkg" "$helm_minor"
  done)"

# What is built: "<module dir>|<output>|<package>|<extra ldflags>", one per line.
RECIPES="$K8S_MODULE|kube-apiserver|k8s.io/kubernetes/cmd/kube-apiserver|$(version_ldflags)
$K8S_MODULE|kube-controller-manager|k8s.io/kubernetes/cmd/kube-controller-manager|$(version_ldflags)
$K8S_MODULE|kubectl|k8s.io/kubernetes/cmd/kubectl|$(version_ldflags)
etcd|etcd|go.etcd.io/etcd/server/v3|-X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION
helm|helm|helm.sh/helm/v3/cmd/helm|$helm_ldflags
helm4|helm4|helm.sh/helm/v4/cmd/helm|-X helm.sh/helm/v4/internal/version.version=$HELM4_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean
actionlint|actionlint|github.com/rhysd/actionlint/cmd/actionlint|-X github.com/rhysd/actionlint.version=$ACTIONLINT_VERSION
cyclonus|cyclonus|github.com/mattfenwick/cyclonus/cmd/cyclonus|-X github.com/mattfenwick/cyclonus/pkg/cli.version=$CYCLONUS_VERSION
prometheus|promtool|github.com/prometheus/prometheus/cmd/promtool|-X github.com/prometheus/common/version.Version=${PROM_VERSION#v0.} -X github.com/prometheus/common/version.Branch=release"
# The flags build() below passes, part of every module's key.
BUILD_FLAGS="-trimpath -tags selinux,notest -ldflags -s -w"

# Each wrapper module is cached on its own, keyed by its exact inputs (go.mod,
# go.sum, what is built from it and how, the Go toolchain): adding or moving
# one component rebuilds that component only.
module_key() { # <module dir>
  {
    cat "$HERE/go/$1/go.mod" "$HERE/go/$1/go.sum"
    grep "^$1|" <<<"$RECIPES"
    echo "$BUILD_FLAGS"
    echo "$GO_VERSION"
  } | sha256sum | cut -c1-12
}
modules=("$K8S_MODULE" etcd helm helm4 prometheus actionlint cyclonus)
declare -A MOD_DIR
combined=""
for m in "${modules[@]}"; do
  MOD_DIR[$m]="$WSOP_CACHE/mod/$m-$(module_key "$m")"
  combined+="${MOD_DIR[$m]}"
done
BIN_DIR="$WSOP_CACHE/bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-helm-$HELM_VERSION-$HELM4_VERSION-promtool-$PROM_VERSION-actionlint-$ACTIONLINT_VERSION-cyclonus-$CYCLONUS_VERSION-$(sha256sum <<<"$combined" | cut -c1-12)"

wanted=()
while IFS='|' read -r _ out _ _; do wanted+=("$out"); done <<<"$RECIPES"
complete() { local b; for b in "${wanted[@]}"; do [[ -x "$BIN_DIR/$b" ]] || return 1; done; }
if complete; then
  log "cached: $BIN_DIR"
  echo "$BIN_DIR"
  exit 0
fi

started=$SECONDS
build() { # <module dir> <output name> <package> <extra ldflags>
  local dir="$1" out="$2" pkg="$3" extra="$4" t0=$SECONDS into="${MOD_DIR[$1]}"
  if [[ -x "$into/$out" || -x "$into.partial/$out" ]]; then
    return
  fi
  log "$out: building $pkg (cold: several minutes)"
  mkdir -p "$into.partial"
  (cd "$HERE/go/$dir" && go mod download && go build -trimpath -tags selinux,notest \
    -ldflags "-s -w $extra" -o "$into.partial/$out" "$pkg")
  log "$out: done in $((SECONDS - t0))s"
}

log "building into $BIN_DIR (first run on a machine: about 25 minutes on 2 cores)"
while IFS='|' read -r dir out pkg extra; do
  build "$dir" "$out" "$pkg" "$extra"
done <<<"$RECIPES"
# A module's directory is complete only once all its binaries are built.
for m in "${modules[@]}"; do
  if [[ -d "${MOD_DIR[$m]}.partial" ]]; then
    mkdir -p "${MOD_DIR[$m]}"
    mv "${MOD_DIR[$m]}.partial"/* "${MOD_DIR[$m]}/"
    rmdir "${MOD_DIR[$m]}.partial"
  fi
done

# The directory the tests use links every binary from its module's cache.
rm -rf "$BIN_DIR.partial"
mkdir -p "$BIN_DIR.partial"
while IFS='|' read -r dir out _ _; do
  ln -f "${MOD_DIR[$dir]}/$out" "$BIN_DIR.partial/$out" 2>/dev/null \
    || cp "${MOD_DIR[$dir]}/$out" "$BIN_DIR.partial/$out"
done <<<"$RECIPES"
rm -rf "$BIN_DIR"
mv "$BIN_DIR.partial" "$BIN_DIR"
log "all components ready in $((SECONDS - started))s"
echo "$BIN_DIR"
