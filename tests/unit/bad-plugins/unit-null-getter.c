/* SPDX-License-Identifier: MIT */
/* The getter exists but returns no descriptor. */
#include <poplar/plugin.h>

POPLAR_API const PoplarPluginDescriptor *poplar_plugin_unit_null_getter(void);

const PoplarPluginDescriptor *poplar_plugin_unit_null_getter(void)
{
  return NULL;
}
