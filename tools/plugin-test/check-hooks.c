/* SPDX-License-Identifier: MIT */
/*
 * The hook contract: every point the plugin implements is called in the
 * order of a real session (connect, tls, auth_before, auth_after,
 * mailbox_open, message_retrieve, message_sent, message_delete, rset,
 * update_before, update_after, disconnect) with the arguments
 * poplar/hook.h documents, through the core's own poplard_hooks_run();
 * every verdict must be one of PoplarVerdict; many sessions run at once
 * on the pool; and after fini the plugin calls nothing any more.  The
 * mailbox the hooks see comes from a small store of the kit's own, so a
 * hook plugin is checked without any store plugin.
 */
#include "kit.h"

#include <string.h>

#include "hooks.h"

/* ---- the kit's mailbox: three fixed messages in memory ------------------- */

static const char *const fixture[] = {
    "Subject: one\n\nfirst\n",
    "Subject: two\r\nX-Spam: no\r\n\r\nsecond\r\n",
    "Subject: three\n\n.dot\nthird",
};

typedef struct FixtureStream {
  const char *text;
  size_t pos;
} FixtureStream;

static PoplarStoreResult fixture_open(void *data, PoplarMailbox *mbox,
                                      const char *location)
{
  (void)data;
  (void)location;
  for (size_t i = 0; i < G_N_ELEMENTS(fixture); i++) {
    PoplarCrlfSize size;
    poplar_crlf_size_init(&size);
    poplar_crlf_size_feed(&size, fixture[i], strlen(fixture[i]));
    char uidl[16];
    g_snprintf(uidl, sizeof uidl, "kit-%zu", i + 1);
    poplar_mailbox_add_message(mbox, uidl, poplar_crlf_size_finish(&size),
                               (void *)fixture[i]);
  }
  return POPLAR_STORE_OK;
}

static PoplarStoreResult fixture_message_open(void *data, PoplarMailbox *mbox,
                                              PoplarMessage *msg,
                                              void **stream)
{
  (void)data;
  (void)mbox;
  FixtureStream *fs = g_new0(FixtureStream, 1);
  fs->text = poplar_message_get_data(msg);
  *stream = fs;
  return POPLAR_STORE_OK;
}

static int64_t fixture_read(void *data, void *stream, char *buf, size_t len)
{
  (void)data;
  FixtureStream *fs = stream;
  size_t left = strlen(fs->text) - fs->pos;
  size_t n = MIN(left, len);
  memcpy(buf, fs->text + fs->pos, n);
  fs->pos += n;
  return (int64_t)n;
}

static void fixture_message_close(void *data, void *stream)
{
  (void)data;
  g_free(stream);
}

static PoplarStoreResult fixture_expunge(void *data, PoplarMailbox *mbox)
{
  (void)data;
  for (size_t i = 0; i < poplar_mailbox_message_count(mbox); i++) {
    PoplarMessage *msg = poplar_mailbox_message(mbox, i);
    if (poplar_message_is_deleted(msg))
      poplar_message_set_expunged(msg, true);
  }
  return POPLAR_STORE_OK;
}

static void fixture_close(void *data, PoplarMailbox *mbox)
{
  (void)data;
  (void)mbox;
}

/* ---- one session ------------------------------------------------------------ */

typedef struct HookRun {
  KitPlugin *kp;
  PoplarStoreEntry store;
  PoplarPlugin kit_plugin;
  char **failures; /* per session */
} HookRun;

static const char *const verdict_names[] = {"CONTINUE", "ACCEPT", "REJECT",
                                            "TEMPFAIL", "DISCONNECT"};

/* Runs @point; records in @trace what came of it.  Returns the verdict. */
static PoplarVerdict run_point(HookRun *hr, PoplarSession *s,
                               PoplarHookPoint point,
                               const PoplarHookArgs *args, GString *trace)
{
  if (!poplard_hooks_present(hr->kp->registry, point))
    return POPLAR_CONTINUE;
  char *reply = NULL;
  PoplarVerdict v =
      poplard_hooks_run(hr->kp->registry, s, point, args, &reply);
  g_string_append_printf(trace, "%s%s=%s%s%s", trace->len ? " " : "",
                         poplard_hook_point_name(point),
                         (unsigned)v < G_N_ELEMENTS(verdict_names)
                             ? verdict_names[v]
                             : "?",
                         reply ? " " : "", reply ? reply : "");
  g_free(reply);
  return v;
}

/* A whole session as the core runs one, stopping where a verdict would
 * stop the core.  Returns NULL, or what went wrong. */
static char *one_session(HookRun *hr, GString *trace)
{
  PoplarSession *s = kit_session_new(NULL);
  s->tls = true;
  s->tls_version = g_strdup("TLS1.3");
  s->tls_cipher = g_strdup("AES-256-GCM");
  PoplarHookArgs args = {0};
  PoplarVerdict v = run_point(hr, s, POPLAR_HOOK_CONNECT, &args, trace);
  if (v == POPLAR_CONTINUE)
    v = run_point(hr, s, POPLAR_HOOK_TLS, &args, trace);
  PoplarMailbox *mbox = NULL;
  if (v == POPLAR_CONTINUE) {
    PoplarAuthRequest *req =
        poplarpriv_auth_request_new(s, "USER", "kit-user");
    args.req = req;
    v = run_point(hr, s, POPLAR_HOOK_AUTH_BEFORE, &args, trace);
    args.outcome = v == POPLAR_CONTINUE ? POPLAR_AUTH_SUCCEEDED
                                        : POPLAR_AUTH_FAILED;
    PoplarVerdict after =
        run_point(hr, s, POPLAR_HOOK_AUTH_AFTER, &args, trace);
    if (v == POPLAR_CONTINUE)
      v = after;
    args.req = NULL;
    poplarpriv_auth_request_free(req);
  }
  if (v == POPLAR_CONTINUE) {
    poplarpriv_session_set_user(s, "kit-user");
    mbox = poplarpriv_mailbox_new(s, &hr->store, "kit-user", "fixture",
                                  NULL);
    s->mailbox = mbox;
    poplarpriv_mailbox_open(mbox);
    args.mbox = mbox;
    v = run_point(hr, s, POPLAR_HOOK_MAILBOX_OPEN, &args, trace);
    poplarpriv_mailbox_number(mbox);
  }
  bool committed = false;
  if (v == POPLAR_CONTINUE && mbox->n_visible > 0) {
    args.msg = mbox->visible[0];
    args.top_lines = -1;
    if (run_point(hr, s, POPLAR_HOOK_MESSAGE_RETRIEVE, &args, trace) ==
        POPLAR_CONTINUE) {
      args.octets = args.msg->size + 3;
      args.complete = true;
      run_point(hr, s, POPLAR_HOOK_MESSAGE_SENT, &args, trace);
    }
    args.top_lines = 0;
    run_point(hr, s, POPLAR_HOOK_MESSAGE_RETRIEVE, &args, trace);
    if (run_point(hr, s, POPLAR_HOOK_MESSAGE_DELETE, &args, trace) ==
        POPLAR_CONTINUE)
      args.msg->deleted = true;
    run_point(hr, s, POPLAR_HOOK_RSET, &args, trace);
    for (size_t i = 0; i < mbox->n_visible; i++)
      mbox->visible[i]->deleted = false;
    args.msg = mbox->visible[mbox->n_visible - 1];
    if (run_point(hr, s, POPLAR_HOOK_MESSAGE_DELETE, &args, trace) ==
        POPLAR_CONTINUE)
      args.msg->deleted = true;
    args.msg = NULL;
    if (run_point(hr, s, POPLAR_HOOK_UPDATE_BEFORE, &args, trace) ==
        POPLAR_CONTINUE) {
      unsigned removed = 0;
      uint64_t octets = 0;
      committed = poplarpriv_store_expunge(mbox, &removed, &octets) ==
                  POPLAR_STORE_OK;
      args.committed = committed;
      run_point(hr, s, POPLAR_HOOK_UPDATE_AFTER, &args, trace);
    }
  }
  args.reason = POPLAR_DISCONNECT_QUIT;
  run_point(hr, s, POPLAR_HOOK_DISCONNECT, &args, trace);
  /* The session is over: its mailbox and slots go, as in session-end.c. */
  if (mbox)
    poplarpriv_mailbox_free(mbox);
  s->mailbox = NULL;
  g_autofree char *log = kit_log_take(s->id, POPLAR_LOG_ERROR);
  char *why = NULL;
  if (strstr(log, "invalid verdict"))
    why = g_strdup(log);
  kit_session_free(s);
  return why;
}

static void session_thread(unsigned index, void *data)
{
  HookRun *hr = data;
  g_autoptr(GString) trace = g_string_new(NULL);
  for (unsigned round = 0; round < 10 && !hr->failures[index]; round++) {
    g_string_truncate(trace, 0);
    hr->failures[index] = one_session(hr, trace);
  }
}

void kit_check_hooks(KitPlugin *kp, const KitOptions *opts,
                     KitReport *report)
{
  if (kp->registry->hooks->len == 0)
    return;
  HookRun hr = {.kp = kp};
  hr.kit_plugin.name = (char *)"poplar-plugin-test";
  hr.store.plugin = &hr.kit_plugin;
  hr.store.scheme = (char *)"fixture";
  hr.store.ops = (PoplarStoreOps){
      .open = fixture_open,
      .message_open = fixture_message_open,
      .message_read = fixture_read,
      .message_close = fixture_message_close,
      .expunge = fixture_expunge,
      .close = fixture_close,
  };

  g_autoptr(GString) trace = g_string_new(NULL);
  g_autofree char *why = one_session(&hr, trace);
  if (why)
    kit_fail(report, "hook.verdicts", "%s", why);
  else
    kit_pass(report, "hook.verdicts", "%s", trace->str);

  unsigned n = (unsigned)opts->threads;
  hr.failures = g_new0(char *, n);
  GError *error = NULL;
  if (!kit_run_parallel(n, session_thread, &hr, &error)) {
    kit_fail(report, "hook.threads", "thread pool: %s", error->message);
    g_error_free(error);
  } else {
    const char *first = NULL;
    for (unsigned i = 0; i < n && !first; i++)
      first = hr.failures[i];
    kit_check(report, !first, "hook.threads", "%s", first);
  }
  for (unsigned i = 0; i < n; i++)
    g_free(hr.failures[i]);
  g_free(hr.failures);
}
