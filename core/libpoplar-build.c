/* SPDX-License-Identifier: MIT */
#include "libpoplar-build.h"

#include <dlfcn.h>
#include <string.h>

#include "poplar-private.h"

#ifndef POPLARPRIV_BUILD_ID
#error "POPLARPRIV_BUILD_ID is set by libpoplar/meson.build"
#endif

const char *poplard_build_id(void)
{
  return POPLARPRIV_BUILD_ID;
}

bool poplard_libpoplar_build_matches(GString *why)
{
  const char *theirs = poplarpriv_build_id();
  if (strcmp(theirs, POPLARPRIV_BUILD_ID) == 0)
    return true;
  /* The file the loader picked is what the administrator has to replace
   * (a stale copy in another library directory, LD_LIBRARY_PATH). */
  Dl_info info = {0};
  const char *file = "libpoplar.so.1";
  if (dladdr((void *)poplarpriv_build_id, &info) && info.dli_fname)
    file = info.dli_fname;
  g_string_append_printf(
      why,
      "%s is from another build of Poplar (build %s) than this poplard "
      "(build %s); poplard and libpoplar.so.1 must be installed from the "
      "same build: reinstall both, or remove the other copy from the "
      "library search path (LD_LIBRARY_PATH, /etc/ld.so.conf)",
      file, theirs, POPLARPRIV_BUILD_ID);
  return false;
}
