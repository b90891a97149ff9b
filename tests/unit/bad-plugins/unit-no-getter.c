/* SPDX-License-Identifier: MIT */
/* A valid shared object that exports something, but not the getter its
 * file name calls for. */
#include <poplar/plugin.h>

POPLAR_API int unit_no_getter_answer(void);

int unit_no_getter_answer(void) { return 42; }
