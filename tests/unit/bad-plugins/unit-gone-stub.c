/* SPDX-License-Identifier: MIT */
/* The library unit-missing-lib links to.  Its soname names a file that is
 * never installed, so at run time the dependency is missing. */
int poplar_unit_gone_answer(void);

int poplar_unit_gone_answer(void) { return 42; }
