#!/usr/bin/env bash
# make fuzz: run every Go fuzz target for FUZZTIME each, then the long
# variants of the reliability tests (TestLong*, which skip unless INTEL_LONG
# is set). Fuzz targets are found by name, so a new Fuzz function joins by
# being written.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-30s}
status=0
while IFS=: read -r file _ line; do
  pkg=./$(dirname "$file")
  name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/' <<<"$line")
  echo "== fuzz $pkg $name ($FUZZTIME)"
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg" || status=1
done < <(git grep -n -E '^func Fuzz[A-Za-z0-9_]*\(' -- '*_test.go')
echo "== long reliability tests (INTEL_LONG=1)"
INTEL_LONG=1 go test -count=1 -timeout 60m -run 'Long' ./... || status=1
exit $status
