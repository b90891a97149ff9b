/* SPDX-License-Identifier: MIT */
/*
 * The login throttle keys failures by user name, and the name is whatever
 * the client sent: any octets but CR, LF and NUL, so invalid UTF-8 too.
 * Folding such a name must never read past its end.  The name is placed
 * at the very end of a page followed by an inaccessible one, so any read
 * past its terminator faults, whatever the allocator would have left
 * there.
 */
#include <glib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "auth-throttle.h"

static const char *const names[] = {
    "a\xf0", "\xf0", "\xc3", "ab\xe2\x82", "\xff\xfe", "\xf8\x88\x80\x80",
    "\xed\xa0\x80", "\xc0\xaf", "ok", "\xc3\xa9t\xc3\xa9",
};

/* A copy of @s whose terminating NUL is the last octet of a page. */
static char *at_page_end(const char *s, void **map, size_t *map_len)
{
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  *map_len = 2 * page;
  char *m = mmap(NULL, *map_len, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  g_assert_true(m != MAP_FAILED);
  g_assert_cmpint(mprotect(m + page, page, PROT_NONE), ==, 0);
  size_t n = strlen(s) + 1;
  char *copy = m + page - n;
  memcpy(copy, s, n);
  *map = m;
  return copy;
}

static void fail_with_names(void)
{
  PoplarThrottle *t = poplard_throttle_new(0, 0, 60000, 1000);
  for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
    void *map;
    size_t map_len;
    char *user = at_page_end(names[i], &map, &map_len);
    poplard_throttle_failure(t, "192.0.2.1", user, g_get_monotonic_time());
    poplard_throttle_success(t, "192.0.2.1", user);
    munmap(map, map_len);
  }
  poplard_throttle_free(t);
}

static void test_invalid_utf8_names(void)
{
  if (g_test_subprocess()) {
    fail_with_names();
    return;
  }
  g_test_trap_subprocess(NULL, 10 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed();
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/abuse/throttle/invalid-utf8-names",
                  test_invalid_utf8_names);
  return g_test_run();
}
