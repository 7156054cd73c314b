#!/usr/bin/env bash
# Stops and removes what earlier runs left in ${TMPDIR:-/tmp}: control
# planes whose owner (DIR/owner: a test run or benchmark) is gone are
# stopped at once; their directories, kept for debugging when a run failed,
# are removed once older than WSOP_KEEP_FAILED_MINUTES (default 1440, a
# day). Planes without an owner file (`make up`, up.sh by hand) are never
# touched. make test runs it first.
#
#   sweep.sh
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=owner.sh
source "$HERE/owner.sh"
keep="${WSOP_KEEP_FAILED_MINUTES:-1440}"
log() { printf '[sweep %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

stopped=0 removed=0
for dir in "${TMPDIR:-/tmp}"/wsop-*/; do
  dir="${dir%/}"
  [[ -d "$dir" ]] && owner_gone "$dir" || continue
  if compgen -G "$dir/pids/*.pid" >/dev/null; then
    "$HERE/down.sh" "$dir" 2>/dev/null
    stopped=$((stopped + 1))
  fi
  if (( keep == 0 )) || [[ -n "$(find "$dir" -maxdepth 0 -mmin "+$keep" 2>/dev/null)" ]]; then
    rm -rf "$dir"
    removed=$((removed + 1))
  fi
done
if (( stopped + removed > 0 )); then
  log "stopped $stopped control plane(s) left by runs that are gone; removed $removed directories older than $keep min"
fi
