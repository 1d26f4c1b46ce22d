#!/usr/bin/env bash
# Installs the VS Code server the extension-host tests run in (VS Code 1.100.3, from code-server's npm tarball) into .vscode-host/.
#
# Usage: bash test/host/tooling/install.sh [DIR]        (npm run test:host and npm run screenshot call it)
#   DIR  where to install; default $VSCODE_HOST_DIR, else .vscode-host/ in the checkout.
# Environment: VSCODE_HOST_FORCE=1 reinstalls even when DIR is marked complete.
#
# Why not @vscode/test-electron: it downloads VS Code from Microsoft's update servers, which CI cannot
# reach. code-server's npm package carries a complete VS Code server (lib/vscode: out/server-main.js, the
# web workbench, the Node extension host), so everything comes from the npm registry and apt:
#   1. apt packages, only those missing: chromium (the workbench runs in it), ripgrep (VS Code's search),
#      and what node-gyp needs to compile the server's native modules (python3, make, g++, Kerberos headers).
#   2. `npm pack` of code-server, checked against the integrity pinned below; only lib/vscode is kept,
#      because the tests start VS Code's own server-main.js and never code-server's wrapper.
#   3. What code-server's postinstall does, done here without its downloads: the server's dependencies
#      with install scripts off, the native modules compiled from source, Debian's rg in place of the
#      ripgrep binary @vscode/ripgrep would fetch from GitHub, and the node_modules.asar link.
# Playwright is not installed here: the runner uses the project's own playwright-core devDependency.
# A finished install writes DIR/.installed (version, Node ABI); a rerun with the same stamp takes < 1 s.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
CODE_SERVER_VERSION=4.100.3 # VS Code 1.100.3; later releases need Node 22
CODE_SERVER_INTEGRITY='sha512-q/Fh2DOxCRNhC/WiG/6sAhSKnj7ZACTVBaeeZ+rWjol//0FCbl/qg1ln5ecZ99jYcfqMxZZAyWcN+YBIo0DgpA=='
# The server's modules with compiled parts. @parcel/watcher needs no build: its Linux binary is an npm package.
NATIVE_MODULES=(@vscode/spdlog @vscode/deviceid kerberos native-watchdog node-pty)
APT_PACKAGES=(chromium ripgrep libkrb5-dev python3 make g++)

DIR="${1:-${VSCODE_HOST_DIR:-$ROOT/.vscode-host}}"
say() { printf '[host-install] %s\n' "$*" >&2; }
fail() { say "error: $*"; exit 1; }

# ---- 1. system packages -------------------------------------------------------------------------
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
fi
if ((${#missing[@]})); then
  say "apt-get install ${missing[*]}"
  sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for cmd in rg python3 make g++; do
  command -v "$cmd" >/dev/null 2>&1 || fail "$cmd is not installed (on Debian: apt-get install ${APT_PACKAGES[*]})"
done

NODE_ABI="$(node -p 'process.versions.modules')"
STAMP="code-server@$CODE_SERVER_VERSION node-abi@$NODE_ABI"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
if [ -z "${VSCODE_HOST_FORCE:-}" ] && [ "$(cat "$DIR/.installed" 2>/dev/null)" = "$STAMP" ]; then
  say "VS Code server ready in $DIR ($STAMP)"
  exit 0
fi
[ "$(node -p 'process.versions.node.split(".")[0]')" = 20 ] ||
  say "warning: code-server $CODE_SERVER_VERSION is made for Node 20, this is Node $(node --version)"
rm -f "$DIR/.installed"

export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false npm_config_progress=false
# node-gyp compiles against Node's headers; without nodedir it downloads them from nodejs.org. Use the
# headers installed with this node when npm has not been told where they are.
if [ -z "${npm_config_nodedir:-}" ] && ! npm config get nodedir 2>/dev/null | grep -q '^/'; then
  prefix="$(dirname "$(dirname "$(node -p 'process.execPath')")")"
  if [ -f "$prefix/include/node/node_api.h" ]; then export npm_config_nodedir="$prefix"; fi
fi
# node-pty's postinstall runs `npx node-gyp` to write a compile_commands.json: let npx take it from the
# registry instead of stopping at a prompt no one answers.
export npm_config_yes=true

# ---- 2. VS Code's server out of code-server's tarball ------------------------------------------
say "npm pack code-server@$CODE_SERVER_VERSION"
work="$(mktemp -d "$DIR/.download-XXXXXX")"
trap 'rm -rf "$work"' EXIT
tarball="$(cd "$work" && npm pack --silent "code-server@$CODE_SERVER_VERSION" | tail -n 1)"
got="$(node -e "const h = require('crypto').createHash('sha512'); h.update(require('fs').readFileSync(process.argv[1])); console.log('sha512-' + h.digest('base64'))" "$work/$tarball")"
[ "$got" = "$CODE_SERVER_INTEGRITY" ] || fail "code-server-$CODE_SERVER_VERSION.tgz has integrity $got, expected $CODE_SERVER_INTEGRITY"
rm -rf "$DIR/vscode"
mkdir -p "$DIR/vscode"
tar -xzf "$work/$tarball" -C "$DIR/vscode" --strip-components=3 package/lib/vscode
cd "$DIR/vscode"

# ---- 3. code-server's postinstall, offline ------------------------------------------------------
say "installing the server's dependencies (install scripts off)"
# npm ci refuses lib/vscode's npm-shrinkwrap.json (it misses tslib); npm install still follows it.
npm install --omit=dev --ignore-scripts --no-save >/dev/null
say "compiling native modules: ${NATIVE_MODULES[*]}"
npm rebuild "${NATIVE_MODULES[@]}" >/dev/null
mkdir -p node_modules/@vscode/ripgrep/bin
cp -f "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
# VS Code and extensions look for unpacked modules (ripgrep, oniguruma's wasm) under node_modules.asar.
ln -sfn node_modules node_modules.asar
(cd bin/remote-cli && ln -sfn code-linux.sh code-server)
(cd bin/helpers && ln -sfn browser-linux.sh browser.sh)
say "installing the built-in extensions' dependencies"
(cd extensions && npm install --omit=dev --ignore-scripts --no-save >/dev/null)

# ---- 4. smoke check -----------------------------------------------------------------------------
node --input-type=module -e "for (const m of process.argv.slice(1)) await import(m)" -- "${NATIVE_MODULES[@]}" @parcel/watcher
node out/server-main.js --version >/dev/null
echo "$STAMP" >"$DIR/.installed"
say "VS Code server installed in $DIR ($STAMP, $(du -sh "$DIR" | cut -f1))"
