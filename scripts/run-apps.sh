#!/usr/bin/env bash
# Runs the built server and tasker in the foreground; Ctrl-C (or SIGTERM) stops both gracefully, and so does
# `run-apps.sh stop` from another shell (what `task down` runs), which waits until both have exited.
set -euo pipefail
cd "$(dirname "$0")/.."
pids_file="${RT_LOCAL_DIR:-.local}/apps.pids"
if [ "${1:-}" = stop ]; then
  [ -f "$pids_file" ] || exit 0
  pids=$(cat "$pids_file")
  # shellcheck disable=SC2086 # one word per pid
  kill -TERM $pids 2>/dev/null || true
  # The tasker lets its sends end first (SHUTDOWN_TIMEOUT_MS, 30 s by default).
  for pid in $pids; do
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  done
  rm -f "$pids_file"
  exit 0
fi
# As docker-compose.yml does: no key is built in, so say what to set rather than let the server's config refuse it.
: "${API_KEYS:?set API_KEYS to the comma-separated id:key entries the server accepts (README, Settings)}"
NODE_OPTIONS="${SERVER_NODE_OPTIONS:-}" node apps/server/dist/start.js &
server=$!
NODE_OPTIONS="${TASKER_NODE_OPTIONS:-}" node apps/tasker/dist/start.js &
tasker=$!
mkdir -p "$(dirname "$pids_file")"
echo "$server $tasker" >"$pids_file"
trap 'kill -TERM $server $tasker 2>/dev/null; wait; rm -f "$pids_file"' INT TERM
echo "server: http://${HOST:-127.0.0.1}:${PORT:-8080}  (API keys from API_KEYS)" >&2
echo "tasker health: http://127.0.0.1:${HEALTH_PORT:-8081}/health/ready" >&2
echo "metrics: http://${METRICS_HOST:-127.0.0.1}:${METRICS_PORT:-9464}/metrics (server), http://127.0.0.1:${HEALTH_PORT:-8081}/metrics (tasker); API reference: http://${HOST:-127.0.0.1}:${PORT:-8080}/docs" >&2
# If either app exits, stop the other: half a system would accept tasks nobody sends.
wait -n $server $tasker || true
kill -TERM $server $tasker 2>/dev/null || true
wait || true
rm -f "$pids_file"
