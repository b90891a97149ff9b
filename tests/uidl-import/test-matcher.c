/* SPDX-License-Identifier: MIT */
/* Pairing old messages with Maildir messages. */
#include "uidl-import.h"

#include <string.h>

static GArray *olds_new(void)
{
  GArray *a = g_array_new(FALSE, TRUE, sizeof(OldMessage));
  g_array_set_clear_func(a, (GDestroyNotify)old_message_clear);
  return a;
}

static GArray *news_new(void)
{
  GArray *a = g_array_new(FALSE, TRUE, sizeof(NewMessage));
  g_array_set_clear_func(a, (GDestroyNotify)new_message_clear);
  return a;
}

static void add_old(GArray *a, const char *uidl, const char *header,
                    uint64_t size)
{
  OldMessage m = {.number = a->len + 1, .uidl = g_strdup(uidl),
                  .size = size};
  header_key_of(header, strlen(header), m.key);
  g_array_append_val(a, m);
}

static void add_new(GArray *a, const char *base, const char *header,
                    uint64_t size)
{
  NewMessage m = {.base = g_strdup(base), .file = g_strdup(base),
                  .poplar_uidl = g_strdup(base), .size = size,
                  .raw_size = size - 2};
  header_key_of(header, strlen(header), m.key);
  g_array_append_val(a, m);
}

#define R(i) (&g_array_index(res, MatchResult, (i)))

static void test_one_to_one(void)
{
  g_autoptr(GArray) o = olds_new(), n = news_new();
  add_old(o, "u1", "Subject: 1\n\n", 100);
  add_old(o, "u2", "Subject: 2\n\n", 200);
  add_old(o, "u3", "Subject: 3\n\n", 300);
  /* The Maildir in another order, one message missing, one extra. */
  add_new(n, "b2", "Subject: 2\nStatus: RO\n\n", 200);
  add_new(n, "b1", "Subject: 1\n\n", 100);
  add_new(n, "b4", "Subject: 4\n\n", 400);
  g_autoptr(GArray) res = match_messages(o, n, false);
  g_assert_cmpint(R(0)->outcome, ==, MATCH_PAIRED);
  g_assert_cmpuint(R(0)->new_index, ==, 1);
  g_assert_false(R(0)->size_differs);
  g_assert_cmpint(R(1)->outcome, ==, MATCH_PAIRED);
  g_assert_cmpuint(R(1)->new_index, ==, 0);
  g_assert_cmpint(R(2)->outcome, ==, MATCH_UNMATCHED);
}

static void test_size_is_a_tie_breaker(void)
{
  g_autoptr(GArray) o = olds_new(), n = news_new();
  add_old(o, "u1", "Subject: x\n\n", 100);
  add_new(n, "b1", "Subject: x\n\n", 150);
  g_autoptr(GArray) res = match_messages(o, n, false);
  g_assert_cmpint(R(0)->outcome, ==, MATCH_PAIRED);
  g_assert_true(R(0)->size_differs);
  g_autoptr(GArray) strict = match_messages(o, n, true);
  g_assert_cmpint(g_array_index(strict, MatchResult, 0).outcome, ==,
                  MATCH_SIZE_DIFFERS);
  /* The size as stored (here CRLF size - 2) fits too. */
  g_array_index(o, OldMessage, 0).size = 148;
  g_autoptr(GArray) stored = match_messages(o, n, true);
  g_assert_cmpint(g_array_index(stored, MatchResult, 0).outcome, ==,
                  MATCH_PAIRED);
}

static void test_duplicates_in_order(void)
{
  g_autoptr(GArray) o = olds_new(), n = news_new();
  add_old(o, "first", "Subject: twice\n\n", 100);
  add_old(o, "second", "Subject: twice\n\n", 100);
  add_new(n, "b1", "Subject: twice\n\n", 100);
  add_new(n, "b2", "Subject: twice\n\n", 100);
  g_autoptr(GArray) res = match_messages(o, n, false);
  g_assert_cmpint(R(0)->outcome, ==, MATCH_PAIRED);
  g_assert_cmpuint(R(0)->new_index, ==, 0);
  g_assert_cmpint(R(1)->outcome, ==, MATCH_PAIRED);
  g_assert_cmpuint(R(1)->new_index, ==, 1);
}

static void test_duplicates_ambiguous(void)
{
  g_autoptr(GArray) o = olds_new(), n = news_new();
  add_old(o, "first", "Subject: twice\n\n", 100);
  add_old(o, "second", "Subject: twice\n\n", 100);
  add_new(n, "b1", "Subject: twice\n\n", 100);
  g_autoptr(GArray) res = match_messages(o, n, false);
  for (guint i = 0; i < 2; i++) {
    g_assert_cmpint(R(i)->outcome, ==, MATCH_AMBIGUOUS);
    g_assert_cmpuint(R(i)->n_old, ==, 2);
    g_assert_cmpuint(R(i)->n_new, ==, 1);
  }
}

static void test_duplicates_sizes_changed(void)
{
  /* Sizes that no Maildir copy has do not make the two old messages
   * unmatched: which of them the single copy is stays unknown. */
  g_autoptr(GArray) o = olds_new(), n = news_new();
  add_old(o, "first", "Subject: twice\n\n", 226);
  add_old(o, "second", "Subject: twice\n\n", 181);
  add_new(n, "b1", "Subject: twice\n\n", 215);
  g_autoptr(GArray) res = match_messages(o, n, false);
  for (guint i = 0; i < 2; i++) {
    g_assert_cmpint(R(i)->outcome, ==, MATCH_AMBIGUOUS);
    g_assert_cmpuint(R(i)->n_old, ==, 2);
    g_assert_cmpuint(R(i)->n_new, ==, 1);
  }
  g_autoptr(GArray) strict = match_messages(o, n, true);
  g_assert_cmpint(g_array_index(strict, MatchResult, 0).outcome, ==,
                  MATCH_SIZE_DIFFERS);
}

static void test_sizes_split_duplicates(void)
{
  /* Same header, different bodies: counts differ (a third Maildir copy
   * of another size), but the sizes tell them apart. */
  g_autoptr(GArray) o = olds_new(), n = news_new();
  add_old(o, "small", "Subject: same\n\n", 100);
  add_old(o, "big", "Subject: same\n\n", 300);
  add_new(n, "b-big", "Subject: same\n\n", 300);
  add_new(n, "b-small", "Subject: same\n\n", 100);
  add_new(n, "b-other", "Subject: same\n\n", 500);
  g_autoptr(GArray) res = match_messages(o, n, false);
  g_assert_cmpint(R(0)->outcome, ==, MATCH_PAIRED);
  g_assert_cmpuint(R(0)->new_index, ==, 1);
  g_assert_cmpint(R(1)->outcome, ==, MATCH_PAIRED);
  g_assert_cmpuint(R(1)->new_index, ==, 0);
}

static void test_bad_uidls(void)
{
  g_autoptr(GArray) o = olds_new(), n = news_new();
  add_old(o, "dup", "Subject: 1\n\n", 100);
  add_old(o, "dup", "Subject: 2\n\n", 100);
  add_old(o, "", "Subject: 3\n\n", 100);
  add_old(o, "ok", "Subject: 4\n\n", 100);
  add_new(n, "b1", "Subject: 1\n\n", 100);
  add_new(n, "b2", "Subject: 2\n\n", 100);
  add_new(n, "b3", "Subject: 3\n\n", 100);
  add_new(n, "b4", "Subject: 4\n\n", 100);
  g_autoptr(GArray) res = match_messages(o, n, false);
  g_assert_cmpint(R(0)->outcome, ==, MATCH_BAD_UIDL);
  g_assert_cmpint(R(1)->outcome, ==, MATCH_BAD_UIDL);
  g_assert_cmpint(R(2)->outcome, ==, MATCH_BAD_UIDL);
  g_assert_cmpint(R(3)->outcome, ==, MATCH_PAIRED);
  g_assert_cmpuint(R(3)->new_index, ==, 3);
}

static void test_shared_base_left_out(void)
{
  g_autoptr(GArray) o = olds_new(), n = news_new();
  add_old(o, "u1", "Subject: 1\n\n", 100);
  add_new(n, "b1", "Subject: 1\n\n", 100);
  g_array_index(n, NewMessage, 0).shared_base = true;
  g_autoptr(GArray) res = match_messages(o, n, false);
  g_assert_cmpint(R(0)->outcome, ==, MATCH_UNMATCHED);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/matcher/one-to-one", test_one_to_one);
  g_test_add_func("/matcher/size-tie-breaker", test_size_is_a_tie_breaker);
  g_test_add_func("/matcher/duplicates-in-order", test_duplicates_in_order);
  g_test_add_func("/matcher/duplicates-ambiguous", test_duplicates_ambiguous);
  g_test_add_func("/matcher/duplicates-sizes-changed",
                  test_duplicates_sizes_changed);
  g_test_add_func("/matcher/sizes-split-duplicates",
                  test_sizes_split_duplicates);
  g_test_add_func("/matcher/bad-uidls", test_bad_uidls);
  g_test_add_func("/matcher/shared-base", test_shared_base_left_out);
  return g_test_run();
}
