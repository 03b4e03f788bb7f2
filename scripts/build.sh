#!/usr/bin/env bash
# Builds the browser app (Trunk, release) and the server binary that embeds it:
# target/server/observatory.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
. scripts/setup.sh "$@"

echo "==> fetching crates (about 1 minute on a fresh machine)"
cargo fetch --locked
echo "==> building the browser app: trunk build --release (about 3 minutes cold, seconds warm)"
trunk build --release
echo "==> building the server: cargo build --profile server --features ssr (about 6 minutes cold)"
cargo build --locked --profile server --features ssr
ls -la target/server/observatory
