#!/usr/bin/env bash
# README command 2: every test. Unit and integration tests (cargo), lints of both feature
# sets, then the release build and the end-to-end suite in Debian Chromium (Playwright).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
. scripts/setup.sh --browser

echo "==> formatting"
cargo fmt --all -- --check
echo "==> unit and integration tests of the server (about 5 minutes cold: most of it compiling)"
cargo test --locked --features ssr
echo "==> the browser app compiles cleanly: clippy, csr, wasm32 (about 2 minutes cold)"
cargo clippy --locked --lib --bins --target wasm32-unknown-unknown --no-default-features --features csr -- -D warnings
echo "==> lints of the server: clippy (about 2 minutes cold)"
cargo clippy --locked --features ssr --all-targets -- -D warnings

scripts/build.sh

echo "==> end-to-end tests in Debian Chromium, Playwright (about 4 minutes)"
cd end2end
npx playwright test
