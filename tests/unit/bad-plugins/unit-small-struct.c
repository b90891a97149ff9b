/* SPDX-License-Identifier: MIT */
/* Claims a descriptor smaller than ABI 1.0's. */
#include <poplar/plugin.h>

POPLAR_API const PoplarPluginDescriptor *poplar_plugin_unit_small_struct(void);

const PoplarPluginDescriptor *poplar_plugin_unit_small_struct(void)
{
  static const PoplarPluginDescriptor d = {
      .magic = POPLAR_PLUGIN_MAGIC,
      .abi_major = 1,
      .abi_minor = 0,
      .struct_size = 12,
      .name = "unit_small_struct",
      .version = "0.1",
      .description = "broken on purpose",
  };
  return &d;
}
