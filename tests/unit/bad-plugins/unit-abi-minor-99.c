/* SPDX-License-Identifier: MIT */
/* Built for an ABI minor newer than any core. */
#include <poplar/plugin.h>

POPLAR_API const PoplarPluginDescriptor *poplar_plugin_unit_abi_minor_99(void);

const PoplarPluginDescriptor *poplar_plugin_unit_abi_minor_99(void)
{
  static const PoplarPluginDescriptor d = {
      .magic = POPLAR_PLUGIN_MAGIC,
      .abi_major = 1,
      .abi_minor = 99,
      .struct_size = (uint32_t)sizeof(PoplarPluginDescriptor),
      .name = "unit_abi_minor_99",
      .version = "0.1",
      .description = "broken on purpose",
  };
  return &d;
}
