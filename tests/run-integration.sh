#!/usr/bin/env bash
# Starts a fresh control plane in a temporary directory, runs the integration
# tests against it (they start the operator themselves), and stops it
# whatever happens. Keeps the directory (logs, kubeconfigs) when a test
# fails, or when WSOP_KEEP_CLUSTER=1.
#
#   tests/run-integration.sh [cargo test args...]
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CP="$REPO/tests/control-plane"

DIR="$(mktemp -d "${TMPDIR:-/tmp}/wsop-test.XXXXXX")"
status=1
cleanup() {
  "$CP/down.sh" "$DIR" || true
  if [[ $status -eq 0 && "${WSOP_KEEP_CLUSTER:-}" != 1 ]]; then
    rm -rf "$DIR"
  else
    echo "control-plane directory kept for debugging: $DIR (logs in $DIR/logs)" >&2
  fi
}
trap cleanup EXIT

# The static release binary the Dockerfile would copy (tests/integration/release.rs runs it).
WSOP_STATIC_BIN="$("$REPO/tests/static-build.sh")"
export WSOP_STATIC_BIN

# What killed runs left behind (their control planes, old failed-run
# directories) is stopped and removed first; this run's plane is tied to
# this script, so it cannot be left running either.
"$CP/sweep.sh"
WSOP_OWNER_PID=$$ "$CP/up.sh" "$DIR" >/dev/null
# shellcheck disable=SC1091
source "$DIR/env"

cd "$REPO"
set +e
cargo test --locked --test integration "$@" -- --color never
status=$?
set -e
if [[ $status -ne 0 ]]; then
  echo "--- last lines of the component logs ---" >&2
  for f in "$DIR"/logs/*.log; do
    echo "== $f" >&2
    tail -n 15 "$f" >&2
  done
fi
exit $status
