#!/usr/bin/env bash
# Fuzzes the ingest decoders (fuzz/): the native event decoder and OTLP/HTTP protobuf and JSON,
# each target in turn for the given time, one job, at low priority. Not part of scripts/test.sh.
# Usage: scripts/fuzz.sh [seconds per target, default 600] [target ...]
# cargo-fuzz needs nightly-only compiler flags; RUSTC_BOOTSTRAP=1 allows them on the pinned
# stable toolchain. Crashes land in fuzz/artifacts/<target>/, new inputs in fuzz/corpus/<target>/
# (both ignored by git, except the corpus' seed-* files).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/fuzz"
export PATH="$HOME/.cargo/bin:$PATH"
export RUSTC_BOOTSTRAP=1

SECONDS_PER_TARGET="${1:-600}"
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(native_decode otlp_protobuf otlp_json)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

LOGS="$ROOT/fuzz/logs"
mkdir -p "$LOGS"
for t in "${TARGETS[@]}"; do
  echo "==> $t: ${SECONDS_PER_TARGET}s"
  nice -n 19 cargo fuzz build "$t"
  status=0
  nice -n 19 cargo fuzz run "$t" -- -jobs=1 -workers=1 -max_total_time="$SECONDS_PER_TARGET" \
    >"$LOGS/$t.log" 2>&1 || status=$?
  # libFuzzer's closing line: `#N DONE cov: … exec/s: …` (or the crash report).
  grep -E '^#[0-9]+[[:space:]]+DONE' "$LOGS/$t.log" | tail -1 || true
  if [ "$status" -ne 0 ]; then
    tail -40 "$LOGS/$t.log"
    echo "==> $t failed (exit $status): see $LOGS/$t.log and fuzz/artifacts/$t/" >&2
    exit "$status"
  fi
done
