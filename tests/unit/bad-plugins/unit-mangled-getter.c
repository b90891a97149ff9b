/* SPDX-License-Identifier: MIT */
/* The getter under the name a C++ compiler gives it without extern "C"
 * (what POPLAR_PLUGIN_DEFINE produced in C++ before it declared C
 * linkage), written in C so that the loader test needs no C++ compiler;
 * tests/cxx/ has the real thing. */
#include <poplar/plugin.h>

POPLAR_API const PoplarPluginDescriptor *mangled_getter(void)
    __asm__("_Z33poplar_plugin_unit_mangled_getterv");

const PoplarPluginDescriptor *mangled_getter(void)
{
  static const PoplarPluginDescriptor d = {
      POPLAR_PLUGIN_MAGIC, POPLAR_ABI_MAJOR, POPLAR_ABI_MINOR,
      (uint32_t)sizeof(PoplarPluginDescriptor), "unit_mangled_getter", "1.0",
      "mangled getter", NULL, NULL, NULL,
  };
  return &d;
}
