// SPDX-License-Identifier: MIT
//
// The getter as POPLAR_PLUGIN_DEFINE wrote it before it declared C
// linkage: in C++ its name is mangled (_Z30poplar_plugin_test_cxx_mangledv)
// and the loader cannot find poplar_plugin_test_cxx_mangled.  The loader
// must say so and name the mangled symbol.
#include <poplar/plugin.h>

POPLAR_API const PoplarPluginDescriptor *poplar_plugin_test_cxx_mangled();

const PoplarPluginDescriptor *poplar_plugin_test_cxx_mangled()
{
  static const PoplarPluginDescriptor descriptor = {
      POPLAR_PLUGIN_MAGIC,
      POPLAR_ABI_MAJOR,
      POPLAR_TARGET_ABI_MINOR,
      static_cast<uint32_t>(sizeof(PoplarPluginDescriptor)),
      "test_cxx_mangled",
      "1.0",
      "getter without C linkage",
      nullptr,
      nullptr,
      nullptr,
  };
  return &descriptor;
}
