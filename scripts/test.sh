#!/usr/bin/env bash
# The test command (npm test): real Helm/kubectl binaries, the single binary, then every suite
# (unit, integration on PostgreSQL 14-18, the Kubernetes API double, end to end through Helm 3 and 4).
# Ends with one line "tests: N passed, M failed" for CI. Extra arguments go to mocha
# (e.g. npm test -- --grep status).
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh || { echo "tests: 0 passed, 1 failed"; exit 1; }
npm run --silent build || { echo "tests: 0 passed, 1 failed"; exit 1; }
log=$(mktemp)
npx --no-install mocha --config .mocharc.json "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
passed=$(grep -Eo '^ +[0-9]+ passing' "$log" | grep -Eo '[0-9]+' | tail -n 1)
failed=$(grep -Eo '^ +[0-9]+ failing' "$log" | grep -Eo '[0-9]+' | tail -n 1)
pending=$(grep -Eo '^ +[0-9]+ pending' "$log" | grep -Eo '[0-9]+' | tail -n 1)
rm -f "$log"
passed=${passed:-0}; failed=${failed:-0}
# mocha exiting non-zero without a failing count (a crash while loading) is a failure too.
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "suite took $(( $(date +%s) - start )) s"
echo "tests: ${passed} passed, ${failed} failed${pending:+, ${pending} skipped}"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
