# shellcheck shell=bash
# Source me. `rt_progress LABEL [--log FILE] COMMAND...` runs COMMAND, says LABEL at once, how long it has run every
# 15 s, and how long it took, so that a slow first-time step (a download, an install) is never taken for a hang.
# With --log, COMMAND's output goes to FILE; a redirection of the whole call would take these lines with it.
# Returns COMMAND's status.

rt_progress() {
  local label=$1 log='' start=$SECONDS parent=$BASHPID ticker status
  shift
  if [[ ${1:-} == --log ]]; then
    log=$2
    shift 2
  fi
  echo "$label ..." >&2
  # The ticker stops by itself if this shell dies first. Its sleep writes nowhere, so a sleep left running when the
  # ticker is killed holds no pipe of the caller's open; 9>&- keeps infra.sh's lock out of it.
  (
    while sleep 15 >/dev/null 2>&1; do
      kill -0 "$parent" 2>/dev/null || exit 0
      echo "  ... $label: $((SECONDS - start)) s so far" >&2
    done
  ) 9>&- </dev/null &
  ticker=$!
  if [[ -n $log ]]; then
    "$@" >"$log" 2>&1 && status=0 || status=$?
  else
    "$@" && status=0 || status=$?
  fi
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true # killed: its status is 143
  if ((status == 0)); then
    echo "  $label: done in $((SECONDS - start)) s" >&2
  else
    echo "  $label: failed after $((SECONDS - start)) s" >&2
  fi
  return "$status"
}
