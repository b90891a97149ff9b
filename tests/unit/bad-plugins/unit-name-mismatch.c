/* SPDX-License-Identifier: MIT */
/* Its file name and its descriptor's name disagree. */
#include <poplar/plugin.h>

POPLAR_API const PoplarPluginDescriptor *poplar_plugin_unit_name_mismatch(void);

const PoplarPluginDescriptor *poplar_plugin_unit_name_mismatch(void)
{
  static const PoplarPluginDescriptor d = {
      .magic = POPLAR_PLUGIN_MAGIC,
      .abi_major = 1,
      .abi_minor = 0,
      .struct_size = (uint32_t)sizeof(PoplarPluginDescriptor),
      .name = "store_maildir",
      .version = "0.1",
      .description = "broken on purpose",
  };
  return &d;
}
