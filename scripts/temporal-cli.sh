#!/usr/bin/env bash
# Provides the Temporal CLI (dev server with Web UI) and prints its path on stdout.
# Order: $TEMPORAL_CLI_PATH → the project cache → build it from the Go module proxy (pinned version).
# Idempotent: a cached binary is reused. See docs in README.md ("Temporal binaries").
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

TEMPORAL_CLI_VERSION="${TEMPORAL_CLI_VERSION:-v1.5.1}"   # embeds Temporal server 1.29.1 and UI 2.42.1

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

command -v go >/dev/null 2>&1 || die "no Temporal CLI found and Go is not installed to build it.
  Either install Go >= 1.25 and re-run, set TEMPORAL_CLI_PATH to a 'temporal' binary,
  or set TEMPORAL_ADDRESS to an existing Temporal server."

log "building Temporal CLI $TEMPORAL_CLI_VERSION from the Go module proxy (cold: a few minutes on 2 cores)"
mkdir -p "$dir/bin"
tmpbin=$(mktemp -d "$dir/build.XXXXXX")
# GOFLAGS is cleared: a user's -mod=vendor or similar would break a module-mode install.
if ! run_with_progress "$dir/build.log" env CGO_ENABLED=0 GOFLAGS= GOBIN="$tmpbin" \
    go install -trimpath -ldflags "-s -w" "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION"; then
  rm -rf "$tmpbin"
  die "building the Temporal CLI failed (log: $dir/build.log). Check that the Go module proxy is reachable (go env GOPROXY)."
fi
mv "$tmpbin/temporal" "$bin" && rm -rf "$tmpbin"
log "Temporal CLI ready: $bin ($("$bin" --version))"
echo "$bin"
