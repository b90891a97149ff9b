/* SPDX-License-Identifier: MIT */
/*
 * poplard reads libpoplar's objects directly (libpoplar/poplar-private.h),
 * so it runs only with the libpoplar.so.1 of its own build.
 *
 * A libpoplar of another release never gets this far: its private version
 * node has another name, and the dynamic loader stops poplard before main()
 * with "version `POPLAR_PRIVATE_<release>' not found".  Two builds of one
 * release whose private interfaces differ are caught here, by the build id
 * both were compiled with.
 */
#ifndef POPLAR_LIBPOPLAR_BUILD_H
#define POPLAR_LIBPOPLAR_BUILD_H

#include <glib.h>
#include <stdbool.h>

/* The build id this poplard was compiled with. */
const char *poplard_build_id(void);

/* True when the libpoplar.so.1 this process runs with comes from the same
 * build as poplard.  Otherwise appends to @why a sentence naming the
 * library's file, both build ids and the fix. */
bool poplard_libpoplar_build_matches(GString *why);

#endif /* POPLAR_LIBPOPLAR_BUILD_H */
