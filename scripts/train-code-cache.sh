#!/usr/bin/env bash
# Usage: scripts/train-code-cache.sh NODE OUT
# Writes OUT: the V8 code cache scripts/sea-main.cjs runs the bundle (build/cli.cjs) with, made by
# running the bundle under NODE (the Node the binary embeds) with the binary's own flags
# (scripts/sea-config.json execArgv), through command lines that need no cluster, no helm and no
# database: help, and status and a rollback plan against a kubeconfig whose server refuses at once.
# Each run reads the cache the runs before it wrote and writes it again with what it compiled too.
# A clean environment: nothing of this machine's clusters or Helm is read, nothing is contacted.
set -euo pipefail
node=$1
out=$2
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
exec_argv=$("$node" -p 'require("./scripts/sea-config.json").execArgv.join(" ")')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/kubeconfig" <<'YAML'
apiVersion: v1
kind: Config
current-context: training
clusters:
- name: training
  cluster: {server: "http://127.0.0.1:1"}
users:
- name: training
  user: {token: training}
contexts:
- name: training
  context: {cluster: training, user: training, namespace: default}
YAML
rm -f "$out"
train() {
  # shellcheck disable=SC2086 # exec_argv is a list of flags
  env -i PATH="$PATH" HOME="$work" KUBECONFIG="$work/kubeconfig" HELM_BIN="$work/no-helm" HELM_NAMESPACE=default \
    HELM_CACHE_HOME="$work/cache" HELM_CONFIG_HOME="$work/config" HELM_DATA_HOME="$work/data" \
    HSR_CODE_CACHE_TRAIN="$out" "$node" $exec_argv scripts/sea-main.cjs "$@" >/dev/null 2>&1 || true
}
train --help
train status --help
train status training-release
train training-release --to 0.1.0 --dry-run
[ -s "$out" ] || { echo "train-code-cache: no code cache written to $out" >&2; exit 1; }
