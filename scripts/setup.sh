#!/usr/bin/env bash
# Installs what building and testing Observatory needs, skipping what is already present.
# Usage: scripts/setup.sh [--browser]   (--browser also installs Debian Chromium for the tests)
# Source it (`. scripts/setup.sh`) to get PATH set for trunk, wasm-bindgen and wasm-opt.
#
# Each step says how long it takes on a fresh 2-core machine. The two build tools are compiled
# once, into one target directory (target/tools) so the crates they share build once, with
# the release profile lightened for them (no LTO, 16 codegen units, opt-level 1): they only
# drive wasm-bindgen's and wasm-opt's work, and that costs minutes of compiling, not seconds of
# building. Trunk is built with rustls alone, without its update check.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TRUNK_VERSION=0.22.1
WASM_BINDGEN_VERSION=0.2.130
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$ROOT/end2end/node_modules/.bin:$PATH"

say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

need_browser=0
[ "${1:-}" = "--browser" ] && need_browser=1

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "$@"
}

if [ "$need_browser" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  say "installing Debian chromium and chromium-driver (about 1 minute)"
  apt_install chromium chromium-driver
fi

# promtool checks the /metrics exposition in tests/metrics.rs (Debian package `prometheus`).
if ! command -v promtool >/dev/null 2>&1; then
  say "installing Debian prometheus, for promtool (about 30 s)"
  apt_install prometheus
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is missing: install Rust with rustup first" >&2
  exit 1
fi

# The toolchain and the wasm target come from rust-toolchain.toml.
(cd "$ROOT" && rustup show active-toolchain >/dev/null 2>&1 || rustup toolchain install)
if ! (cd "$ROOT" && rustup target list --installed | grep -qx wasm32-unknown-unknown); then
  say "adding the wasm32-unknown-unknown target (about 30 s)"
  (cd "$ROOT" && rustup target add wasm32-unknown-unknown)
fi

# How the tools are compiled: see the top of this file.
install_tool() {
  CARGO_TARGET_DIR="$ROOT/target/tools" \
    CARGO_PROFILE_RELEASE_LTO=off \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
    CARGO_PROFILE_RELEASE_DEBUG=0 \
    CARGO_PROFILE_RELEASE_INCREMENTAL=false \
    cargo install "$@"
}

if [ "$(wasm-bindgen --version 2>/dev/null || true)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  say "compiling wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 4 minutes, once)"
  # Not --locked: its lockfile pins a crate version the registry no longer has.
  install_tool wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION"
fi

if [ "$(trunk --version 2>/dev/null || true)" != "trunk $TRUNK_VERSION" ]; then
  say "compiling trunk $TRUNK_VERSION (about 7 minutes, once)"
  install_tool "trunk@$TRUNK_VERSION" --locked --ignore-rust-version --no-default-features --features rustls
fi

if [ ! -x "$ROOT/end2end/node_modules/.bin/wasm-opt" ] || [ ! -d "$ROOT/end2end/node_modules/@playwright/test" ]; then
  say "installing end2end npm packages: Playwright, binaryen's wasm-opt (about 10 s)"
  (cd "$ROOT/end2end" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi
