#!/usr/bin/env python3
"""Counts the results in one or more of meson's testlog.json files and
prints one line: "N passed, N failed" (", N skipped" when some were).
Exit status 1 when any test failed or a log is missing."""
import json
import sys

PASSED = {"OK", "EXPECTEDFAIL"}
SKIPPED = {"SKIP"}


def main(paths):
    passed = failed = skipped = 0
    for path in paths:
        try:
            with open(path, encoding="utf-8") as log:
                for line in log:
                    if not line.strip():
                        continue
                    result = json.loads(line).get("result", "ERROR")
                    if result in PASSED:
                        passed += 1
                    elif result in SKIPPED:
                        skipped += 1
                    else:
                        failed += 1
        except OSError as err:
            print(f"cannot read the test log: {err}", file=sys.stderr)
            failed += 1
    summary = f"{passed} passed, {failed} failed"
    if skipped:
        summary += f", {skipped} skipped"
    print(summary)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
