#!/usr/bin/env bash
# Build the libFuzzer targets, replay the corpus, then fuzz each target for a bounded time.
#   FUZZ_SECONDS   seconds of fuzzing per target (default 60; 0: replay only)
#   FUZZ_BUILD     build directory (default build-fuzz)
#   FUZZ_TARGETS   targets to run (default "decode_fuzz round_trip_fuzz")
# Findings (crash-*, leak-*, oom-*, timeout-* reproducers) land in $FUZZ_BUILD/artifacts/;
# reproduce one with `$FUZZ_BUILD/tests/fuzz/<target> <file>`. Exit status 1 on any finding.
# The committed seeds are never modified; new inputs go to $FUZZ_BUILD/corpus/<target>.
set -euo pipefail
cd "$(dirname "$0")/../.."
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
B=${FUZZ_BUILD:-build-fuzz}
TARGETS=${FUZZ_TARGETS:-"decode_fuzz round_trip_fuzz"}
PY=${PYTHON:-python3}
JOBS=${JOBS:-2}

command -v clang >/dev/null || { echo "fuzz: clang not found (apt-get install clang libclang-rt-14-dev)"; exit 1; }
echo "== fuzz: build ($B, clang, ASan+UBSan+libFuzzer)"
CC=clang cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSQEAZY_FUZZ=ON -DSQEAZY_CUDA=OFF \
  -DSQEAZY_TESTS=OFF >/dev/null
cmake --build "$B" -j "$JOBS" --target $TARGETS >/dev/null

# Working corpus: the committed seeds plus seeds for stages that landed since (registry-driven).
mkdir -p "$B/corpus" "$B/artifacts"
for t in $TARGETS; do mkdir -p "$B/corpus/$t"; cp -n tests/fuzz/corpus/$t/* "$B/corpus/$t/"; done
cp tests/fuzz/corpus/round_trip_fuzz.dict "$B/corpus/"
if $PY -c "import sqeazy_filter" 2>/dev/null; then
  $PY tests/fuzz/make_corpus.py --out "$B/corpus" | sed 's/^/fuzz: registry seeds: /'
else
  echo "fuzz: sqeazy_filter not importable; using the committed seeds only"
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
COMMON=(-max_len=65536 -malloc_limit_mb=64 -rss_limit_mb=2048 -timeout=20 -print_final_stats=1)
status=0
summary="$B/fuzz-summary.txt"
: >"$summary"
for t in $TARGETS; do
  exe="$B/tests/fuzz/$t"
  dict=()
  [ "$t" = round_trip_fuzz ] && dict=(-dict="$B/corpus/round_trip_fuzz.dict")
  n_seeds=$(ls "$B/corpus/$t" | wc -l)
  echo "== fuzz: $t: replay $n_seeds corpus inputs"
  if ! "$exe" "${COMMON[@]}" "${dict[@]}" -runs=0 -artifact_prefix="$B/artifacts/$t-" "$B/corpus/$t" \
      >"$B/$t.replay.log" 2>&1; then
    echo "fuzz: $t: corpus replay FAILED"; tail -40 "$B/$t.replay.log"; status=1
  fi
  execs=0
  if [ "$FUZZ_SECONDS" -gt 0 ]; then
    echo "== fuzz: $t: fuzzing for ${FUZZ_SECONDS}s"
    if ! "$exe" "${COMMON[@]}" "${dict[@]}" -max_total_time="$FUZZ_SECONDS" \
        -artifact_prefix="$B/artifacts/$t-" "$B/corpus/$t" >"$B/$t.fuzz.log" 2>&1; then
      echo "fuzz: $t: FINDING"; grep -E "ERROR|FUZZ FAILURE|SUMMARY|Test unit written" "$B/$t.fuzz.log" | head -20
      status=1
    fi
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$B/$t.fuzz.log" | awk '{print $2}' | tail -1)
    cov=$(grep -oE 'cov: [0-9]+' "$B/$t.fuzz.log" | tail -1 | awk '{print $2}')
    echo "fuzz: $t: ${execs:-0} executions in ${FUZZ_SECONDS}s, coverage ${cov:-?} edges, corpus $(ls "$B/corpus/$t" | wc -l) inputs"
  fi
  echo "$t replayed=$n_seeds executions=${execs:-0} seconds=$FUZZ_SECONDS" >>"$summary"
done
findings=$(ls "$B/artifacts" | wc -l)
echo "findings=$findings" >>"$summary"
echo "== fuzz: summary ($summary)"; cat "$summary"
[ "$findings" -eq 0 ] || { echo "fuzz: reproducers in $B/artifacts:"; ls "$B/artifacts"; status=1; }
exit $status
