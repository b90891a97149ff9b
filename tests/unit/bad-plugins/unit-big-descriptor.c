/* SPDX-License-Identifier: MIT */
/* A descriptor larger than this core knows, as a later 1.x header would
 * make it (with abi_minor 0 so that it is still acceptable): the loader
 * must copy only what it knows. */
#include <poplar/plugin.h>

typedef struct BigDescriptor {
  PoplarPluginDescriptor base;
  void *future[8];
} BigDescriptor;

POPLAR_API const BigDescriptor *poplar_plugin_unit_big_descriptor(void);

const BigDescriptor *poplar_plugin_unit_big_descriptor(void)
{
  static const BigDescriptor d = {
      .base = {POPLAR_PLUGIN_MAGIC, 1, 0, (uint32_t)sizeof(BigDescriptor),
               "unit_big_descriptor", "9.9", "bigger descriptor", NULL, NULL,
               NULL},
      .future = {(void *)1, (void *)2, (void *)3, (void *)4, (void *)5,
                 (void *)6, (void *)7, (void *)8},
  };
  return &d;
}
