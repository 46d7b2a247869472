#!/usr/bin/env bash
# Proves that `make verify` fails when a query file changes but db/gen is not
# regenerated: it copies the tree, edits a query, and expects verify to fail.
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tar -C "$src" --exclude=.git -cf - . | tar -C "$work" -xf -
cat >> "$work/db/queries/nodes.sql" <<'SQL'

-- name: VerifySelfTestProbe :one
SELECT count(*) FROM nodes;
SQL
if (cd "$work" && make -s verify >/dev/null 2>&1); then
  echo "verify-selftest: make verify passed with a stale db/gen" >&2
  exit 1
fi
echo "verify-selftest: ok, make verify rejects a query change without regeneration"
