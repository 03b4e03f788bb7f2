#!/usr/bin/env bash
# README command 2: every test. Unit and integration tests (cargo), lints of both feature
# sets, then the release build and the end-to-end suite in Debian Chromium (Playwright).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
. scripts/setup.sh --browser

echo "==> formatting"
cargo fmt --all -- --check
echo "==> unit and integration tests (server)"
cargo test --locked --features ssr
echo "==> the browser app compiles cleanly (csr, wasm32)"
cargo clippy --locked --lib --bins --target wasm32-unknown-unknown --no-default-features --features csr -- -D warnings
echo "==> lints (server)"
cargo clippy --locked --features ssr --all-targets -- -D warnings

scripts/build.sh

echo "==> end-to-end tests (Playwright, Debian Chromium)"
cd end2end
npx playwright test
