/* SPDX-License-Identifier: MIT */
/* Linked to a library (libpoplar-unit-gone.so.1) that is not there when
 * the plugin is loaded. */
#include <poplar/plugin.h>

int poplar_unit_gone_answer(void);

static bool missing_lib_init(PoplarPlugin *plugin, PoplarConfig *config)
{
  (void)plugin;
  (void)config;
  return poplar_unit_gone_answer() == 42;
}

POPLAR_PLUGIN_DEFINE(unit_missing_lib, "1.0", "needs a missing library",
                     NULL, missing_lib_init, NULL)
