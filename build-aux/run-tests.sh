#!/bin/sh
# Runs the whole meson test suite in each build directory given, the first
# one plain, any other under the sanitizers it was configured with, and
# ends with one summary line over all of them:
# "N passed, N failed[, N skipped]".  Exits non-zero when a test failed.
set -u
[ $# -ge 1 ] || set -- build
here="$(cd "$(dirname "$0")" && pwd)"
top="$(dirname "$here")"
status=0
logs=""
for build in "$@"; do
  if python3 "$here/sanitized.py" "$build"; then
    # quarantine_size_mb: freed memory ASan holds back would otherwise count
    # in the tests' memory bounds; keep-modules.so keeps dlclose()d plugins
    # mapped so that LeakSanitizer can tell and name real leaks.
    echo "== $build: under AddressSanitizer, UndefinedBehaviorSanitizer and LeakSanitizer"
    ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:verify_asan_link_order=0:quarantine_size_mb=4:${ASAN_OPTIONS:-}" \
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
    LSAN_OPTIONS="suppressions=$top/tests/fuzz/lsan.supp:print_suppressions=0" \
    LD_PRELOAD="$PWD/$build/tests/fuzz/keep-modules.so" \
      meson test -C "$build" --print-errorlogs --num-processes 2 || status=1
  else
    echo "== $build"
    meson test -C "$build" --print-errorlogs --num-processes 2 || status=1
  fi
  python3 "$here/test-summary.py" "$build/meson-logs/testlog.json" |
    sed "s|^|== $build: |"
  logs="$logs $build/meson-logs/testlog.json"
done
# shellcheck disable=SC2086 # one word per log
python3 "$here/test-summary.py" $logs || status=1
[ "$status" -eq 0 ]
