#!/usr/bin/env bash
# Builds the operator as the Dockerfile does (release, --locked, static musl
# binary), without a container engine, and prints its path. The target dir
# lives in the cache so later runs only build what changed.
#
#   tests/static-build.sh
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${WSOP_STATIC_TARGET:-x86_64-unknown-linux-musl}"
CACHE="${WSOP_CACHE:-$HOME/.cache/workspace-operator}"
log() { printf '[static %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  log "adding the Rust target $TARGET (once per machine)"
  rustup target add "$TARGET" >&2
fi
command -v musl-gcc >/dev/null || { log "musl-gcc not found (Debian: apt-get install musl-tools): jemalloc is built with it"; exit 1; }
export CARGO_TARGET_DIR="$CACHE/target-static"
t0=$SECONDS
log "cargo build --release --locked --target $TARGET (first run: several minutes)"
(cd "$REPO" && cargo build --release --locked --quiet --target "$TARGET" --bin workspace-operator) >&2
log "built in $((SECONDS - t0))s"
echo "$CARGO_TARGET_DIR/$TARGET/release/workspace-operator"
