#!/usr/bin/env bash
# Pricing throughput: `joule tariff bench` against the reference pricer (ocpi-tariffs 0.48.0) on one
# generated corpus, and the re-rating of 1,000,000 stored sessions. Prints the figures and the ratios;
# BENCHMARKS.md records them.
#
# Both pricers run alternately ROUNDS_OF_RUNS times and the best run of each counts: the machine is
# shared (2 cores), and the best run is the one least disturbed by other work.
set -euo pipefail
cd "$(dirname "$0")/.."

CASES="${BENCH_CASES:-2000}"
ROUNDS="${BENCH_ROUNDS:-5}"
RUNS="${BENCH_RUNS:-3}"
RERATE_SESSIONS="${BENCH_RERATE_SESSIONS:-1000000}"
CORPUS="${BENCH_CORPUS:-target/bench-pricing/corpus}"

echo "== building (release)"
cargo build --release --quiet --bin joule
cargo build --release --quiet --manifest-path crates/tariff/reference/Cargo.toml \
  --target-dir target/ocpi-reference
if [ ! -d "$CORPUS" ]; then
  cargo run --release --quiet -p joule-tariff --example corpus -- "$CORPUS" --cases "$CASES" --mix full
fi

rate() { awk -v k="$1" 'index($0, k) {print $NF}'; }
best() { sort -n | tail -1; }

joule_pp=(); joule_po=(); ref_pp=(); ref_po=()
for run in $(seq 1 "$RUNS"); do
  out=$(./target/release/joule tariff bench "$CORPUS" --rounds "$ROUNDS" 2>/dev/null)
  joule_pp+=("$(echo "$out" | rate 'parse+price')"); joule_po+=("$(echo "$out" | rate 'price-only')")
  out=$(./target/ocpi-reference/release/ocpi-reference bench "$CORPUS" --rounds "$ROUNDS" 2>/dev/null)
  ref_pp+=("$(echo "$out" | rate 'parse+price')"); ref_po+=("$(echo "$out" | rate 'price-only')")
  echo "run $run: joule ${joule_pp[-1]} / ${joule_po[-1]}   ocpi-tariffs ${ref_pp[-1]} / ${ref_po[-1]}  (parse+price / price-only, sessions/s)"
done
jpp=$(printf '%s\n' "${joule_pp[@]}" | best); jpo=$(printf '%s\n' "${joule_po[@]}" | best)
rpp=$(printf '%s\n' "${ref_pp[@]}" | best); rpo=$(printf '%s\n' "${ref_po[@]}" | best)

echo
echo "corpus: $CORPUS ($(ls "$CORPUS" | wc -l) cases), $ROUNDS rounds per run, best of $RUNS runs"
echo "joule tariff bench   parse+price sessions/s $jpp   price-only sessions/s $jpo"
echo "ocpi-tariffs 0.48.0  parse+price sessions/s $rpp   price-only sessions/s $rpo"
awk -v a="$jpp" -v b="$rpp" 'BEGIN { r = a / b; printf "ratio parse+price %.1fx (target >= 10x: %s)\n", r, (r >= 10 ? "met" : "missed") }'
awk -v a="$jpo" -v b="$rpo" 'BEGIN { r = a / b; printf "ratio price-only  %.1fx (target >= 3x: %s)\n", r, (r >= 3 ? "met" : "missed") }'

if [ "$RERATE_SESSIONS" != "0" ]; then
  echo
  echo "== re-rating $RERATE_SESSIONS stored sessions through the pricing service's re-rating path"
  JOULE_BENCH_RERATE_SESSIONS="$RERATE_SESSIONS" cargo test --release --quiet -p joule-pricing \
    --test rerate_bench -- --ignored --nocapture 2>&1 | grep -E '^(rerate|seed|  )' || true
fi
