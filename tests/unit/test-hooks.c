/* SPDX-License-Identifier: MIT */
/*
 * Hook verdicts turned into replies (core/hooks.c), and registering ops
 * tables of any size (libpoplar/registry.c).
 */
#include <glib.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include "hooks.h"

/* g_test_message() for text that may hold any octet: TAP wants one line of
 * valid UTF-8. */
static void note(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void note(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *raw = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_autofree char *esc = g_strescape(raw, NULL);
  g_test_message("%s", esc);
}

static GPtrArray *log_lines;

static void capture_log(PoplarLogLevel level, const char *session_id,
                        const char *plugin, const char *message)
{
  g_ptr_array_add(log_lines,
                  g_strdup_printf("%d|%s|%s|%s", (int)level,
                                  session_id ? session_id : "",
                                  plugin ? plugin : "", message));
}

/* What one hook table does at every point. */
typedef struct Script {
  const char *name;
  int verdict; /* int: out-of-enum values are tested too */
  const char *code, *text; /* for poplar_hook_reply(), text NULL: none */
  GString *trace;          /* shared: "name:point " per call */
  /* the arguments last seen */
  PoplarSession *session;
  PoplarAuthRequest *req;
  PoplarAuthOutcome outcome;
  PoplarMailbox *mbox;
  PoplarMessage *msg;
  long top_lines;
  bool committed;
  PoplarDisconnectReason reason;
  uint64_t octets;
  bool complete;
} Script;

static PoplarVerdict act(Script *sc, PoplarSession *s, const char *point)
{
  sc->session = s;
  g_string_append_printf(sc->trace, "%s:%s ", sc->name, point);
  if (sc->text)
    poplar_hook_reply(s, sc->code, "%s", sc->text);
  return (PoplarVerdict)sc->verdict;
}

static PoplarVerdict h_connect(void *d, PoplarSession *s)
{
  return act(d, s, "connect");
}

static PoplarVerdict h_tls(void *d, PoplarSession *s)
{
  return act(d, s, "tls");
}

static PoplarVerdict h_auth_before(void *d, PoplarSession *s,
                                   PoplarAuthRequest *req)
{
  ((Script *)d)->req = req;
  return act(d, s, "auth_before");
}

static PoplarVerdict h_auth_after(void *d, PoplarSession *s,
                                  PoplarAuthRequest *req,
                                  PoplarAuthOutcome outcome)
{
  ((Script *)d)->req = req;
  ((Script *)d)->outcome = outcome;
  return act(d, s, "auth_after");
}

static PoplarVerdict h_mailbox_open(void *d, PoplarSession *s,
                                    PoplarMailbox *mbox)
{
  ((Script *)d)->mbox = mbox;
  return act(d, s, "mailbox_open");
}

static PoplarVerdict h_message_retrieve(void *d, PoplarSession *s,
                                        PoplarMessage *msg, long top_lines)
{
  ((Script *)d)->msg = msg;
  ((Script *)d)->top_lines = top_lines;
  return act(d, s, "message_retrieve");
}

static PoplarVerdict h_message_delete(void *d, PoplarSession *s,
                                      PoplarMessage *msg)
{
  ((Script *)d)->msg = msg;
  return act(d, s, "message_delete");
}

static PoplarVerdict h_update_before(void *d, PoplarSession *s,
                                     PoplarMailbox *mbox)
{
  ((Script *)d)->mbox = mbox;
  return act(d, s, "update_before");
}

static PoplarVerdict h_update_after(void *d, PoplarSession *s,
                                    PoplarMailbox *mbox, bool committed)
{
  ((Script *)d)->mbox = mbox;
  ((Script *)d)->committed = committed;
  return act(d, s, "update_after");
}

static PoplarVerdict h_disconnect(void *d, PoplarSession *s,
                                  PoplarDisconnectReason reason)
{
  ((Script *)d)->reason = reason;
  return act(d, s, "disconnect");
}

static PoplarVerdict h_message_sent(void *d, PoplarSession *s,
                                    PoplarMessage *msg, long top_lines,
                                    uint64_t octets, bool complete)
{
  Script *sc = d;
  sc->msg = msg;
  sc->top_lines = top_lines;
  sc->octets = octets;
  sc->complete = complete;
  return act(d, s, "message_sent");
}

static PoplarVerdict h_rset(void *d, PoplarSession *s, PoplarMailbox *mbox)
{
  ((Script *)d)->mbox = mbox;
  return act(d, s, "rset");
}

static unsigned destroyed;
static void h_destroy(void *d)
{
  (void)d;
  destroyed++;
}

static const PoplarHookOps all_ops = {
    .connect = h_connect,
    .tls = h_tls,
    .auth_before = h_auth_before,
    .auth_after = h_auth_after,
    .mailbox_open = h_mailbox_open,
    .message_retrieve = h_message_retrieve,
    .message_delete = h_message_delete,
    .update_before = h_update_before,
    .update_after = h_update_after,
    .disconnect = h_disconnect,
    .message_sent = h_message_sent,
    .rset = h_rset,
    .destroy = h_destroy,
};

typedef struct Fixture {
  PoplarRegistry *registry;
  PoplarSession session;
  GString *trace;
  Script scripts[3];
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
  (void)data;
  g_ptr_array_set_size(log_lines, 0);
  f->registry = poplarpriv_registry_new();
  memset(&f->session, 0, sizeof f->session);
  g_strlcpy(f->session.id, "hooks-1", sizeof f->session.id);
  f->trace = g_string_new(NULL);
  static const char *const names[] = {"h1", "h2", "h3"};
  for (int i = 0; i < 3; i++) {
    memset(&f->scripts[i], 0, sizeof f->scripts[i]);
    f->scripts[i].name = names[i];
    f->scripts[i].verdict = POPLAR_CONTINUE;
    f->scripts[i].trace = f->trace;
  }
  destroyed = 0;
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
  (void)data;
  poplarpriv_registry_free(f->registry);
  poplarpriv_session_clear(&f->session);
  g_string_free(f->trace, TRUE);
}

/* Registers @n scripted hook tables, one plugin each, as their init would. */
static void register_hooks(Fixture *f, int n)
{
  for (int i = 0; i < n; i++) {
    g_autofree char *name = g_strdup_printf("plugin-%s",
                                            f->scripts[i].name);
    PoplarPlugin *p = poplarpriv_plugin_new(f->registry, name, "/x.so");
    p->registering = true;
    g_assert_true(
        poplar_register_hook(p, &all_ops, sizeof all_ops, &f->scripts[i]));
    p->registering = false;
  }
}

static PoplarVerdict run(Fixture *f, PoplarHookPoint point, char **reply)
{
  PoplarHookArgs args = {0};
  g_string_truncate(f->trace, 0);
  PoplarVerdict v =
      poplard_hooks_run(f->registry, &f->session, point, &args, reply);
  /* the hooks' reply never outlives the run */
  g_assert_null(f->session.reply_code);
  g_assert_null(f->session.reply_text);
  return v;
}

static void test_no_hooks(Fixture *f, gconstpointer data)
{
  (void)data;
  for (int p = 0; p < POPLAR_HOOK_N_POINTS; p++) {
    g_assert_false(poplard_hooks_present(f->registry, (PoplarHookPoint)p));
    char *reply = (char *)"garbage";
    g_assert_cmpint(run(f, (PoplarHookPoint)p, &reply), ==, POPLAR_CONTINUE);
    g_assert_null(reply);
  }
}

static void test_all_continue(Fixture *f, gconstpointer data)
{
  (void)data;
  register_hooks(f, 3);
  for (int p = 0; p < POPLAR_HOOK_N_POINTS; p++) {
    g_assert_true(poplard_hooks_present(f->registry, (PoplarHookPoint)p));
    char *reply = NULL;
    g_assert_cmpint(run(f, (PoplarHookPoint)p, &reply), ==, POPLAR_CONTINUE);
    g_assert_null(reply);
    const char *name = poplard_hook_point_name((PoplarHookPoint)p);
    g_autofree char *want =
        g_strdup_printf("h1:%s h2:%s h3:%s ", name, name, name);
    g_assert_cmpstr(f->trace->str, ==, want);
  }
}

/* ACCEPT skips the remaining hooks of the point; its reply is dropped. */
static void test_accept(Fixture *f, gconstpointer data)
{
  (void)data;
  register_hooks(f, 3);
  f->scripts[1].verdict = POPLAR_ACCEPT;
  f->scripts[1].text = "ignored";
  f->scripts[2].verdict = POPLAR_REJECT;
  char *reply = NULL;
  g_assert_cmpint(run(f, POPLAR_HOOK_CONNECT, &reply), ==, POPLAR_CONTINUE);
  g_assert_null(reply);
  g_assert_cmpstr(f->trace->str, ==, "h1:connect h2:connect ");
}

typedef struct VerdictCase {
  int verdict;
  const char *code, *text;
  PoplarVerdict want;
  const char *want_reply;
} VerdictCase;

static const VerdictCase verdict_cases[] = {
    {POPLAR_REJECT, "AUTH", "Not today", POPLAR_REJECT,
     "-ERR [AUTH] Not today"},
    {POPLAR_REJECT, NULL, "Not today", POPLAR_REJECT, "-ERR Not today"},
    {POPLAR_REJECT, NULL, NULL, POPLAR_REJECT,
     "-ERR Refused by server policy"},
    {POPLAR_REJECT, "bad code!", "Text", POPLAR_REJECT, "-ERR Text"},
    {POPLAR_REJECT, "AUTH", "two\r\nlines", POPLAR_REJECT,
     "-ERR [AUTH] two  lines"},
    {POPLAR_TEMPFAIL, NULL, NULL, POPLAR_TEMPFAIL,
     "-ERR [SYS/TEMP] Temporary failure, try again later"},
    {POPLAR_TEMPFAIL, "AUTH", "Backend down", POPLAR_TEMPFAIL,
     "-ERR [SYS/TEMP] Backend down"},
    {POPLAR_DISCONNECT, "SYS/PERM", "Go away", POPLAR_DISCONNECT,
     "-ERR [SYS/PERM] Go away"},
    {POPLAR_DISCONNECT, NULL, NULL, POPLAR_DISCONNECT,
     "-ERR Refused by server policy"},
    /* a verdict outside the enum never lets the step through */
    {42, NULL, NULL, POPLAR_TEMPFAIL,
     "-ERR [SYS/TEMP] Temporary failure, try again later"},
    {-1, "AUTH", "x", POPLAR_TEMPFAIL, "-ERR [SYS/TEMP] x"},
};

static void test_verdicts(Fixture *f, gconstpointer data)
{
  (void)data;
  register_hooks(f, 3);
  for (size_t i = 0; i < G_N_ELEMENTS(verdict_cases); i++) {
    const VerdictCase *c = &verdict_cases[i];
    note("verdict %d code %s text %s", c->verdict,
                   c->code ? c->code : "-", c->text ? c->text : "-");
    /* the first hook continues but leaves a reply behind: not used */
    f->scripts[0].text = "left over";
    f->scripts[0].code = "LEFT";
    f->scripts[1].verdict = c->verdict;
    f->scripts[1].code = c->code;
    f->scripts[1].text = c->text;
    g_ptr_array_set_size(log_lines, 0);
    char *reply = NULL;
    g_assert_cmpint(run(f, POPLAR_HOOK_AUTH_BEFORE, &reply), ==, c->want);
    g_assert_cmpstr(reply, ==, c->want_reply);
    g_free(reply);
    /* the third hook is not asked */
    g_assert_cmpstr(f->trace->str, ==, "h1:auth_before h2:auth_before ");
    /* every refusal is logged with the session and the plugin */
    g_assert_cmpuint(log_lines->len, ==, 1);
    g_assert_nonnull(strstr(log_lines->pdata[0], "hooks-1"));
    g_assert_nonnull(strstr(log_lines->pdata[0], "plugin-h2"));
  }
}

/* update_after, disconnect, message_sent and rset only notify: every
 * hook runs, refusals are ignored. */
static void test_notification_only(Fixture *f, gconstpointer data)
{
  (void)data;
  static const PoplarHookPoint points[] = {
      POPLAR_HOOK_UPDATE_AFTER, POPLAR_HOOK_DISCONNECT,
      POPLAR_HOOK_MESSAGE_SENT, POPLAR_HOOK_RSET};
  register_hooks(f, 3);
  f->scripts[0].verdict = POPLAR_REJECT;
  f->scripts[1].verdict = POPLAR_DISCONNECT;
  f->scripts[1].text = "ignored";
  f->scripts[2].verdict = 99;
  char *reply = NULL;
  for (size_t i = 0; i < G_N_ELEMENTS(points); i++) {
    g_ptr_array_set_size(log_lines, 0);
    g_assert_cmpint(run(f, points[i], &reply), ==, POPLAR_CONTINUE);
    g_assert_null(reply);
    const char *name = poplard_hook_point_name(points[i]);
    g_autofree char *want =
        g_strdup_printf("h1:%s h2:%s h3:%s ", name, name, name);
    g_assert_cmpstr(f->trace->str, ==, want);
  }
  /* the others do refuse */
  g_assert_cmpint(run(f, POPLAR_HOOK_UPDATE_BEFORE, &reply), ==,
                  POPLAR_REJECT);
  g_free(reply);
}

static void test_arguments(Fixture *f, gconstpointer data)
{
  (void)data;
  register_hooks(f, 1);
  Script *sc = &f->scripts[0];
  PoplarAuthRequest *req = (PoplarAuthRequest *)0x1000;
  PoplarMailbox *mbox = (PoplarMailbox *)0x2000;
  PoplarMessage *msg = (PoplarMessage *)0x3000;
  PoplarHookArgs args = {
      .req = req,
      .outcome = POPLAR_AUTH_TEMPFAILED,
      .mbox = mbox,
      .msg = msg,
      .top_lines = 7,
      .octets = 12345,
      .complete = true,
      .committed = true,
      .reason = POPLAR_DISCONNECT_TIMEOUT,
  };
  char *reply = NULL;
  for (int p = 0; p < POPLAR_HOOK_N_POINTS; p++) {
    g_assert_cmpint(poplard_hooks_run(f->registry, &f->session,
                                     (PoplarHookPoint)p, &args, &reply),
                    ==, POPLAR_CONTINUE);
    g_assert_true(sc->session == &f->session);
  }
  g_assert_true(sc->req == req);
  g_assert_cmpint(sc->outcome, ==, POPLAR_AUTH_TEMPFAILED);
  g_assert_true(sc->mbox == mbox);
  g_assert_true(sc->msg == msg);
  g_assert_cmpint(sc->top_lines, ==, 7);
  g_assert_true(sc->committed);
  g_assert_cmpint(sc->reason, ==, POPLAR_DISCONNECT_TIMEOUT);
  g_assert_cmpuint(sc->octets, ==, 12345);
  g_assert_true(sc->complete);
}

static void test_point_names(void)
{
  GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
  for (int p = 0; p < POPLAR_HOOK_N_POINTS; p++) {
    const char *name = poplard_hook_point_name((PoplarHookPoint)p);
    g_assert_nonnull(name);
    g_assert_false(g_hash_table_contains(seen, name));
    g_hash_table_add(seen, (gpointer)name);
  }
  g_assert_cmpstr(poplard_hook_point_name(POPLAR_HOOK_CONNECT), ==, "connect");
  g_assert_cmpstr(poplard_hook_point_name(POPLAR_HOOK_DISCONNECT), ==,
                  "disconnect");
  g_hash_table_unref(seen);
}

/* ---- registering ops tables (libpoplar/registry.c) ---------------------- */

/* No 1.x header has a hook table shorter than 1.0's: a shorter size is a
 * mistake (sizeof a pointer), and registering it would silently drop every
 * hook beyond it.  It is refused, with the sizes in the message. */
static void test_short_ops(Fixture *f, gconstpointer data)
{
  (void)data;
  PoplarPlugin *p = poplarpriv_plugin_new(f->registry, "old", "/old.so");
  p->registering = true;
  g_ptr_array_set_size(log_lines, 0);
  g_assert_false(poplar_register_hook(p, &all_ops,
                                      offsetof(PoplarHookOps, auth_before),
                                      &f->scripts[0]));
  p->registering = false;
  g_assert_cmpuint(f->registry->hooks->len, ==, 0);
  for (int pt = 0; pt < POPLAR_HOOK_N_POINTS; pt++)
    g_assert_false(poplard_hooks_present(f->registry, (PoplarHookPoint)pt));
  g_assert_cmpuint(log_lines->len, ==, 1);
  g_assert_nonnull(strstr(log_lines->pdata[0], "PoplarHookOps"));
  g_assert_nonnull(strstr(log_lines->pdata[0], "smaller than ABI 1.0"));
  poplarpriv_registry_free(f->registry);
  f->registry = poplarpriv_registry_new();
  g_assert_cmpuint(destroyed, ==, 0);
}

/* A table larger than this library knows is cut to what it knows. */
static void test_long_ops(Fixture *f, gconstpointer data)
{
  (void)data;
  struct {
    PoplarHookOps ops;
    void *future[4];
  } big = {all_ops, {(void *)1, (void *)2, (void *)3, (void *)4}};
  PoplarPlugin *p = poplarpriv_plugin_new(f->registry, "new", "/new.so");
  p->registering = true;
  g_assert_true(poplar_register_hook(p, &big.ops, sizeof big, &f->scripts[0]));
  p->registering = false;
  char *reply = NULL;
  g_assert_cmpint(run(f, POPLAR_HOOK_TLS, &reply), ==, POPLAR_CONTINUE);
  g_assert_cmpstr(f->trace->str, ==, "h1:tls ");
  poplarpriv_registry_free(f->registry);
  f->registry = poplarpriv_registry_new();
  g_assert_cmpuint(destroyed, ==, 1);
}

static void test_register_refused(Fixture *f, gconstpointer data)
{
  (void)data;
  PoplarPlugin *p = poplarpriv_plugin_new(f->registry, "late", "/late.so");
  /* outside init */
  g_assert_false(poplar_register_hook(p, &all_ops, sizeof all_ops, NULL));
  p->registering = true;
  g_assert_false(poplar_register_hook(NULL, &all_ops, sizeof all_ops, NULL));
  g_assert_false(poplar_register_hook(p, NULL, sizeof all_ops, NULL));
  g_assert_false(poplar_register_hook(p, &all_ops, 0, NULL));
  p->registering = false;
  g_assert_cmpuint(f->registry->hooks->len, ==, 0);
  g_assert_cmpuint(log_lines->len, ==, 4);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  log_lines = g_ptr_array_new_with_free_func(g_free);
  poplarpriv_set_log_handler(capture_log);
  poplarpriv_set_log_level(POPLAR_LOG_DEBUG);
#define ADD(path, fn) \
  g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD("/hooks/no-hooks", test_no_hooks);
  ADD("/hooks/all-continue", test_all_continue);
  ADD("/hooks/accept", test_accept);
  ADD("/hooks/verdicts", test_verdicts);
  ADD("/hooks/notification-only", test_notification_only);
  ADD("/hooks/arguments", test_arguments);
  ADD("/registry/short-ops", test_short_ops);
  ADD("/registry/long-ops", test_long_ops);
  ADD("/registry/register-refused", test_register_refused);
#undef ADD
  g_test_add_func("/hooks/point-names", test_point_names);
  int r = g_test_run();
  poplarpriv_set_log_handler(NULL);
  g_ptr_array_unref(log_lines);
  return r;
}
