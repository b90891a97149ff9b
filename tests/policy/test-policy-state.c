/* SPDX-License-Identifier: MIT */
/* The EXPIRE / LOGIN-DELAY state file: parsing damaged files, writing and
 * reading back, appends after a rewrite. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "policy-state.h"

typedef struct Fixture {
  PoplarPolicyState *state;
  GPtrArray *problems;
  char *dir;
  char *path;
} Fixture;

static void setup(Fixture *f, gconstpointer data)
{
  (void)data;
  f->state = poplard_policy_state_new();
  f->problems = g_ptr_array_new_with_free_func(g_free);
  f->dir = g_dir_make_tmp("policy-state-XXXXXX", NULL);
  g_assert_nonnull(f->dir);
  f->path = g_build_filename(f->dir, "poplar-retrieved", NULL);
}

static void teardown(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *tmp = g_strconcat(f->path, ".tmp", NULL);
  g_unlink(f->path);
  g_unlink(tmp);
  g_rmdir(f->dir);
  g_free(f->path);
  g_free(f->dir);
  g_ptr_array_unref(f->problems);
  poplard_policy_state_free(f->state);
}

static void parse(Fixture *f, const char *text)
{
  poplard_policy_state_parse(f->state, "FILE", text, strlen(text),
                             f->problems);
}

static void test_good_file(Fixture *f, gconstpointer data)
{
  (void)data;
  parse(f, "poplar-retrieved 1\n"
           "login 1000\n"
           "retrieved 2000 uid-a\n"
           "retrieved 1500 uid-a\n"
           "retrieved 3000 uid-b\n"
           "login 900\n");
  g_assert_cmpuint(f->problems->len, ==, 0);
  /* The latest login and the earliest retrieval win. */
  g_assert_cmpint(f->state->last_login, ==, 1000);
  g_assert_cmpint(poplard_policy_state_retrieved(f->state, "uid-a"), ==,
                  1500);
  g_assert_cmpint(poplard_policy_state_retrieved(f->state, "uid-b"), ==,
                  3000);
  g_assert_cmpint(poplard_policy_state_retrieved(f->state, "uid-c"), ==, 0);
}

static void test_bad_lines_reported_others_kept(Fixture *f,
                                                gconstpointer data)
{
  (void)data;
  parse(f, "poplar-retrieved 1\n"
           "retrieved 100 good-1\n"
           "retrieved x bad-time\n"
           "retrieved 100\n"
           "login -5\n"
           "retrieved 100 has space\n"
           "frobnicate\n"
           "retrieved 99999999999999999999999 overflow\n"
           "\n"
           "retrieved 200 good-2\n"
           "retrieved 300 good-3"); /* an append cut short by a crash */
  g_assert_cmpuint(f->problems->len, ==, 6);
  g_assert_cmpstr(g_ptr_array_index(f->problems, 0), ==,
                  "FILE:3: bad retrieval time");
  g_assert_true(g_str_has_prefix(g_ptr_array_index(f->problems, 1),
                                 "FILE:4: "));
  g_assert_cmpstr(g_ptr_array_index(f->problems, 2), ==,
                  "FILE:5: bad login time");
  g_assert_true(g_str_has_prefix(g_ptr_array_index(f->problems, 3),
                                 "FILE:6: "));
  g_assert_true(g_str_has_prefix(g_ptr_array_index(f->problems, 4),
                                 "FILE:7: "));
  g_assert_true(g_str_has_prefix(g_ptr_array_index(f->problems, 5),
                                 "FILE:8: "));
  g_assert_cmpint(f->state->last_login, ==, 0);
  g_assert_cmpint(poplard_policy_state_retrieved(f->state, "good-1"), ==,
                  100);
  g_assert_cmpint(poplard_policy_state_retrieved(f->state, "good-2"), ==,
                  200);
  g_assert_cmpint(poplard_policy_state_retrieved(f->state, "good-3"), ==,
                  300);
}

static void test_bad_header_and_binary(Fixture *f, gconstpointer data)
{
  (void)data;
  static const char text[] = "garbage\nretrieved 5 a\nretr\0ieved 6 b\n"
                             "retrieved 7 \x01\x02\n";
  poplard_policy_state_parse(f->state, "FILE", text, sizeof text - 1,
                             f->problems);
  g_assert_cmpuint(f->problems->len, ==, 3);
  g_assert_true(g_str_has_prefix(g_ptr_array_index(f->problems, 0),
                                 "FILE:1: "));
  g_assert_cmpstr(g_ptr_array_index(f->problems, 1), ==,
                  "FILE:3: NUL in line");
  g_assert_cmpstr(g_ptr_array_index(f->problems, 2), ==, "FILE:4: bad UIDL");
  g_assert_cmpint(poplard_policy_state_retrieved(f->state, "a"), ==, 5);
  g_assert_cmpuint(g_hash_table_size(f->state->retrieved), ==, 1);
}

static void test_uidl_limits(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *max = g_strnfill(70, 'u');
  g_autofree char *over = g_strnfill(71, 'v');
  g_autofree char *text = g_strdup_printf(
      "poplar-retrieved 1\nretrieved 1 %s\nretrieved 1 %s\n", max, over);
  parse(f, text);
  g_assert_cmpuint(f->problems->len, ==, 1);
  g_assert_cmpstr(g_ptr_array_index(f->problems, 0), ==, "FILE:3: bad UIDL");
  g_assert_cmpint(poplard_policy_state_retrieved(f->state, max), ==, 1);
}

static void test_save_load_round_trip(Fixture *f, gconstpointer data)
{
  (void)data;
  f->state->last_login = 1234;
  g_assert_true(poplard_policy_state_note_retrieved(f->state, "b", 20));
  g_assert_true(poplard_policy_state_note_retrieved(f->state, "a", 10));
  g_assert_false(poplard_policy_state_note_retrieved(f->state, "a", 11));
  g_autoptr(GError) error = NULL;
  g_assert_true(poplard_policy_state_save(f->state, f->path, &error));
  g_assert_no_error(error);

  g_autofree char *text = NULL;
  g_assert_true(g_file_get_contents(f->path, &text, NULL, NULL));
  g_assert_cmpstr(text, ==,
                  "poplar-retrieved 1\nlogin 1234\n"
                  "retrieved 10 a\nretrieved 20 b\n");

  PoplarPolicyState *back = poplard_policy_state_new();
  g_assert_true(poplard_policy_state_load(back, f->path, f->problems,
                                          &error));
  g_assert_cmpuint(f->problems->len, ==, 0);
  g_assert_cmpint(back->last_login, ==, 1234);
  g_assert_cmpint(poplard_policy_state_retrieved(back, "a"), ==, 10);
  g_assert_cmpint(poplard_policy_state_retrieved(back, "b"), ==, 20);
  poplard_policy_state_free(back);
}

static void test_append_creates_with_header(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autoptr(GError) error = NULL;
  g_assert_true(poplard_policy_state_append(f->path, "login 7", &error));
  g_assert_true(poplard_policy_state_append(f->path, "retrieved 8 m1",
                                            &error));
  g_assert_no_error(error);
  g_assert_true(poplard_policy_state_load(f->state, f->path, f->problems,
                                          &error));
  g_assert_cmpuint(f->problems->len, ==, 0);
  g_assert_cmpint(f->state->last_login, ==, 7);
  g_assert_cmpint(poplard_policy_state_retrieved(f->state, "m1"), ==, 8);
}

static void test_missing_file_is_empty(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autoptr(GError) error = NULL;
  g_assert_true(poplard_policy_state_load(f->state, f->path, f->problems,
                                          &error));
  g_assert_cmpuint(g_hash_table_size(f->state->retrieved), ==, 0);
  g_assert_cmpint(f->state->last_login, ==, 0);
}

static void test_symlink_not_followed(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *target = g_build_filename(f->dir, "target", NULL);
  g_assert_true(g_file_set_contents(target, "x", 1, NULL));
  g_assert_cmpint(symlink(target, f->path), ==, 0);
  g_autoptr(GError) error = NULL;
  g_assert_false(poplard_policy_state_append(f->path, "login 1", &error));
  g_assert_nonnull(error);
  g_autofree char *text = NULL;
  g_assert_true(g_file_get_contents(target, &text, NULL, NULL));
  g_assert_cmpstr(text, ==, "x");
  g_unlink(target);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) \
  g_test_add("/policy-state/" name, Fixture, NULL, setup, fn, teardown)
  ADD("good-file", test_good_file);
  ADD("bad-lines-reported-others-kept", test_bad_lines_reported_others_kept);
  ADD("bad-header-and-binary", test_bad_header_and_binary);
  ADD("uidl-limits", test_uidl_limits);
  ADD("save-load-round-trip", test_save_load_round_trip);
  ADD("append-creates-with-header", test_append_creates_with_header);
  ADD("missing-file-is-empty", test_missing_file_is_empty);
  ADD("symlink-not-followed", test_symlink_not_followed);
  return g_test_run();
}
