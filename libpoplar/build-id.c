/* SPDX-License-Identifier: MIT */
/* Which build this library is: see poplarpriv_build_id(). */
#include "poplar-private.h"

#ifndef POPLARPRIV_BUILD_ID
#error "POPLARPRIV_BUILD_ID is set by libpoplar/meson.build"
#endif

const char *poplarpriv_build_id(void)
{
  return POPLARPRIV_BUILD_ID;
}
