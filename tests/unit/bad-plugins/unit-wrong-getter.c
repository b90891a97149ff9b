/* SPDX-License-Identifier: MIT */
/* A real plugin in a file named for another: it exports
 * poplar_plugin_unit_renamed(), not poplar_plugin_unit_wrong_getter(). */
#include <poplar/plugin.h>

POPLAR_PLUGIN_DEFINE(unit_renamed, "1.0", "renamed plugin", NULL, NULL, NULL)
