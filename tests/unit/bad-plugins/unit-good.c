/* SPDX-License-Identifier: MIT */
/* A well-formed plugin, defined with the macro every plugin uses. */
#include <poplar/plugin.h>

static bool good_preinit(PoplarPlugin *plugin, PoplarConfig *config)
{
  (void)plugin;
  (void)config;
  return true;
}

static bool good_init(PoplarPlugin *plugin, PoplarConfig *config)
{
  (void)plugin;
  (void)config;
  return true;
}

static void good_fini(PoplarPlugin *plugin)
{
  (void)plugin;
}

POPLAR_PLUGIN_DEFINE(unit_good, "1.2.3", "unit test plugin", good_preinit,
                     good_init, good_fini)
