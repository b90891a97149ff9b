/* SPDX-License-Identifier: MIT */
/* Finding, checking and loading plugin shared objects (libltdl). */
#ifndef POPLAR_PLUGIN_LOADER_H
#define POPLAR_PLUGIN_LOADER_H

#include <stdbool.h>

#include "poplar-private.h"

/* Call once, on the main thread, before any other loader function. */
bool poplard_loader_init(void);
void poplard_loader_shutdown(void);

/* Loads the plugin @spec (a name looked up as @dir/<name>.so, or a path
 * ending in .so) into @registry.  Returns NULL with *@error (newly
 * allocated, naming the file and the reason) on refusal; nothing is
 * registered then. */
PoplarPlugin *poplard_loader_load(PoplarRegistry *registry, const char *dir,
                                 const char *spec, char **error);

/* Unloads every plugin's shared object; after poplarpriv_registry_free
 * has run their tables' destroy. */
void poplard_loader_unload_all(GPtrArray *handles);

/* Prints name, version, ABI and description of every *.so in @dir, and
 * the reason for each one refused.  Returns the number refused. */
unsigned poplard_loader_list(const char *dir, GString *out);

#endif
