#!/bin/sh
# SPDX-License-Identifier: MIT
# Records the plugin ABI of the current tree as a baseline:
#
#   abi/libpoplar-MAJOR.MINOR.abi   libpoplar.so.MAJOR as abidw sees it
#   abi/headers-MAJOR.MINOR/poplar/ the public headers as they are
#
# MAJOR.MINOR come from include/poplar/version.h, the one place the ABI
# version is written; libpoplar/libpoplar.map must have a POPLAR_MAJOR.MINOR
# node listing, by name, the functions that minor adds.  Run it
#   - while MAJOR.MINOR is not released yet, after every change to the
#     public headers or libpoplar (rerunning it just rewrites both);
#   - once when a new minor or major is released, to add its baseline.
# Never rerun it for a released version to make tests/abi pass: that would
# hide a break from the plugins built against it.
#
# Usage: abi/update-baseline.sh [BUILD_DIR]    (default: build)
# BUILD_DIR must be a meson build of this tree with debug information
# (the default buildtype, debugoptimized, has it).  Needs abidw
# (Debian: abigail-tools).
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$src/build"}
headers="$src/include/poplar"

version() {
  sed -n "s/^#define POPLAR_ABI_$1 \([0-9][0-9]*\).*/\1/p" "$headers/version.h"
}
major=$(version MAJOR)
minor=$(version MINOR)
if [ -z "$major" ] || [ -z "$minor" ]; then
  echo "update-baseline: cannot read the ABI version from $headers/version.h" >&2
  exit 1
fi
map="$src/libpoplar/libpoplar.map"
if ! grep -q "^POPLAR_$major\.$minor[[:space:]]*{" "$map"; then
  echo "update-baseline: $map has no POPLAR_$major.$minor node: list the" \
       "functions of ABI $major.$minor there by name (abi/README.md)" >&2
  exit 1
fi
if grep -q "^[[:space:]]*poplar_[A-Za-z0-9_]*[*?[]" "$map"; then
  echo "update-baseline: $map exports poplar_ functions by pattern; list" \
       "each by name in the node of its minor" >&2
  exit 1
fi
if ! command -v abidw >/dev/null 2>&1; then
  echo "update-baseline: abidw not found (Debian: apt-get install abigail-tools)" >&2
  exit 1
fi
if [ ! -f "$build/build.ninja" ]; then
  echo "update-baseline: $build is not a meson build directory" \
       "(meson setup $build)" >&2
  exit 1
fi

# libpoplar is the meson target "poplar".
meson compile -C "$build" poplar >/dev/null
lib="$build/libpoplar/libpoplar.so.$major"
if [ ! -e "$lib" ]; then
  echo "update-baseline: $lib not found: does libpoplar's soversion match" \
       "POPLAR_ABI_MAJOR $major?" >&2
  exit 1
fi
if ! readelf -S -W "$lib" | grep -q '\.debug_info'; then
  echo "update-baseline: $lib has no debug information (use a build with" \
       "buildtype=debugoptimized or debug)" >&2
  exit 1
fi

out="$src/abi/libpoplar-$major.$minor.abi"
# Short, build-independent locations, so that the file only changes when
# the ABI does.
abidw --headers-dir "$headers" --drop-private-types \
      --suppressions "$src/abi/libpoplar.suppr" \
      --short-locs --no-corpus-path --no-comp-dir-path \
      --out-file "$out" "$lib"

copy="$src/abi/headers-$major.$minor/poplar"
rm -rf "$copy"
mkdir -p "$copy"
cp "$headers"/*.h "$copy/"

echo "recorded ABI $major.$minor:"
echo "  ${out#"$src"/}"
echo "  ${copy#"$src"/}/"
if command -v git >/dev/null 2>&1 && git -C "$src" rev-parse >/dev/null 2>&1; then
  git -C "$src" status --short -- "abi/libpoplar-$major.$minor.abi" \
      "abi/headers-$major.$minor"
fi
