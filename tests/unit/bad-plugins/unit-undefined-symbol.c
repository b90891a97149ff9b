/* SPDX-License-Identifier: MIT */
/* Calls a function no library defines, but only from fini: with lazy
 * binding it would load, pass every check and fail the first time a
 * process got that far.  The loader binds every symbol and refuses it. */
#include <poplar/plugin.h>

void poplar_unit_no_such_function(void);

static void undefined_fini(PoplarPlugin *plugin)
{
  (void)plugin;
  poplar_unit_no_such_function();
}

POPLAR_PLUGIN_DEFINE(unit_undefined_symbol, "1.0", "needs a missing symbol",
                     NULL, NULL, undefined_fini)
