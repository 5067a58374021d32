#!/usr/bin/env bash
# Provides a standalone Temporal server (the `temporal-server` binary, all services in one process or
# one per process) and its SQL schema tool (`temporal-sql-tool`), built from the Go module proxy, for
# running Temporal on PostgreSQL outside Docker (the bench's scale-out scenario, S12). Prints three
# lines on stdout: the server binary, the schema tool, and the server module's PostgreSQL schema
# directory (schema/postgresql/v12, with temporal/ and visibility/). Progress goes to stderr.
# Idempotent: cached in $CHATD_CACHE_DIR/temporal-server-<version>. See README.md ("Scale-out").
# With --cached it never builds: it prints the paths when cached and exits 3 otherwise.
#
# The version is the server the pinned Temporal CLI embeds (scripts/temporal-cli.sh: CLI v1.5.1
# requires go.temporal.io/server v1.29.1), so a machine that built the CLI already holds most of the
# modules and compiled packages.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

TEMPORAL_SERVER_VERSION="${TEMPORAL_SERVER_VERSION:-v1.29.1}"
module="go.temporal.io/server"

dir="$CHATD_CACHE_DIR/temporal-server-$TEMPORAL_SERVER_VERSION"
server_bin="$dir/bin/temporal-server"
sql_bin="$dir/bin/temporal-sql-tool"
schema_dir="$dir/schema/postgresql/v12"

if [[ -x "$server_bin" && -x "$sql_bin" && -d "$schema_dir/temporal" && -d "$schema_dir/visibility" ]]; then
  log "Temporal server $TEMPORAL_SERVER_VERSION: cached at $dir"
  printf '%s\n%s\n%s\n' "$server_bin" "$sql_bin" "$schema_dir"; exit 0
fi
if [[ "${1:-}" == "--cached" ]]; then
  log "Temporal server $TEMPORAL_SERVER_VERSION is not built (run: bash scripts/temporal-server.sh)"
  exit 3
fi

command -v go >/dev/null 2>&1 || die "Go is not installed: the Temporal server is built from source.
  Install Go >= 1.25 and re-run (the bench's scale-out scenario then measures the dev server only)."

log "building Temporal server $TEMPORAL_SERVER_VERSION and temporal-sql-tool from the Go module proxy (cold: several minutes on 2 cores)"
mkdir -p "$dir/bin"
tmpbin=$(mktemp -d "$dir/build.XXXXXX")
trap 'rm -rf "$tmpbin"' EXIT
go_install_from_proxy "the Temporal server" "$module" "$TEMPORAL_SERVER_VERSION" "$dir" "$tmpbin" cmd/server cmd/tools/sql
srcdir=$MODULE_DIR

# The PostgreSQL schemas, copied out of the read-only module cache (the cache may be cleaned).
rm -rf "$dir/schema"
mkdir -p "$dir/schema/postgresql"
cp -R "$srcdir/schema/postgresql/v12" "$dir/schema/postgresql/"
chmod -R u+w "$dir/schema"
mv "$tmpbin/sql" "$sql_bin"
mv "$tmpbin/server" "$server_bin"
log "Temporal server ready: $server_bin, $sql_bin"
printf '%s\n%s\n%s\n' "$server_bin" "$sql_bin" "$schema_dir"
