#!/usr/bin/env bash
# The runbook's way to find the revisions of every chart version, the baseline of bench/revisions.sh:
# list the versions, then one `helm show chart REPO/CHART --version V` at a time, and pick the
# revisions out of the tracks annotation. Usage: runbook-lookup.sh REPO/CHART
set -euo pipefail
chart=$1
helm=${HELM:-helm}
"$helm" search repo "$chart" --versions --devel -o json | jq -r '.[].version' | while read -r version; do
  revisions=$("$helm" show chart "$chart" --version "$version" |
    awk '/schema-rollback.io\/tracks:/ { inside = 1; next }
         inside && /^  [^ ]/ { inside = 0 }
         inside && /name:/ { name = $NF }
         inside && /revision:/ { gsub(/"/, "", $NF); printf "%s=%s ", name, $NF }')
  printf '%s\t%s\n' "$version" "$revisions"
done
