#!/usr/bin/env bash
# The runbook a rollback replaces, scripted by hand: the baseline of bench/rollback.ts. The same
# steps the plugin takes, as plain commands: scale the workload that migrates on start to 0; for
# each track, one psql session running each down file from the newest with golang-migrate's
# bookkeeping around it (SetVersion(prev, dirty) in a transaction, the body, SetVersion(prev,
# clean): migrate.go runMigrations); then helm upgrade to the older chart with the values kept.
# No checks, no plan, no record: what an operator types.
#
#   DATABASE_URL=... runbook-rollback.sh NAMESPACE RELEASE CHART VERSION WORKLOAD SOURCE TRACK:TABLE:FROM:TO...
#   e.g. runbook-rollback.sh ai kagent fixtures/kagent 0.8.0 deployment/kagent-controller \
#          test/fixtures/migrations/kagent vector:vector_schema_migrations:3:1 core:schema_migrations:13:8
set -euo pipefail
namespace=$1 release=$2 chart=$3 version=$4 workload=$5 source=$6
shift 6
: "${DATABASE_URL:?DATABASE_URL is the database the release uses}"

kubectl -n "$namespace" scale "$workload" --replicas=0 >/dev/null

for spec in "$@"; do
  IFS=: read -r track table from to <<<"$spec"
  for ((v = from; v > to; v--)); do
    prev=$((v - 1))
    printf -v padded '%06d' "$v"
    files=("$source/$track/${padded}_"*.down.sql)
    file=${files[0]}
    printf 'BEGIN; TRUNCATE "%s"; INSERT INTO "%s" (version, dirty) VALUES (%d, true); COMMIT;\n' "$table" "$table" "$prev"
    cat "$file"
    printf '\nBEGIN; TRUNCATE "%s"; INSERT INTO "%s" (version, dirty) VALUES (%d, false); COMMIT;\n' "$table" "$table" "$prev"
  done | psql -X -q -v ON_ERROR_STOP=1 "$DATABASE_URL" >/dev/null
done

# Helm 4 applies server-side: after kubectl scale owns .spec.replicas the upgrade must force the
# conflict, as the plugin does (src/adapters/helm.ts upgradeArgs).
force=()
helm version --template '{{.Version}}' | grep -q '^v4' && force=(--force-conflicts)
helm -n "$namespace" upgrade "$release" "$chart" --version "$version" --reset-then-reuse-values "${force[@]}" >/dev/null
