/* SPDX-License-Identifier: MIT */
/*
 * For `make check-asan` only (LD_PRELOAD): dlclose() does nothing, so that
 * shared objects stay mapped until the process exits.  When poplard
 * unloads a plugin at shutdown, the one-time allocations of the libraries
 * it pulled in (libldap's globals, for one) are still referenced from
 * their data segments; once those are unmapped LeakSanitizer reports them
 * as leaks from "<unknown module>", and a real leak in a plugin could not
 * be named either.  Kept mapped, still-referenced memory is not reported
 * and real leaks get symbolized stacks.  Never used outside that target.
 */
int dlclose(void *handle);

int dlclose(void *handle)
{
  (void)handle;
  return 0;
}
