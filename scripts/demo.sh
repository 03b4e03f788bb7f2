#!/usr/bin/env bash
# README command 1: build everything, then run Observatory with a simulated agent fleet on
# the embedded store. Open http://127.0.0.1:8080 (override with OBSERVATORY_LISTEN).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/build.sh
echo "==> starting Observatory with demo data: http://${OBSERVATORY_LISTEN:-127.0.0.1:8080}"
exec target/server/observatory --demo "$@"
