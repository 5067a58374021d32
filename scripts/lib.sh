# Shared helpers for chatd's setup scripts: cache location, logging and progress while long steps run.
# Sourced, not executed.

CHATD_CACHE_DIR="${CHATD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/chatd}"

log() { printf '[chatd setup] %s\n' "$*" >&2; }
die() { printf '[chatd setup] error: %s\n' "$*" >&2; exit 1; }

# run_with_progress LOGFILE CMD...: runs CMD with output in LOGFILE, printing a line every 20 s so a
# slow cold build never looks hung; on failure prints the log's tail.
run_with_progress() {
  local logfile=$1; shift
  "$@" >"$logfile" 2>&1 &
  local pid=$! start=$SECONDS
  while kill -0 "$pid" 2>/dev/null; do
    sleep 5
    if (( (SECONDS - start) % 20 < 5 )) && kill -0 "$pid" 2>/dev/null; then
      log "  … still working ($((SECONDS - start)) s): $(tail -n 1 "$logfile" | cut -c1-100)"
    fi
  done
  if ! wait "$pid"; then
    tail -n 30 "$logfile" >&2
    return 1
  fi
}
