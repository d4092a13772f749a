#!/usr/bin/env bash
# Runs a command with .env and then .local/infra.env (the local services' addresses) exported,
# unless the caller already set a variable: an explicit DATABASE_URL or KAFKA_BROKERS wins.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
for file in "$root/.env" "$root/.local/infra.env"; do
  [ -f "$file" ] || continue
  while IFS='=' read -r key value; do
    [[ -z "$key" || "$key" == \#* ]] && continue
    [ -n "${!key+x}" ] || export "$key=$value"
  done <"$file"
done
exec "$@"
