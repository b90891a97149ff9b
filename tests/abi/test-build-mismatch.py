#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""poplard with a libpoplar.so.1 of another build refuses to start.

The core reads libpoplar's objects directly, so only the library of its own
build will do.  Each case puts one libpoplar as libpoplar.so.1 in a
directory of its own and runs `poplard --version` with LD_LIBRARY_PATH
pointing there (it comes before poplard's RUNPATH):

- its own libpoplar: starts (the control: the set-up itself is sound);
- a libpoplar of another release (another private version node): the
  dynamic loader stops poplard before main(), with its own message naming
  the missing node;
- a libpoplar of the same release built with another private interface
  (another build id): poplard stops with a message that names the file,
  both builds and the fix.

Environment (tests/abi/meson.build): POPLARD, LIBPOPLAR,
LIBPOPLAR_OTHER_RELEASE, LIBPOPLAR_OTHER_BUILD, POPLAR_PRIVATE_NODE,
POPLAR_BUILD_ID, POPLAR_OTHER_BUILD_ID.
"""

import os
import shutil
import subprocess
import tempfile
import unittest


class BuildMismatchTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="poplar-mismatch-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_with(self, lib):
        """`poplard --version` with @lib as the libpoplar.so.1 it finds:
        (exit status, stdout, stderr, the library's path)."""
        libdir = os.path.join(self.tmp, "lib")
        os.makedirs(libdir)
        copy = os.path.join(libdir, "libpoplar.so.1")
        shutil.copy(lib, copy)
        env = dict(os.environ, LD_LIBRARY_PATH=libdir)
        res = subprocess.run([os.environ["POPLARD"], "--version"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, timeout=30)
        return res.returncode, res.stdout, res.stderr, copy

    def test_own_build_starts(self):
        rc, out, err, _ = self.run_with(os.environ["LIBPOPLAR"])
        self.assertEqual(rc, 0, err)
        self.assertIn("build " + os.environ["POPLAR_BUILD_ID"], out)

    def test_other_release_is_refused_by_the_loader(self):
        rc, out, err, _ = self.run_with(os.environ["LIBPOPLAR_OTHER_RELEASE"])
        # The dynamic loader's own words (glibc): poplard never runs.  The
        # admin guide explains them.
        self.assertNotEqual(rc, 0, out + err)
        self.assertEqual(out, "")
        self.assertIn("version `%s' not found" %
                      os.environ["POPLAR_PRIVATE_NODE"], err)
        self.assertIn("libpoplar.so.1", err)

    def test_other_build_is_refused_by_poplard(self):
        rc, out, err, copy = self.run_with(
            os.environ["LIBPOPLAR_OTHER_BUILD"])
        self.assertEqual(rc, 1, out + err)
        self.assertEqual(out, "", "nothing ran past the check")
        self.assertIn("poplard: not started: %s is from another build of "
                      "Poplar" % copy, err)
        self.assertIn("(build %s)" % os.environ["POPLAR_OTHER_BUILD_ID"], err)
        self.assertIn("(build %s)" % os.environ["POPLAR_BUILD_ID"], err)
        self.assertIn("same build", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
