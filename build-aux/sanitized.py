#!/usr/bin/env python3
"""Exit status 0 when the meson build directory given was configured with
AddressSanitizer (b_sanitize holds "address"), 1 otherwise."""
import json
import os
import sys


def main(build):
    path = os.path.join(build, "meson-info", "intro-buildoptions.json")
    try:
        with open(path, encoding="utf-8") as f:
            options = json.load(f)
    except (OSError, ValueError):
        return 1
    for option in options:
        if option.get("name") == "b_sanitize":
            return 0 if "address" in str(option.get("value", "")) else 1
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
