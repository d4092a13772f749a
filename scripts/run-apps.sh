#!/usr/bin/env bash
# Runs the built server and tasker in the foreground; Ctrl-C (or SIGTERM) stops both gracefully.
set -euo pipefail
cd "$(dirname "$0")/.."
node apps/server/dist/start.js &
server=$!
NODE_OPTIONS="${TASKER_NODE_OPTIONS:-}" node apps/tasker/dist/start.js &
tasker=$!
trap 'kill -TERM $server $tasker 2>/dev/null; wait' INT TERM
echo "server: http://127.0.0.1:${PORT:-8080}  (API key from API_KEYS in .env)" >&2
echo "tasker health: http://127.0.0.1:${HEALTH_PORT:-8081}/health/ready" >&2
# If either app exits, stop the other: half a system would accept tasks nobody sends.
wait -n $server $tasker || true
kill -TERM $server $tasker 2>/dev/null || true
wait
