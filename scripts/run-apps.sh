#!/usr/bin/env bash
# Runs the built server and tasker in the foreground; Ctrl-C (or SIGTERM) stops both gracefully.
set -euo pipefail
cd "$(dirname "$0")/.."
# As docker-compose.yml does: no key is built in, so say what to set rather than let the server's config refuse it.
: "${API_KEYS:?set API_KEYS to the comma-separated id:key entries the server accepts (README, Settings)}"
NODE_OPTIONS="${SERVER_NODE_OPTIONS:-}" node apps/server/dist/start.js &
server=$!
NODE_OPTIONS="${TASKER_NODE_OPTIONS:-}" node apps/tasker/dist/start.js &
tasker=$!
trap 'kill -TERM $server $tasker 2>/dev/null; wait' INT TERM
echo "server: http://${HOST:-127.0.0.1}:${PORT:-8080}  (API keys from API_KEYS)" >&2
echo "tasker health: http://127.0.0.1:${HEALTH_PORT:-8081}/health/ready" >&2
echo "metrics: http://${METRICS_HOST:-127.0.0.1}:${METRICS_PORT:-9464}/metrics (server), http://127.0.0.1:${HEALTH_PORT:-8081}/metrics (tasker); API reference: http://${HOST:-127.0.0.1}:${PORT:-8080}/docs" >&2
# If either app exits, stop the other: half a system would accept tasks nobody sends.
wait -n $server $tasker || true
kill -TERM $server $tasker 2>/dev/null || true
wait
