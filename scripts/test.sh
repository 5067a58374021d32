#!/usr/bin/env bash
# `npm test`: the whole suite as CI runs it. Static checks first (types, lint, format, import graph:
# no circles, layering; see .dependency-cruiser.cjs), then every Jest tier. The global setup provides
# PostgreSQL and Temporal (building the Temporal binaries from the registries on first use). Jest's
# JSON results go to .jest-results.json for .ci/run's summary.
set -uo pipefail
cd "$(dirname "$0")/.."
rm -f .jest-results.json

status=0
echo "== typecheck" && npx tsc -p tsconfig.json --noEmit && npx tsc -p web/tsconfig.json --noEmit || status=1
# The browser tier serves dist/web: build it from the sources under test.
echo "== playground build" && npm run --silent build:web >/dev/null || status=1
echo "== lint" && npx eslint --max-warnings 0 . || status=1
echo "== format" && npx prettier --check . >/dev/null || { npx prettier --list-different .; status=1; }
echo "== import graph" && npm run --silent check:deps || status=1
echo "== jest"
# --forceExit: the Temporal SDK's native runtime can keep a handle open after the last test.
npx jest --forceExit --json --outputFile=.jest-results.json "$@" || status=1
exit $status
