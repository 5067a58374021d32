#!/usr/bin/env bash
# Provides the Temporal CLI (dev server with Web UI) and prints its path on stdout.
# Order: $TEMPORAL_CLI_PATH → the project cache → a `temporal` on PATH whose version is recent enough
# → build it from the Go module proxy (pinned version), showing what is downloaded and compiled and
# how far. (src/infra/temporal-binaries.ts tries the Temporal SDK's own download before the build.)
# Idempotent: a cached binary is reused. See README.md ("Temporal binaries").
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

TEMPORAL_CLI_VERSION="${TEMPORAL_CLI_VERSION:-v1.5.1}"   # embeds Temporal server 1.29.1 and UI 2.42.1
# The oldest Temporal server (embedded in the CLI) that knows every dynamic config value chatd's dev
# server sets; keep in step with src/infra/temporal-binaries.ts. CLIs built from source report their
# own version as 0.0.0-DEV, so the server version is the one checked.
TEMPORAL_MIN_SERVER_VERSION=1.25.0

if [[ -n "${TEMPORAL_CLI_PATH:-}" ]]; then
  [[ -x "$TEMPORAL_CLI_PATH" ]] || die "TEMPORAL_CLI_PATH=$TEMPORAL_CLI_PATH is not an executable file"
  echo "$TEMPORAL_CLI_PATH"; exit 0
fi

dir="$CHATD_CACHE_DIR/temporal-cli-$TEMPORAL_CLI_VERSION"
bin="$dir/bin/temporal"
if [[ -x "$bin" ]]; then
  log "Temporal CLI $TEMPORAL_CLI_VERSION: cached at $bin"
  echo "$bin"; exit 0
fi

# A `temporal` on PATH: `temporal --version` prints "temporal version 1.5.1 (Server 1.29.1, UI 2.42.1)".
if onpath=$(command -v temporal 2>/dev/null); then
  found=$(timeout 10 "$onpath" --version 2>/dev/null | sed -n 's/^temporal version .*(Server \([0-9][0-9.]*\).*/\1/p' | head -n 1)
  if [[ -n "$found" && "$(printf '%s\n%s\n' "$TEMPORAL_MIN_SERVER_VERSION" "$found" | sort -V | head -n 1)" == "$TEMPORAL_MIN_SERVER_VERSION" ]]; then
    log "Temporal CLI on PATH (server $found): $onpath"
    echo "$onpath"; exit 0
  fi
  log "ignoring $onpath: server version ${found:-unknown}, need >= $TEMPORAL_MIN_SERVER_VERSION"
fi

command -v go >/dev/null 2>&1 || die "no Temporal CLI found and Go is not installed to build it.
  Either install Go >= 1.25 and re-run, put a 'temporal' (server >= $TEMPORAL_MIN_SERVER_VERSION) on PATH, set
  TEMPORAL_CLI_PATH to a 'temporal' binary, or set TEMPORAL_ADDRESS to an existing Temporal server."

module="github.com/temporalio/cli"
log "building Temporal CLI $TEMPORAL_CLI_VERSION from the Go module proxy (cold: a few minutes on 2 cores)"
mkdir -p "$dir/bin"
tmpbin=$(mktemp -d "$dir/build.XXXXXX")
trap 'rm -rf "$tmpbin"' EXIT
go_install_from_proxy "the Temporal CLI" "$module" "$TEMPORAL_CLI_VERSION" "$dir" "$tmpbin" cmd/temporal
mv "$tmpbin/temporal" "$bin"
log "Temporal CLI ready: $bin ($("$bin" --version))"
echo "$bin"
