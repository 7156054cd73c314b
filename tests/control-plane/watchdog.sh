#!/usr/bin/env bash
# Started by up.sh when WSOP_OWNER_PID is set: stops the control plane in
# DIR once its owner is gone, also when the owner was killed (SIGKILL, a
# cancelled CI job) and could not run its own cleanup. Exits by itself when
# DIR is stopped or removed by someone else.
#
#   watchdog.sh DIR
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=owner.sh
source "$HERE/owner.sh"
DIR="${1:?usage: watchdog.sh DIR}"

while [[ -d "$DIR/pids" ]]; do
  if owner_gone "$DIR"; then
    printf '[watchdog %(%H:%M:%S)T] owner gone; stopping %s\n' -1 "$DIR"
    "$HERE/down.sh" "$DIR"
    exit 0
  fi
  # Stopped by down.sh already (no component left): nothing to watch.
  if [[ -f "$DIR/owner" ]] && ! compgen -G "$DIR/pids/*.pid" >/dev/null && [[ -f "$DIR/env" ]]; then
    exit 0
  fi
  sleep 2
done
