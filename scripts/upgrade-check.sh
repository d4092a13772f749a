#!/usr/bin/env bash
# The previous release keeps running while this one rolls out, on the schema this one's migrations leave: its own
# repository contract suite (every statement it runs) passes against a database migrated by this checkout.
# Needs DATABASE_URL and KAFKA_BROKERS (run it through scripts/with-env.sh) and the git history of the clone.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
previous=$(grep -v '^#' "$root/.ci/previous-release" | head -n1)
if ! git -C "$root" cat-file -e "$previous^{commit}" 2>/dev/null; then
  echo "upgrade-check: commit $previous (.ci/previous-release) is not in this clone; fetch the full history" >&2
  exit 1
fi
work=$(mktemp -d)
cleanup() {
  git -C "$root" worktree remove --force "$work/previous" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "[upgrade-check] previous release $previous, with this checkout's migrations" >&2
git -C "$root" worktree add --detach -q "$work/previous" "$previous"
cp "$root"/migrations/*.sql "$work/previous/migrations/"
cd "$work/previous"
pnpm install --frozen-lockfile --prefer-offline --reporter=silent
pnpm exec tsc -b
pnpm exec vitest run --project integration packages/infrastructure/src/pg/pg-task-repository.int.test.ts
