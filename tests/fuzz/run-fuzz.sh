#!/bin/sh
# SPDX-License-Identifier: MIT
# make fuzz: runs each libFuzzer target of a -Dfuzzing=true build for a set
# time, one after the other, and prints one line per target with its
# executions.  New interesting inputs go to BUILD/fuzz-work/TARGET/corpus
# (the seeds in tests/fuzz/corpus stay untouched); a crash leaves its input
# in BUILD/fuzz-work/TARGET/artifacts and makes this script fail.  Copy such
# an input into tests/fuzz/corpus/TARGET/ once the bug is fixed, so that
# `make check` replays it from then on.
#
#   tests/fuzz/run-fuzz.sh BUILD SECONDS [TARGET...]
set -u
build="${1:?usage: run-fuzz.sh BUILD SECONDS [TARGET...]}"
seconds="${2:-60}"
shift 2 || shift $#
src="$(cd "$(dirname "$0")" && pwd)"
targets="$*"
if [ -z "$targets" ]; then
  targets=$(ls "$src/corpus")
fi

# The targets use the shared sanitizer runtime (libpoplar is a shared
# library), which libFuzzer's libstdc++ precedes in the load order.
ASAN_OPTIONS="verify_asan_link_order=0:detect_leaks=1:abort_on_error=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export ASAN_OPTIONS UBSAN_OPTIONS

failed=0
for t in $targets; do
  exe="$build/tests/fuzz/fuzz-$t"
  if [ ! -x "$exe" ]; then
    echo "fuzz-$t: not built in $build (configure it with -Dfuzzing=true)"
    failed=1
    continue
  fi
  work="$build/fuzz-work/$t"
  mkdir -p "$work/corpus" "$work/artifacts"
  before=$(ls "$work/artifacts" | wc -l)
  max_len=4096
  case "$t" in session|sasl) max_len=16384 ;; esac
  t0=$(date +%s)
  "$exe" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 \
    -max_len="$max_len" -dict="$src/pop3.dict" -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" \
    "$work/corpus" "$src/corpus/$t" > "$work/log" 2>&1
  status=$?
  took=$(( $(date +%s) - t0 ))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -1)
  crashes=$(( $(ls "$work/artifacts" | wc -l) - before ))
  echo "fuzz-$t: ${runs:-?} executions in ${took}s (${speed:-?}/s, $cov), corpus $(ls "$work/corpus" | wc -l) inputs, $crashes findings"
  if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    echo "fuzz-$t: FINDING, see $work/log and $work/artifacts/"
    tail -40 "$work/log"
    failed=1
  fi
done
exit $failed
