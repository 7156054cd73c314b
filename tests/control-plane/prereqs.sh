#!/usr/bin/env bash
# Checks, before anything is built or started, that this machine has what
# `make up` and `make test` need, and names exactly what is missing (all of
# it at once, with what it is for). Exit status 1 when something is.
#
#   prereqs.sh
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
problems=()

need() { # <command> <what it is for>
  command -v "$1" >/dev/null 2>&1 || problems+=("$1 not found: $2")
}
# Whether version $1 >= $2 (dotted numbers).
at_least() { [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]; }

if (( BASH_VERSINFO[0] < 4 || (BASH_VERSINFO[0] == 4 && BASH_VERSINFO[1] < 3) )); then
  problems+=("bash ${BASH_VERSION} is too old: the scripts need bash 4.3 or newer")
fi
need cargo "builds the operator (install Rust with rustup)"
need go "builds kube-apiserver, kube-controller-manager, kubectl, etcd and helm once, and keys their cache"
need python3 "picks free ports for the control plane and reads JSON in the scripts"
need openssl "makes the control plane's certificates"
need curl "waits for etcd and kube-apiserver to answer"
need setsid "starts each control-plane component in its own process group (util-linux)"
need sha256sum "keys the component cache (coreutils)"
need musl-gcc "builds the static release binary the Dockerfile ships, as make test checks it (Debian: musl-tools)"
need rustup "adds the x86_64-unknown-linux-musl target for the static release binary"

if command -v rustc >/dev/null 2>&1; then
  want="$(sed -n 's/^rust-version = "\(.*\)"/\1/p' "$REPO/Cargo.toml")"
  have="$(rustc --version | awk '{print $2}')"
  if [[ -n "$want" ]] && ! at_least "${have%%-*}" "$want"; then
    problems+=("rustc $have is older than the rust-version $want in Cargo.toml (rustup update stable)")
  fi
fi
if command -v go >/dev/null 2>&1; then
  want="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$HERE"/go/*/go.mod | sort -V | tail -n1)"
  have="$(go env GOVERSION 2>/dev/null)"
  have="${have#go}"
  if [[ -n "$want" ]] && ! at_least "${have%%[-+ ]*}" "$want"; then
    problems+=("go $have is older than go $want, which tests/control-plane/go/*/go.mod need (GOTOOLCHAIN=local: no other toolchain is downloaded)")
  fi
fi

if (( ${#problems[@]} > 0 )); then
  printf 'This machine lacks what make up / make test need:\n' >&2
  printf '  - %s\n' "${problems[@]}" >&2
  exit 1
fi
