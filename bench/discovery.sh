#!/usr/bin/env bash
# Runs bench/discovery.ts (what discovering an unannotated chart's revision costs; see its header)
# after checking its tools. Works from any cwd.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }
command -v hyperfine >/dev/null 2>&1 || die "hyperfine is missing (apt-get install hyperfine)"
/usr/bin/python3 -c 'import alembic, psycopg2' 2>/dev/null || die "the fixture images need Debian's python3-alembic and python3-psycopg2 (apt-get install python3-alembic python3-psycopg2)"
[ -x .tools/helm4/helm ] || bash scripts/fetch-helm.sh
[ -x bin/helm-schema-rollback ] || bash scripts/build.sh
unset NODE_OPTIONS
exec npx --no-install tsx bench/discovery.ts
