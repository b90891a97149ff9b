#!/bin/sh
# Runs the whole meson test suite and ends with one summary line:
# "N passed, N failed[, N skipped]".  Exits non-zero when a test failed.
set -u
build="${1:-build}"
meson test -C "$build" --print-errorlogs --num-processes 2
status=$?
python3 "$(dirname "$0")/test-summary.py" "$build/meson-logs/testlog.json"
summary=$?
[ "$status" -eq 0 ] && [ "$summary" -eq 0 ]
