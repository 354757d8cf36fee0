#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time, starting from the committed corpus
# (fuzz/corpus/<target>). New inputs libFuzzer finds go to a scratch copy, so the committed corpus
# stays small; a crash leaves its input in fuzz/artifacts/<target>/ and fails the run.
#
# cargo-fuzz needs unstable rustc flags; the machine has one stable toolchain, so RUSTC_BOOTSTRAP=1
# lets it pass them. Targets are built without a sanitizer (`-s none`): the code is safe Rust, and
# what the fuzzer looks for is a panic (overflow, index, unwrap) or a hang.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "installing cargo-fuzz (crates.io)" >&2
  cargo install cargo-fuzz --locked --quiet
fi
export RUSTC_BOOTSTRAP=1
targets=(ocpp_frame tariff_json)
cargo fuzz build -s none --release
for t in "${targets[@]}"; do
  scratch="$(mktemp -d)"
  cp -r "fuzz/corpus/$t/." "$scratch/"
  echo "fuzzing $t for ${secs}s" >&2
  cargo fuzz run -s none --release "$t" "$scratch" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1
  rm -rf "$scratch"
done
