/* SPDX-License-Identifier: MIT */
/*
 * Registration mistakes a plugin author can make (libpoplar/registry.c):
 * each is refused with a message naming the plugin, the table and what is
 * wrong, counted against the plugin's init, and reported to its section of
 * the configuration, so that --check-config fails on it.
 */
#include <glib.h>
#include <string.h>

#include "poplar-private.h"

static GPtrArray *log_lines;

static void capture_log(PoplarLogLevel level, const char *session_id,
                        const char *plugin, const char *message)
{
  (void)session_id;
  g_ptr_array_add(log_lines, g_strdup_printf("%d|%s|%s", (int)level,
                                             plugin ? plugin : "", message));
}

typedef struct Fixture {
  PoplarConfigFile *file;
  PoplarRegistry *registry;
  PoplarPlugin *plugin;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
  (void)data;
  static const char conf[] = "[server]\n\n[plugin-x]\nkey = 1\n";
  f->file = poplarpriv_config_parse("/etc/poplar.conf", conf,
                                    sizeof conf - 1);
  g_assert_cmpuint(f->file->errors->len, ==, 0);
  f->registry = poplarpriv_registry_new();
  f->plugin = poplarpriv_plugin_new(f->registry, "plugin-x", "/p/x.so");
  f->plugin->config = poplarpriv_config_section(f->file, "plugin-x");
  g_assert_nonnull(f->plugin->config);
  f->plugin->registering = true;
  g_ptr_array_set_size(log_lines, 0);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
  (void)data;
  poplarpriv_registry_free(f->registry);
  poplarpriv_config_free(f->file);
}

/* The only configuration error is about the plugin and says each of
 * @words. */
static void assert_one_error(Fixture *f, const char *const *words)
{
  GPtrArray *errors = f->file->errors;
  for (guint i = 0; i < errors->len; i++)
    g_test_message("error: %s", (const char *)errors->pdata[i]);
  g_assert_cmpuint(errors->len, ==, 1);
  const char *e = errors->pdata[0];
  g_assert_true(g_str_has_prefix(e, "/etc/poplar.conf:3: [plugin-x]"));
  g_assert_nonnull(strstr(e, "plugin plugin-x"));
  for (; *words; words++)
    if (!strstr(e, *words))
      g_error("'%s' does not say '%s'", e, *words);
}

static PoplarStoreResult store_open(void *d, PoplarMailbox *m, const char *l)
{
  (void)d, (void)m, (void)l;
  return POPLAR_STORE_OK;
}

static PoplarStoreResult store_msg_open(void *d, PoplarMailbox *m,
                                        PoplarMessage *msg, void **stream)
{
  (void)d, (void)m, (void)msg, (void)stream;
  return POPLAR_STORE_OK;
}

static int64_t store_read(void *d, void *stream, char *buf, size_t len)
{
  (void)d, (void)stream, (void)buf, (void)len;
  return 0;
}

static void store_msg_close(void *d, void *stream)
{
  (void)d, (void)stream;
}

static PoplarStoreResult store_expunge(void *d, PoplarMailbox *m)
{
  (void)d, (void)m;
  return POPLAR_STORE_OK;
}

static void store_close(void *d, PoplarMailbox *m)
{
  (void)d, (void)m;
}

static const PoplarStoreOps full_store = {
    .open = store_open,
    .message_open = store_msg_open,
    .message_read = store_read,
    .message_close = store_msg_close,
    .expunge = store_expunge,
    .close = store_close,
};

static bool mech_start(void *d, PoplarAuthRequest *r, void **state)
{
  (void)d, (void)r, (void)state;
  return true;
}

static void mech_finish(void *d, void *state)
{
  (void)d, (void)state;
}

static PoplarPassdbResult passdb_verify(void *d, PoplarAuthRequest *r,
                                        const char *pw)
{
  (void)d, (void)r, (void)pw;
  return POPLAR_PASSDB_NO_SUCH_USER;
}

static PoplarVerdict hook_connect(void *d, PoplarSession *s)
{
  (void)d, (void)s;
  return POPLAR_CONTINUE;
}

/* sizeof a pointer to the table instead of the table: refused, for each of
 * the four kinds, with the table's type and both sizes. */
static void test_tiny_size(Fixture *f, gconstpointer data)
{
  (void)data;
  const PoplarHookOps hooks = {.connect = hook_connect};
  const PoplarHookOps *hooks_ptr = &hooks;
  g_assert_false(poplar_register_hook(f->plugin, hooks_ptr,
                                      sizeof hooks_ptr, NULL));
  g_autofree char *given = g_strdup_printf("ops_size %zu,", sizeof hooks_ptr);
  g_autofree char *known = g_strdup_printf(
      "smaller than ABI 1.0's PoplarHookOps (%zu bytes)",
      sizeof(PoplarHookOps));
  assert_one_error(f, (const char *[]){"hook", "PoplarHookOps", given, known,
                                       "sizeof", NULL});
  g_assert_cmpuint(f->registry->hooks->len, ==, 0);
  g_assert_false(poplarpriv_plugin_init_done(f->plugin, true));

  g_ptr_array_set_size(f->file->errors, 0);
  const PoplarPassdbOps passdb = {.verify_plain = passdb_verify};
  g_assert_false(poplar_register_passdb(f->plugin, "x", &passdb,
                                        sizeof(void *), NULL));
  assert_one_error(f, (const char *[]){"passdb", "PoplarPassdbOps", NULL});

  g_ptr_array_set_size(f->file->errors, 0);
  g_assert_false(poplar_register_store(f->plugin, "x", &full_store,
                                       sizeof(void *), NULL));
  assert_one_error(f, (const char *[]){"store", "PoplarStoreOps", NULL});

  g_ptr_array_set_size(f->file->errors, 0);
  const PoplarSaslMechOps mech = {0};
  g_assert_false(poplar_register_sasl_mechanism(f->plugin, "X-MECH", 0,
                                                &mech, sizeof(void *), NULL));
  assert_one_error(f, (const char *[]){"SASL mechanism", "PoplarSaslMechOps",
                                       NULL});
  g_assert_cmpuint(f->registry->passdbs->len, ==, 0);
  g_assert_cmpuint(f->registry->stores->len, ==, 0);
  g_assert_cmpuint(f->registry->mechs->len, ==, 0);
  g_assert_cmpuint(f->plugin->refused, ==, 4);
}

/* One short of the 1.0 table is refused; the 1.0 table itself is taken. */
static void test_size_boundary(Fixture *f, gconstpointer data)
{
  (void)data;
  const PoplarHookOps hooks = {.connect = hook_connect};
  g_assert_false(poplar_register_hook(f->plugin, &hooks,
                                      sizeof(PoplarHookOps) - 1, NULL));
  g_assert_cmpuint(f->file->errors->len, ==, 1);
  g_assert_true(poplar_register_hook(f->plugin, &hooks, sizeof hooks, NULL));
  g_assert_cmpuint(f->registry->hooks->len, ==, 1);
  g_assert_cmpuint(f->plugin->registered, ==, 1);
  /* the refusal still fails init, though something was registered */
  g_assert_false(poplarpriv_plugin_init_done(f->plugin, true));
}

/* "leaves a required operation NULL" says which. */
static void test_null_operations_named(Fixture *f, gconstpointer data)
{
  (void)data;
  PoplarStoreOps store = full_store;
  store.message_read = NULL;
  store.expunge = NULL;
  g_assert_false(poplar_register_store(f->plugin, "half", &store,
                                       sizeof store, NULL));
  assert_one_error(f, (const char *[]){"'half:'", "required operation NULL",
                                       "message_read, expunge", NULL});
  g_assert_null(strstr(f->file->errors->pdata[0], "message_open"));
  g_assert_cmpuint(f->registry->stores->len, ==, 0);

  g_ptr_array_set_size(f->file->errors, 0);
  const PoplarSaslMechOps mech = {.start = mech_start, .finish = mech_finish};
  g_assert_false(poplar_register_sasl_mechanism(f->plugin, "X-HALF", 0, &mech,
                                                sizeof mech, NULL));
  assert_one_error(f, (const char *[]){"X-HALF", "required operation NULL: "
                                       "step", NULL});

  g_ptr_array_set_size(f->file->errors, 0);
  const PoplarSaslMechOps empty = {0};
  g_assert_false(poplar_register_sasl_mechanism(f->plugin, "X-EMPTY", 0,
                                                &empty, sizeof empty, NULL));
  assert_one_error(f, (const char *[]){"start, step, finish", NULL});
  g_assert_cmpuint(f->registry->mechs->len, ==, 0);

  /* complete tables are taken */
  g_ptr_array_set_size(f->file->errors, 0);
  g_assert_true(poplar_register_store(f->plugin, "full", &full_store,
                                      sizeof full_store, NULL));
  g_assert_cmpuint(f->file->errors->len, ==, 0);
  g_assert_false(poplarpriv_plugin_init_done(f->plugin, true));
}

/* A plugin whose init registers nothing: a warning naming it, and init
 * still succeeds (a plugin may be loaded for a reason poplard cannot
 * see, but usually the author forgot). */
static void test_nothing_registered(Fixture *f, gconstpointer data)
{
  (void)data;
  f->plugin->registering = false;
  g_assert_true(poplarpriv_plugin_init_done(f->plugin, true));
  g_assert_cmpuint(f->file->errors->len, ==, 0);
  g_assert_cmpuint(f->file->warnings->len, ==, 1);
  const char *w = f->file->warnings->pdata[0];
  g_test_message("warning: %s", w);
  g_assert_nonnull(strstr(w, "[plugin-x]"));
  g_assert_nonnull(strstr(w, "plugin plugin-x registered nothing"));
  g_assert_nonnull(strstr(w, "poplar_register_"));

  /* a failed init is reported as such, not as "registered nothing" */
  g_ptr_array_set_size(f->file->warnings, 0);
  g_assert_false(poplarpriv_plugin_init_done(f->plugin, false));
  g_assert_cmpuint(f->file->warnings->len, ==, 0);

  /* without a configuration (a plugin driven by a test), a log line */
  f->plugin->config = NULL;
  g_assert_true(poplarpriv_plugin_init_done(f->plugin, true));
  g_assert_cmpuint(log_lines->len, ==, 1);
  g_assert_true(g_str_has_prefix(log_lines->pdata[0], "1|plugin-x|"));
  g_assert_nonnull(strstr(log_lines->pdata[0], "registered nothing"));

  /* one table is enough */
  g_ptr_array_set_size(log_lines, 0);
  f->plugin->registering = true;
  const PoplarHookOps hooks = {.connect = hook_connect};
  g_assert_true(poplar_register_hook(f->plugin, &hooks, sizeof hooks, NULL));
  g_assert_true(poplarpriv_plugin_init_done(f->plugin, true));
  g_assert_cmpuint(log_lines->len, ==, 0);
  g_assert_cmpuint(f->file->warnings->len, ==, 0);
}

/* Other refusals inside init are configuration errors too, and fail
 * init. */
static void test_other_refusals(Fixture *f, gconstpointer data)
{
  (void)data;
  g_assert_false(poplar_register_store(f->plugin, "bad scheme!", &full_store,
                                       sizeof full_store, NULL));
  assert_one_error(f, (const char *[]){"bad scheme!", NULL});
  g_assert_false(poplarpriv_plugin_init_done(f->plugin, true));

  /* outside init: only logged, and nothing counted against an init */
  g_ptr_array_set_size(f->file->errors, 0);
  f->plugin->refused = 0;
  f->plugin->registering = false;
  g_assert_false(poplar_register_store(f->plugin, "late", &full_store,
                                       sizeof full_store, NULL));
  g_assert_cmpuint(f->file->errors->len, ==, 0);
  g_assert_cmpuint(log_lines->len, ==, 1);
  g_assert_nonnull(strstr(log_lines->pdata[0], "outside init"));
  g_assert_cmpuint(f->plugin->refused, ==, 0);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  log_lines = g_ptr_array_new_with_free_func(g_free);
  poplarpriv_set_log_handler(capture_log);
#define ADD(path, fn) \
  g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD("/registry/tiny-size", test_tiny_size);
  ADD("/registry/size-boundary", test_size_boundary);
  ADD("/registry/null-operations-named", test_null_operations_named);
  ADD("/registry/nothing-registered", test_nothing_registered);
  ADD("/registry/other-refusals", test_other_refusals);
#undef ADD
  int r = g_test_run();
  poplarpriv_set_log_handler(NULL);
  g_ptr_array_unref(log_lines);
  return r;
}
