# Shared helpers for chatd's setup scripts: cache location, logging and progress while long steps run.
# Sourced, not executed.

CHATD_CACHE_DIR="${CHATD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/chatd}"

log() { printf '[chatd setup] %s\n' "$*" >&2; }
die() { printf '[chatd setup] error: %s\n' "$*" >&2; exit 1; }

# The last line of LOGFILE, shortened: the default progress status.
last_log_line() { tail -n 1 "$1" 2>/dev/null | cut -c1-100; }

# run_with_progress LOGFILE CMD...: runs CMD with its output in LOGFILE and reports how it is going
# until it ends: "<PROGRESS_LABEL> (<elapsed> s): <status>", where status is what the function named
# by PROGRESS_STATUS prints for LOGFILE (default: the log's last line). When stderr is a terminal it
# is one line updated every second; otherwise (CI, logs) a line every 20 s, so a slow cold build
# never looks hung and never floods a log. On failure prints the log's tail. CMD may be a function.
run_with_progress() {
  local logfile=$1; shift
  local label=${PROGRESS_LABEL:-working} status_fn=${PROGRESS_STATUS:-last_log_line}
  local tty=0 every=20
  [[ -t 2 ]] && tty=1 every=1
  "$@" >"$logfile" 2>&1 &
  local pid=$! start=$SECONDS last=$SECONDS
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    kill -0 "$pid" 2>/dev/null || break
    (( SECONDS - last >= every )) || continue
    last=$SECONDS
    local line
    line="$label ($((SECONDS - start)) s): $("$status_fn" "$logfile")"
    if (( tty )); then
      printf '\r\033[K[chatd setup] %s' "${line:0:$(( ${COLUMNS:-120} - 15 ))}" >&2
    else
      log "  $line"
    fi
  done
  local rc=0
  wait "$pid" || rc=$?
  (( tty )) && printf '\r\033[K' >&2
  if (( rc != 0 )); then
    tail -n 30 "$logfile" >&2
    return 1
  fi
  log "  $label: done in $((SECONDS - start)) s"
}
