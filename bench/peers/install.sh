#!/usr/bin/env bash
# Installs the Python peers of bench scenario S11 (README "Peers") into a venv in the cache, outside
# the repository: ${CHATD_CACHE_DIR}/bench-peers-venv-<hash of requirements.lock>, from the hashed
# lock only (pip --require-hashes). Idempotent: a venv whose install finished is reused at once.
# Prints the venv's python path on stdout; progress and errors go to stderr. Needs Python 3.11+
# (PEER_PYTHON, else python3; the lock is resolved on 3.11, so backports for 3.10 are not in it)
# and the package registry.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../../scripts/lib.sh
source "$here/../../scripts/lib.sh"

lock="$here/requirements.lock"
python="${PEER_PYTHON:-python3}"
command -v "$python" >/dev/null || die "no $python on PATH (the Python peers need Python 3.11+)"
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' ||
  die "$("$python" --version 2>&1) is too old (requirements.lock is resolved for Python 3.11+)"
pyver="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
hash="$( (cat "$lock"; echo "$pyver") | sha256sum | cut -c1-16)"
venv="$CHATD_CACHE_DIR/bench-peers-venv-$hash"

if [[ -f "$venv/.installed" ]]; then
  echo "$venv/bin/python"
  exit 0
fi
mkdir -p "$CHATD_CACHE_DIR"
rm -rf "$venv"
log "installing the Python peers into $venv"
"$python" -m venv "$venv" >&2 || die "could not create a venv with $python (is the venv module installed?)"
PROGRESS_LABEL="pip install (bench peers)" run_with_progress "$CHATD_CACHE_DIR/bench-peers-install.log" \
  "$venv/bin/pip" install --disable-pip-version-check --no-input --require-hashes -r "$lock" ||
  { rm -rf "$venv"; die "pip install failed (log: $CHATD_CACHE_DIR/bench-peers-install.log)"; }
touch "$venv/.installed"
echo "$venv/bin/python"
