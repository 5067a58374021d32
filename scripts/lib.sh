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

# go_install_from_proxy WHAT MODULE VERSION DIR GOBIN PKG...: builds the commands PKG... (paths inside
# MODULE, e.g. cmd/temporal) at VERSION from the Go module proxy into GOBIN, with progress: modules
# downloaded out of those MODULE's go.mod lists, then packages compiled out of `go list -deps`. Logs go
# to DIR. Sets MODULE_DIR to the module's source in the module cache (read-only). WHAT names the build
# in messages ("the Temporal CLI").
go_install_from_proxy() {
  local what=$1 module=$2 version=$3 dir=$4 gobin=$5
  shift 5
  local pkgs=("$@") targets=() pkg
  for pkg in "${pkgs[@]}"; do targets+=("$module/$pkg@$version"); done
  # GOFLAGS is cleared: a user's -mod=vendor or similar would break a module-mode build.
  export CGO_ENABLED=0 GOFLAGS= GOWORK=off
  # 1. The module itself: its go.mod lists every module a build may need.
  MODULE_DIR=$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -d "$MODULE_DIR" ]] || die "could not download $module@$version. Check that the Go module proxy is reachable (go env GOPROXY)."
  GO_MODULE_TOTAL=$(awk '/^require \(/{r=1; next} r && /^\)/{r=0} r && NF>=2 {n++} /^require [^(]/{n++} END{print n+0}' "$MODULE_DIR/go.mod")
  # 2. Every package the commands import (standard library included), which downloads the modules that
  #    provide them: "go: downloading <module>" once per module.
  local listed=()
  for pkg in "${pkgs[@]}"; do listed+=("./$pkg"); done
  _go_list() { (cd "$MODULE_DIR" && go list -deps -f '{{.ImportPath}}' "${listed[@]}" | sort -u >"$dir/packages.txt"); }
  _go_downloaded() {
    local n last
    n=$(grep -c '^go: downloading ' "$1" || true)
    last=$(grep '^go: downloading ' "$1" | tail -n 1 | cut -d' ' -f3)
    echo "$n of at most $GO_MODULE_TOTAL modules${last:+ (last: $last)}"
  }
  PROGRESS_LABEL="downloading modules" PROGRESS_STATUS=_go_downloaded run_with_progress "$dir/download.log" _go_list \
    || die "downloading the modules of $what failed (log: $dir/download.log). Check that the Go module proxy is reachable (go env GOPROXY)."
  GO_PACKAGE_TOTAL=$(wc -l <"$dir/packages.txt")
  # 3. The build: -v names each package as it is compiled (cached ones are skipped, so a warm build ends early).
  _go_compiled() {
    local n last
    n=$(grep -vc '^go: ' "$1" || true)
    last=$(grep -v '^go: ' "$1" | tail -n 1)
    echo "$n of $GO_PACKAGE_TOTAL packages${last:+ (last: ${last:0:60})}"
  }
  PROGRESS_LABEL="compiling" PROGRESS_STATUS=_go_compiled run_with_progress "$dir/build.log" \
    env GOBIN="$gobin" go install -v -trimpath -ldflags "-s -w" "${targets[@]}" \
    || die "building $what failed (log: $dir/build.log)."
}
