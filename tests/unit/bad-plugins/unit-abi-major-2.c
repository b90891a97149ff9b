/* SPDX-License-Identifier: MIT */
/* Built for a later ABI major. */
#include <poplar/plugin.h>

POPLAR_API const PoplarPluginDescriptor *poplar_plugin_unit_abi_major_2(void);

const PoplarPluginDescriptor *poplar_plugin_unit_abi_major_2(void)
{
  static const PoplarPluginDescriptor d = {
      .magic = POPLAR_PLUGIN_MAGIC,
      .abi_major = 2,
      .abi_minor = 0,
      .struct_size = (uint32_t)sizeof(PoplarPluginDescriptor),
      .name = "unit_abi_major_2",
      .version = "0.1",
      .description = "broken on purpose",
  };
  return &d;
}
