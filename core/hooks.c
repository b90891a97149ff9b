/* SPDX-License-Identifier: MIT */
#include "hooks.h"

#include <stddef.h>

#include "stats-points.h"

static const size_t hook_offsets[POPLAR_HOOK_N_POINTS] = {
    [POPLAR_HOOK_CONNECT] = offsetof(PoplarHookOps, connect),
    [POPLAR_HOOK_TLS] = offsetof(PoplarHookOps, tls),
    [POPLAR_HOOK_AUTH_BEFORE] = offsetof(PoplarHookOps, auth_before),
    [POPLAR_HOOK_AUTH_AFTER] = offsetof(PoplarHookOps, auth_after),
    [POPLAR_HOOK_MAILBOX_OPEN] = offsetof(PoplarHookOps, mailbox_open),
    [POPLAR_HOOK_MESSAGE_RETRIEVE] = offsetof(PoplarHookOps, message_retrieve),
    [POPLAR_HOOK_MESSAGE_DELETE] = offsetof(PoplarHookOps, message_delete),
    [POPLAR_HOOK_UPDATE_BEFORE] = offsetof(PoplarHookOps, update_before),
    [POPLAR_HOOK_UPDATE_AFTER] = offsetof(PoplarHookOps, update_after),
    [POPLAR_HOOK_DISCONNECT] = offsetof(PoplarHookOps, disconnect),
    [POPLAR_HOOK_MESSAGE_SENT] = offsetof(PoplarHookOps, message_sent),
    [POPLAR_HOOK_RSET] = offsetof(PoplarHookOps, rset),
};

static const char *const hook_names[POPLAR_HOOK_N_POINTS] = {
    "connect",          "tls",           "auth_before",    "auth_after",
    "mailbox_open",     "message_retrieve", "message_delete",
    "update_before",    "update_after",  "disconnect",
    "message_sent",     "rset",
};

const char *poplard_hook_point_name(PoplarHookPoint point)
{
  return hook_names[point];
}

bool poplard_hooks_present(const PoplarRegistry *registry,
                          PoplarHookPoint point)
{
  return poplarpriv_registry_has_hook(registry, hook_offsets[point]);
}

/* Points whose verdict is only informative. */
static bool notification_only(PoplarHookPoint point)
{
  return point == POPLAR_HOOK_UPDATE_AFTER ||
         point == POPLAR_HOOK_DISCONNECT ||
         point == POPLAR_HOOK_MESSAGE_SENT || point == POPLAR_HOOK_RSET;
}

static PoplarVerdict call_one(const PoplarHookEntry *e, PoplarSession *s,
                              PoplarHookPoint point, const PoplarHookArgs *a,
                              bool *called)
{
  const PoplarHookOps *o = &e->ops;
  *called = true;
  switch (point) {
  case POPLAR_HOOK_CONNECT:
    if (o->connect)
      return o->connect(e->data, s);
    break;
  case POPLAR_HOOK_TLS:
    if (o->tls)
      return o->tls(e->data, s);
    break;
  case POPLAR_HOOK_AUTH_BEFORE:
    if (o->auth_before)
      return o->auth_before(e->data, s, a->req);
    break;
  case POPLAR_HOOK_AUTH_AFTER:
    if (o->auth_after)
      return o->auth_after(e->data, s, a->req, a->outcome);
    break;
  case POPLAR_HOOK_MAILBOX_OPEN:
    if (o->mailbox_open)
      return o->mailbox_open(e->data, s, a->mbox);
    break;
  case POPLAR_HOOK_MESSAGE_RETRIEVE:
    if (o->message_retrieve)
      return o->message_retrieve(e->data, s, a->msg, a->top_lines);
    break;
  case POPLAR_HOOK_MESSAGE_DELETE:
    if (o->message_delete)
      return o->message_delete(e->data, s, a->msg);
    break;
  case POPLAR_HOOK_UPDATE_BEFORE:
    if (o->update_before)
      return o->update_before(e->data, s, a->mbox);
    break;
  case POPLAR_HOOK_UPDATE_AFTER:
    if (o->update_after)
      return o->update_after(e->data, s, a->mbox, a->committed);
    break;
  case POPLAR_HOOK_DISCONNECT:
    if (o->disconnect)
      return o->disconnect(e->data, s, a->reason);
    break;
  case POPLAR_HOOK_MESSAGE_SENT:
    if (o->message_sent)
      return o->message_sent(e->data, s, a->msg, a->top_lines, a->octets,
                             a->complete);
    break;
  case POPLAR_HOOK_RSET:
    if (o->rset)
      return o->rset(e->data, s, a->mbox);
    break;
  case POPLAR_HOOK_N_POINTS:
    break;
  }
  *called = false;
  return POPLAR_CONTINUE;
}

static char *build_reply(PoplarSession *s, PoplarVerdict v)
{
  const char *code = s->reply_code;
  const char *text = s->reply_text;
  if (v == POPLAR_TEMPFAIL)
    return g_strdup_printf("-ERR [SYS/TEMP] %s",
                           text ? text : "Temporary failure, try again later");
  if (!text)
    text = "Refused by server policy";
  if (code)
    return g_strdup_printf("-ERR [%s] %s", code, text);
  return g_strdup_printf("-ERR %s", text);
}

PoplarVerdict poplard_hooks_run(const PoplarRegistry *registry,
                               PoplarSession *s, PoplarHookPoint point,
                               const PoplarHookArgs *args, char **reply)
{
  *reply = NULL;
  for (guint i = 0; i < registry->hooks->len; i++) {
    const PoplarHookEntry *e = g_ptr_array_index(registry->hooks, i);
    bool called = false;
    poplarpriv_session_clear_reply(s);
    int64_t started = g_get_monotonic_time();
    PoplarVerdict v = call_one(e, s, point, args, &called);
    if (called) {
      g_autofree char *op = g_strconcat("hook_", hook_names[point], NULL);
      poplard_stats_plugin_call(e->plugin->name, op,
                                (double)(g_get_monotonic_time() - started) /
                                    1e6);
    }
    if (!called || notification_only(point))
      continue;
    switch (v) {
    case POPLAR_CONTINUE:
      continue;
    case POPLAR_ACCEPT:
      poplarpriv_session_clear_reply(s);
      return POPLAR_CONTINUE;
    case POPLAR_REJECT:
    case POPLAR_TEMPFAIL:
    case POPLAR_DISCONNECT:
      poplarpriv_log(s->id, POPLAR_LOG_INFO, "%s hook of %s: %s%s%s",
                     hook_names[point], e->plugin->name,
                     v == POPLAR_REJECT ? "reject"
                     : v == POPLAR_TEMPFAIL ? "tempfail" : "disconnect",
                     s->reply_text ? ": " : "",
                     s->reply_text ? s->reply_text : "");
      *reply = build_reply(s, v);
      poplarpriv_session_clear_reply(s);
      return v;
    }
    /* A value outside the enum must never let a refused step through. */
    poplarpriv_log(s->id, POPLAR_LOG_ERROR,
                   "%s hook of %s returned invalid verdict %d: treated as "
                   "tempfail", hook_names[point], e->plugin->name, (int)v);
    *reply = build_reply(s, POPLAR_TEMPFAIL);
    poplarpriv_session_clear_reply(s);
    return POPLAR_TEMPFAIL;
  }
  poplarpriv_session_clear_reply(s);
  return POPLAR_CONTINUE;
}
