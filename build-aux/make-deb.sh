#!/bin/sh
# Builds the Debian packages of packaging/debian into OUTDIR, out of tree:
# the sources (what git tracks, plus new files it does not ignore, or the
# whole tree without build directories when there is no git) are copied
# to a temporary directory, packaging/debian becomes debian/ there, and
# dpkg-buildpackage builds the binary packages.  The source tree is not
# written to.  With --lintian, lintian then checks them and any error
# fails the build.
#
#   build-aux/make-deb.sh [--lintian] OUTDIR
#
# DEB_BUILD_OPTIONS defaults to "nocheck parallel=2": the test suite runs
# from the source tree (make check), not inside the package build.
set -eu

lintian=no
if [ "${1:-}" = --lintian ]; then
  lintian=yes
  shift
fi
if [ $# -ne 1 ]; then
  echo "usage: $0 [--lintian] OUTDIR" >&2
  exit 2
fi

src=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)

# The package's upstream version is the project's: a changelog that was
# not updated at a release would build packages under the wrong version.
version=$(dpkg-parsechangelog -l "$src/packaging/debian/changelog" -S Version)
upstream=${version%-*}
project=$(sed -n "s/^  version: '\([^']*\)',$/\1/p" "$src/meson.build" | head -n 1)
if [ "$upstream" != "$project" ]; then
  echo "error: packaging/debian/changelog is at $upstream, meson.build at $project;" \
       "add a changelog entry (dch -v $project-1)" >&2
  exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/poplar-deb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
tree="$tmp/poplar-$upstream"
mkdir "$tree"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # Files deleted in the work tree but still in the index are skipped.
  # shellcheck disable=SC2016 # $f is the inner shell's
  (cd "$src" && git ls-files -z --cached --others --exclude-standard |
     xargs -0 sh -c 'for f; do
         if [ -e "$f" ] || [ -L "$f" ]; then printf "%s\0" "$f"; fi
       done' sh |
     tar --null -T - -cf -) | tar -C "$tree" -xf -
else
  # Meson build directories are the ones holding a build.ninja.
  (cd "$src" && tar --exclude=./.git --exclude=./build-deb \
     --exclude-tag-all=build.ninja -cf - .) | tar -C "$tree" -xf -
fi
cp -R "$tree/packaging/debian" "$tree/debian"

(cd "$tree" &&
  DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-nocheck parallel=2} \
  dpkg-buildpackage -us -uc -b)

arch=$(dpkg-architecture -q DEB_HOST_ARCH)
changes="poplar_${version}_${arch}.changes"
for f in "$tmp"/*.deb "$tmp"/*.buildinfo "$tmp/$changes"; do
  mv "$f" "$out/"
done
echo "packages in $out:"
(cd "$out" && ls -1 ./*.deb)

if [ "$lintian" = yes ]; then
  lintian --fail-on error --info "$out/$changes"
fi
