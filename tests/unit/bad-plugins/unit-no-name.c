/* SPDX-License-Identifier: MIT */
/* A descriptor without a name. */
#include <poplar/plugin.h>

POPLAR_API const PoplarPluginDescriptor *poplar_plugin_unit_no_name(void);

const PoplarPluginDescriptor *poplar_plugin_unit_no_name(void)
{
  static const PoplarPluginDescriptor d = {
      .magic = POPLAR_PLUGIN_MAGIC,
      .abi_major = 1,
      .abi_minor = 0,
      .struct_size = (uint32_t)sizeof(PoplarPluginDescriptor),
      .name = NULL,
      .version = "0.1",
      .description = "broken on purpose",
  };
  return &d;
}
