#!/usr/bin/env bash
# Installs what building and testing Observatory needs, skipping what is already present.
# Usage: scripts/setup.sh [--browser]   (--browser also installs Debian Chromium for the tests)
# Source it (`. scripts/setup.sh`) to get PATH set for trunk, wasm-bindgen and wasm-opt.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TRUNK_VERSION=0.22.1
WASM_BINDGEN_VERSION=0.2.130
export PATH="$HOME/.cargo/bin:$ROOT/end2end/node_modules/.bin:$PATH"

say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

need_browser=0
[ "${1:-}" = "--browser" ] && need_browser=1

if [ "$need_browser" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  say "installing Debian chromium and chromium-driver"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q chromium chromium-driver
fi

# promtool checks the /metrics exposition in tests/metrics.rs (Debian package `prometheus`).
if ! command -v promtool >/dev/null 2>&1; then
  say "installing Debian prometheus (for promtool)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends prometheus
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is missing: install Rust with rustup first" >&2
  exit 1
fi

# The toolchain and the wasm target come from rust-toolchain.toml.
(cd "$ROOT" && rustup show active-toolchain >/dev/null 2>&1 || rustup toolchain install)
if ! (cd "$ROOT" && rustup target list --installed | grep -qx wasm32-unknown-unknown); then
  say "adding the wasm32-unknown-unknown target"
  (cd "$ROOT" && rustup target add wasm32-unknown-unknown)
fi

if [ "$(wasm-bindgen --version 2>/dev/null || true)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
  # Not --locked: its lockfile pins a crate version the registry no longer has.
  cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION"
fi

if [ "$(trunk --version 2>/dev/null || true)" != "trunk $TRUNK_VERSION" ]; then
  say "installing trunk $TRUNK_VERSION (about 15 minutes, once)"
  cargo install "trunk@$TRUNK_VERSION" --locked --ignore-rust-version
fi

if [ ! -x "$ROOT/end2end/node_modules/.bin/wasm-opt" ] || [ ! -d "$ROOT/end2end/node_modules/@playwright/test" ]; then
  say "installing end2end npm packages (Playwright, binaryen's wasm-opt)"
  (cd "$ROOT/end2end" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi
