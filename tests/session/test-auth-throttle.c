/* SPDX-License-Identifier: MIT */
/* Growing delays after failed logins, per address and per user. */
#include <glib.h>

#include "auth-throttle.h"

#define SEC G_USEC_PER_SEC

static void test_doubles_up_to_max(void)
{
  PoplarThrottle *t = poplar_throttle_new(1000, 8000, 60000, 100);
  const uint64_t want[] = {1000, 2000, 4000, 8000, 8000};
  for (size_t i = 0; i < G_N_ELEMENTS(want); i++)
    g_assert_cmpuint(poplar_throttle_failure(t, "192.0.2.1", "alice",
                                             (int64_t)i * SEC),
                     ==, want[i]);
  poplar_throttle_free(t);
}

static void test_per_user_across_addresses(void)
{
  PoplarThrottle *t = poplar_throttle_new(1000, 64000, 60000, 100);
  poplar_throttle_failure(t, "192.0.2.1", "alice", 0);
  poplar_throttle_failure(t, "192.0.2.2", "Alice", 0);
  /* A third address guessing the same user (any case) waits longer. */
  g_assert_cmpuint(poplar_throttle_failure(t, "192.0.2.3", "ALICE", 0), ==,
                   4000);
  /* Another user from a fresh address starts at the base. */
  g_assert_cmpuint(poplar_throttle_failure(t, "192.0.2.4", "bob", 0), ==,
                   1000);
  poplar_throttle_free(t);
}

static void test_per_address_across_users(void)
{
  PoplarThrottle *t = poplar_throttle_new(500, 64000, 60000, 100);
  poplar_throttle_failure(t, "198.51.100.9", "u1", 0);
  poplar_throttle_failure(t, "198.51.100.9", "u2", 0);
  g_assert_cmpuint(poplar_throttle_failure(t, "198.51.100.9", "u3", 0), ==,
                   2000);
  poplar_throttle_free(t);
}

static void test_success_resets(void)
{
  PoplarThrottle *t = poplar_throttle_new(1000, 64000, 60000, 100);
  poplar_throttle_failure(t, "192.0.2.1", "alice", 0);
  poplar_throttle_failure(t, "192.0.2.1", "alice", 0);
  poplar_throttle_success(t, "192.0.2.1", "alice");
  g_assert_cmpuint(poplar_throttle_failure(t, "192.0.2.1", "alice", 0), ==,
                   1000);
  poplar_throttle_free(t);
}

static void test_window_forgets(void)
{
  PoplarThrottle *t = poplar_throttle_new(1000, 64000, 10000, 100);
  poplar_throttle_failure(t, "192.0.2.1", "alice", 0);
  poplar_throttle_failure(t, "192.0.2.1", "alice", 1 * SEC);
  /* Past the 10 s window the count starts over. */
  g_assert_cmpuint(
      poplar_throttle_failure(t, "192.0.2.1", "alice", 30 * SEC), ==, 1000);
  poplar_throttle_free(t);
}

static void test_bounded_table(void)
{
  PoplarThrottle *t = poplar_throttle_new(1000, 64000, 60000, 50);
  for (int i = 0; i < 10000; i++) {
    g_autofree char *addr = g_strdup_printf("10.0.%d.%d", i / 256, i % 256);
    /* Every address is new, so it gets the base delay whatever the table
     * had to forget. */
    g_assert_cmpuint(poplar_throttle_failure(t, addr, NULL, 0), ==, 1000);
  }
  poplar_throttle_free(t);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/throttle/doubles-up-to-max", test_doubles_up_to_max);
  g_test_add_func("/throttle/per-user", test_per_user_across_addresses);
  g_test_add_func("/throttle/per-address", test_per_address_across_users);
  g_test_add_func("/throttle/success-resets", test_success_resets);
  g_test_add_func("/throttle/window-forgets", test_window_forgets);
  g_test_add_func("/throttle/bounded-table", test_bounded_table);
  return g_test_run();
}
