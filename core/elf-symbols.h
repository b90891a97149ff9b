/* SPDX-License-Identifier: MIT */
/*
 * The names a shared object exports, read from its dynamic symbol table
 * without mapping it.  The loader uses this to say what a file offers
 * instead of the getter it looked for: a getter named for another plugin,
 * or a C++ getter whose name was mangled because it lacks extern "C".
 */
#ifndef POPLAR_ELF_SYMBOLS_H
#define POPLAR_ELF_SYMBOLS_H

#include <glib.h>
#include <stdbool.h>

/* Appends to @out (which owns them, so give it g_free) the names of at
 * most @max symbols that @path defines and exports and whose name contains
 * @needle.  Returns false, appending nothing, when the file has no
 * readable dynamic symbol table (section headers stripped, or damaged);
 * every offset and size in the file is checked before it is used. */
bool poplard_elf_exported_symbols(const char *path, const char *needle,
                                  unsigned max, GPtrArray *out);

#endif
