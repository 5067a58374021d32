#!/bin/sh
# One-shot job (temporalio/admin-tools image), also usable by hand against any existing cluster:
#   TEMPORAL_ADDRESS=host:7233 TEMPORAL_NAMESPACE=default sh deploy/temporal/register-search-attributes.sh
# Waits for the frontend, creates the namespace when missing (the plain server image, unlike the
# deprecated auto-setup image, creates none), then registers chatd's search attributes
# (src/temporal/search-attributes.ts). Idempotent: the CLI accepts attributes that already exist
# with the same type.
set -eu

ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${TEMPORAL_NAMESPACE_RETENTION:-168h}"
ATTEMPTS="${TEMPORAL_WAIT_ATTEMPTS:-60}"

# Keep in sync with SEARCH_ATTRIBUTE_DEFINITIONS in src/temporal/search-attributes.ts.
SEARCH_ATTRIBUTES="ChatId OwnerId RootChatId ModelConfigId ChatStatus"

retry() {
  i=1
  until "$@"; do
    if [ "$i" -ge "$ATTEMPTS" ]; then echo "giving up after $ATTEMPTS attempts: $*" >&2; return 1; fi
    i=$((i + 1))
    sleep 2
  done
}

echo "waiting for Temporal at $ADDRESS"
retry temporal operator cluster health --address "$ADDRESS"

if temporal operator namespace describe --address "$ADDRESS" --namespace "$NAMESPACE" >/dev/null 2>&1; then
  echo "namespace $NAMESPACE exists"
else
  echo "creating namespace $NAMESPACE (retention $RETENTION)"
  # A concurrent creator may win the race: accept "already exists" by describing again.
  temporal operator namespace create --address "$ADDRESS" --namespace "$NAMESPACE" --retention "$RETENTION" ||
    temporal operator namespace describe --address "$ADDRESS" --namespace "$NAMESPACE" >/dev/null
  # New namespaces reach every service through the namespace cache (refreshed every few seconds).
  retry temporal operator namespace describe --address "$ADDRESS" --namespace "$NAMESPACE" >/dev/null
fi

args=""
for name in $SEARCH_ATTRIBUTES; do args="$args --name $name --type Keyword"; done
echo "registering search attributes in $NAMESPACE: $SEARCH_ATTRIBUTES"
# shellcheck disable=SC2086 # $args is a list of flags
retry temporal operator search-attribute create --address "$ADDRESS" --namespace "$NAMESPACE" $args

temporal operator search-attribute list --address "$ADDRESS" --namespace "$NAMESPACE"
echo "search attributes registered"
