/* SPDX-License-Identifier: MIT */
/* Growing delays after failed logins, per address and per user. */
#include <glib.h>

#include "auth-throttle.h"

#define SEC G_USEC_PER_SEC

static void test_doubles_up_to_max(void)
{
  PoplarThrottle *t = poplard_throttle_new(1000, 8000, 60000, 100);
  const uint64_t want[] = {1000, 2000, 4000, 8000, 8000};
  for (size_t i = 0; i < G_N_ELEMENTS(want); i++)
    g_assert_cmpuint(poplard_throttle_failure(t, "192.0.2.1", "alice",
                                             (int64_t)i * SEC),
                     ==, want[i]);
  poplard_throttle_free(t);
}

static void test_per_user_across_addresses(void)
{
  PoplarThrottle *t = poplard_throttle_new(1000, 64000, 60000, 100);
  poplard_throttle_failure(t, "192.0.2.1", "alice", 0);
  poplard_throttle_failure(t, "192.0.2.2", "Alice", 0);
  /* A third address guessing the same user (any case) waits longer. */
  g_assert_cmpuint(poplard_throttle_failure(t, "192.0.2.3", "ALICE", 0), ==,
                   4000);
  /* Another user from a fresh address starts at the base. */
  g_assert_cmpuint(poplard_throttle_failure(t, "192.0.2.4", "bob", 0), ==,
                   1000);
  poplard_throttle_free(t);
}

static void test_per_address_across_users(void)
{
  PoplarThrottle *t = poplard_throttle_new(500, 64000, 60000, 100);
  poplard_throttle_failure(t, "198.51.100.9", "u1", 0);
  poplard_throttle_failure(t, "198.51.100.9", "u2", 0);
  g_assert_cmpuint(poplard_throttle_failure(t, "198.51.100.9", "u3", 0), ==,
                   2000);
  poplard_throttle_free(t);
}

static void test_success_resets(void)
{
  PoplarThrottle *t = poplard_throttle_new(1000, 64000, 60000, 100);
  poplard_throttle_failure(t, "192.0.2.1", "alice", 0);
  poplard_throttle_failure(t, "192.0.2.1", "alice", 0);
  poplard_throttle_success(t, "192.0.2.1", "alice");
  g_assert_cmpuint(poplard_throttle_failure(t, "192.0.2.1", "alice", 0), ==,
                   1000);
  poplard_throttle_free(t);
}

static void test_window_forgets(void)
{
  PoplarThrottle *t = poplard_throttle_new(1000, 64000, 10000, 100);
  poplard_throttle_failure(t, "192.0.2.1", "alice", 0);
  poplard_throttle_failure(t, "192.0.2.1", "alice", 1 * SEC);
  /* Past the 10 s window the count starts over. */
  g_assert_cmpuint(
      poplard_throttle_failure(t, "192.0.2.1", "alice", 30 * SEC), ==, 1000);
  poplard_throttle_free(t);
}

static void test_bounded_table(void)
{
  PoplarThrottle *t = poplard_throttle_new(1000, 64000, 60000, 50);
  for (int i = 0; i < 10000; i++) {
    g_autofree char *addr = g_strdup_printf("10.0.%d.%d", i / 256, i % 256);
    /* Every address is new, so it gets the base delay whatever the table
     * had to forget. */
    g_assert_cmpuint(poplard_throttle_failure(t, addr, NULL, 0), ==, 1000);
  }
  poplard_throttle_free(t);
}

/* base 100 ms doubling to 800 ms, failures remembered for 60 s */
static PoplarThrottle *new_throttle(void)
{
  return poplard_throttle_new(100, 800, 60 * 1000, 1000);
}

static void test_penalty_is_the_addresses_earned_delay(void)
{
  PoplarThrottle *t = new_throttle();
  g_assert_cmpuint(poplard_throttle_penalty(t, "192.0.2.1", 0), ==, 0);
  poplard_throttle_failure(t, "192.0.2.1", "ann", 0);
  g_assert_cmpuint(poplard_throttle_penalty(t, "192.0.2.1", SEC), ==, 100);
  poplard_throttle_failure(t, "192.0.2.1", "bob", SEC);
  poplard_throttle_failure(t, "192.0.2.1", "cat", 2 * SEC);
  g_assert_cmpuint(poplard_throttle_penalty(t, "192.0.2.1", 3 * SEC), ==, 400);
  /* a penalty is a query: asking twice earns nothing */
  g_assert_cmpuint(poplard_throttle_penalty(t, "192.0.2.1", 3 * SEC), ==, 400);
  /* another address, and the user names, earn nothing before the check */
  g_assert_cmpuint(poplard_throttle_penalty(t, "192.0.2.2", 3 * SEC), ==, 0);
  poplard_throttle_free(t);
}

static void test_user_failures_delay_replies_only(void)
{
  PoplarThrottle *t = new_throttle();
  /* guesses at "ann" from three addresses */
  poplard_throttle_failure(t, "192.0.2.1", "ann", 0);
  poplard_throttle_failure(t, "192.0.2.2", "Ann", SEC);
  g_assert_cmpuint(poplard_throttle_failure(t, "192.0.2.3", "ANN", 2 * SEC),
                   ==, 400);
  /* ann's own address has none: her right password is checked at once */
  g_assert_cmpuint(poplard_throttle_penalty(t, "198.51.100.7", 2 * SEC), ==, 0);
  poplard_throttle_free(t);
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
  g_test_add_func("/throttle/penalty",
                  test_penalty_is_the_addresses_earned_delay);
  g_test_add_func("/throttle/user-failures-delay-replies-only",
                  test_user_failures_delay_replies_only);
  return g_test_run();
}
