/* SPDX-License-Identifier: MIT */
/* Connection limits (core/conn-limits.c). */
#include <glib.h>

#include "conn-limits.h"

static void test_per_address(void)
{
  PoplarConnLimits *l = poplard_conn_limits_new(100, 2);
  bool per = true;
  g_assert_true(poplard_conn_limits_enter(l, "192.0.2.1", &per));
  g_assert_false(per);
  g_assert_true(poplard_conn_limits_enter(l, "192.0.2.1", &per));
  g_assert_false(poplard_conn_limits_enter(l, "192.0.2.1", &per));
  g_assert_true(per);
  /* a refused attempt counts nothing: still refused, still two */
  g_assert_false(poplard_conn_limits_enter(l, "192.0.2.1", &per));
  g_assert_true(per);
  /* other addresses are not affected */
  g_assert_true(poplard_conn_limits_enter(l, "192.0.2.2", &per));
  g_assert_false(per);
  g_assert_true(poplard_conn_limits_enter(l, "2001:db8::1", &per));
  /* leaving frees one slot of that address */
  poplard_conn_limits_leave(l, "192.0.2.1");
  g_assert_true(poplard_conn_limits_enter(l, "192.0.2.1", &per));
  g_assert_false(poplard_conn_limits_enter(l, "192.0.2.1", &per));
  g_assert_true(per);
  /* all gone: the address starts from zero */
  poplard_conn_limits_leave(l, "192.0.2.1");
  poplard_conn_limits_leave(l, "192.0.2.1");
  g_assert_true(poplard_conn_limits_enter(l, "192.0.2.1", &per));
  g_assert_true(poplard_conn_limits_enter(l, "192.0.2.1", &per));
  g_assert_false(poplard_conn_limits_enter(l, "192.0.2.1", &per));
  poplard_conn_limits_free(l);
}

static void test_global(void)
{
  PoplarConnLimits *l = poplard_conn_limits_new(3, 10);
  bool per = true;
  g_assert_true(poplard_conn_limits_enter(l, "a", &per));
  g_assert_true(poplard_conn_limits_enter(l, "b", &per));
  g_assert_true(poplard_conn_limits_enter(l, "a", &per));
  g_assert_false(poplard_conn_limits_enter(l, "c", &per));
  g_assert_false(per); /* the global limit, not the address's */
  g_assert_false(poplard_conn_limits_enter(l, "a", &per));
  g_assert_false(per);
  poplard_conn_limits_leave(l, "b");
  g_assert_true(poplard_conn_limits_enter(l, "c", &per));
  g_assert_false(poplard_conn_limits_enter(l, "d", &per));
  poplard_conn_limits_leave(l, "a");
  poplard_conn_limits_leave(l, "a");
  poplard_conn_limits_leave(l, "c");
  /* empty again: the full limit is available */
  for (int i = 0; i < 3; i++) {
    g_autofree char *addr = g_strdup_printf("10.0.0.%d", i);
    g_assert_true(poplard_conn_limits_enter(l, addr, &per));
  }
  g_assert_false(poplard_conn_limits_enter(l, "10.0.0.9", &per));
  poplard_conn_limits_free(l);
  poplard_conn_limits_free(NULL);
}

/* Both limits reached at once: the per-address one is reported. */
static void test_both(void)
{
  PoplarConnLimits *l = poplard_conn_limits_new(1, 1);
  bool per = false;
  g_assert_true(poplard_conn_limits_enter(l, "a", &per));
  g_assert_false(poplard_conn_limits_enter(l, "a", &per));
  g_assert_true(per);
  g_assert_false(poplard_conn_limits_enter(l, "b", &per));
  g_assert_false(per);
  poplard_conn_limits_free(l);
}

/* Enter and leave from many threads: the counts come back to zero, and
 * neither limit is ever exceeded. */
typedef struct Shared {
  PoplarConnLimits *limits;
  gint inside_total;
  gint inside_a;
  gint max_total_seen;
  gint max_a_seen;
} Shared;

static void atomic_max(gint *max, gint v)
{
  gint old;
  while ((old = g_atomic_int_get(max)) < v &&
         !g_atomic_int_compare_and_exchange(max, old, v))
    ;
}

static gpointer churn(gpointer data)
{
  Shared *s = data;
  for (int i = 0; i < 20000; i++) {
    bool a = (i % 3) == 0;
    const char *addr = a ? "a" : (i % 3 == 1 ? "b" : "c");
    bool per;
    if (!poplard_conn_limits_enter(s->limits, addr, &per))
      continue;
    atomic_max(&s->max_total_seen, g_atomic_int_add(&s->inside_total, 1) + 1);
    if (a)
      atomic_max(&s->max_a_seen, g_atomic_int_add(&s->inside_a, 1) + 1);
    if (a)
      g_atomic_int_add(&s->inside_a, -1);
    g_atomic_int_add(&s->inside_total, -1);
    poplard_conn_limits_leave(s->limits, addr);
  }
  return NULL;
}

static void test_threads(void)
{
  Shared s = {0};
  s.limits = poplard_conn_limits_new(5, 2);
  GThread *th[8];
  for (size_t i = 0; i < G_N_ELEMENTS(th); i++)
    th[i] = g_thread_new("churn", churn, &s);
  for (size_t i = 0; i < G_N_ELEMENTS(th); i++)
    g_thread_join(th[i]);
  g_assert_cmpint(s.max_total_seen, <=, 5);
  g_assert_cmpint(s.max_a_seen, <=, 2);
  /* all left: the limits are whole again */
  bool per;
  for (int i = 0; i < 2; i++)
    g_assert_true(poplard_conn_limits_enter(s.limits, "a", &per));
  for (int i = 0; i < 2; i++)
    g_assert_true(poplard_conn_limits_enter(s.limits, "b", &per));
  g_assert_true(poplard_conn_limits_enter(s.limits, "c", &per));
  g_assert_false(poplard_conn_limits_enter(s.limits, "d", &per));
  poplard_conn_limits_free(s.limits);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/conn-limits/per-address", test_per_address);
  g_test_add_func("/conn-limits/global", test_global);
  g_test_add_func("/conn-limits/both", test_both);
  g_test_add_func("/conn-limits/threads", test_threads);
  return g_test_run();
}
