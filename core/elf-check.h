/* SPDX-License-Identifier: MIT */
/*
 * A look at a shared object before the dynamic loader maps it.  A file cut
 * short (an interrupted copy, a full disk during a package install) can
 * pass the loader's own checks and then crash the process with SIGBUS when
 * a mapped page beyond the end of the file is touched; so check that every
 * segment lies inside the file, and that it is an ELF object for this
 * machine at all.
 */
#ifndef POPLAR_ELF_CHECK_H
#define POPLAR_ELF_CHECK_H

#include <stdbool.h>

/* Returns true when @path looks loadable; otherwise *@why (static text)
 * says what is wrong. */
bool poplard_elf_check(const char *path, const char **why);

#endif
