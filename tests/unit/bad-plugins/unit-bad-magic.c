/* SPDX-License-Identifier: MIT */
/* Wrong magic (the right bytes in the wrong order). */
#include <poplar/plugin.h>

POPLAR_API const PoplarPluginDescriptor *poplar_plugin_unit_bad_magic(void);

const PoplarPluginDescriptor *poplar_plugin_unit_bad_magic(void)
{
  static const PoplarPluginDescriptor d = {
      .magic = 0x4c504f50u,
      .abi_major = 1,
      .abi_minor = 0,
      .struct_size = (uint32_t)sizeof(PoplarPluginDescriptor),
      .name = "unit_bad_magic",
      .version = "0.1",
      .description = "broken on purpose",
  };
  return &d;
}
