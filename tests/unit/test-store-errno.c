/* SPDX-License-Identifier: MIT */
/* poplar_store_result_from_errno() (libpoplar/errno-result.c): the answer
 * every store gives for a failed system call. */
#include <errno.h>
#include <glib.h>

#include <poplar/store.h>

static void test_mapping(void)
{
  static const struct {
    int err;
    PoplarStoreResult want;
  } cases[] = {
      /* only an administrator can fix these */
      {EACCES, POPLAR_STORE_PERMFAIL},
      {EPERM, POPLAR_STORE_PERMFAIL},
      {ENOTDIR, POPLAR_STORE_PERMFAIL},
      {EISDIR, POPLAR_STORE_PERMFAIL},
      {ELOOP, POPLAR_STORE_PERMFAIL},
      {ENAMETOOLONG, POPLAR_STORE_PERMFAIL},
      {EROFS, POPLAR_STORE_PERMFAIL},
      /* retrying may help */
      {EIO, POPLAR_STORE_TEMPFAIL},
      {ENOSPC, POPLAR_STORE_TEMPFAIL},
      {EDQUOT, POPLAR_STORE_TEMPFAIL},
      {EAGAIN, POPLAR_STORE_TEMPFAIL},
      {EINTR, POPLAR_STORE_TEMPFAIL},
      {EMFILE, POPLAR_STORE_TEMPFAIL},
      {ENFILE, POPLAR_STORE_TEMPFAIL},
      {ENOMEM, POPLAR_STORE_TEMPFAIL},
      {ESTALE, POPLAR_STORE_TEMPFAIL},
      {ETIMEDOUT, POPLAR_STORE_TEMPFAIL},
      /* a mailbox may be missing until its first delivery */
      {ENOENT, POPLAR_STORE_TEMPFAIL},
      /* no reason, or one nobody expected */
      {0, POPLAR_STORE_TEMPFAIL},
      {-1, POPLAR_STORE_TEMPFAIL},
      {100000, POPLAR_STORE_TEMPFAIL},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_test_message("errno %d (%s)", cases[i].err, g_strerror(cases[i].err));
    g_assert_cmpint(poplar_store_result_from_errno(cases[i].err), ==,
                    cases[i].want);
  }
}

/* Whatever the errno, the answer is a failure a client can be told. */
static void test_always_a_failure(void)
{
  for (int err = -5; err < 4200; err++) {
    PoplarStoreResult r = poplar_store_result_from_errno(err);
    g_assert_true(r == POPLAR_STORE_PERMFAIL || r == POPLAR_STORE_TEMPFAIL);
  }
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/store-errno/mapping", test_mapping);
  g_test_add_func("/store-errno/always-a-failure", test_always_a_failure);
  return g_test_run();
}
