/* SPDX-License-Identifier: MIT */
/*
 * hook-audit: the plugin's configuration and its hooks.  Every hook builds
 * one event and hands it to the writer; none of them waits for a sink.
 * The only verdict this plugin ever gives is at auth_before, under
 * on-error = refuse: while a sink is failing (or the queue is full) new
 * logins get -ERR [SYS/TEMP], so that nobody reads mail unaudited.
 */
#include "audit.h"

#include <string.h>
#include <syslog.h>

#define AUDIT_DEFAULT_QUEUE 10000
#define AUDIT_MAX_QUEUE 10000000
#define AUDIT_DEFAULT_TAG "poplar-audit"
#define AUDIT_DEFAULT_SYSLOG_SOCKET "/dev/log"
#define AUDIT_DEFAULT_JOURNAL_SOCKET "/run/systemd/journal/socket"

/* Implemented in audit-sink-file.c for the start-up check. */
const char *audit_sink_file_error(AuditSink *sink);

typedef struct AuditPlugin {
  PoplarPlugin *plugin;
  AuditWriter *writer;
  bool refuse; /* on-error = refuse */
} AuditPlugin;

/* What one session's events need to remember. */
typedef struct AuditSession {
  unsigned marked;          /* DELE since the last RSET */
  GPtrArray *update_marked; /* UIDLs marked when UPDATE began, until its
                             * outcome is reported */
} AuditSession;

static void session_state_free(void *p)
{
  AuditSession *st = p;
  if (st->update_marked)
    g_ptr_array_unref(st->update_marked);
  g_free(st);
}

static AuditSession *session_state(AuditPlugin *a, PoplarSession *s)
{
  AuditSession *st = poplar_session_get_data(s, a->plugin);
  if (!st) {
    st = g_new0(AuditSession, 1);
    poplar_session_set_data(s, a->plugin, st, session_state_free);
  }
  return st;
}

static void emit(AuditPlugin *a, AuditEvent *ev)
{
  /* A full queue is counted and logged by the writer. */
  audit_writer_submit(a->writer, ev);
}

/* ---- hooks ------------------------------------------------------------ */

static PoplarVerdict on_connect(void *data, PoplarSession *s)
{
  AuditPlugin *a = data;
  AuditEvent *ev = audit_event_new("connect", s);
  audit_event_add_string(ev, "client_address",
                         poplar_session_remote_address(s));
  audit_event_add_uint(ev, "client_port", poplar_session_remote_port(s));
  audit_event_add_string(ev, "local_address",
                         poplar_session_local_address(s));
  audit_event_add_uint(ev, "local_port", poplar_session_local_port(s));
  audit_event_add_bool(ev, "tls", poplar_session_is_tls(s));
  audit_event_add_bool(ev, "trusted", poplar_session_is_trusted(s));
  emit(a, ev);
  return POPLAR_CONTINUE;
}

static PoplarVerdict on_tls(void *data, PoplarSession *s)
{
  AuditPlugin *a = data;
  AuditEvent *ev = audit_event_new("tls", s);
  audit_event_add_string(ev, "tls_version", poplar_session_tls_version(s));
  audit_event_add_string(ev, "tls_cipher", poplar_session_tls_cipher(s));
  audit_event_add_string(ev, "sni", poplar_session_tls_sni(s));
  emit(a, ev);
  return POPLAR_CONTINUE;
}

/* A master login carries both identities: who logged in, and as whom. */
static void add_master_user(AuditEvent *ev, const PoplarAuthRequest *req)
{
  const char *master = poplar_auth_request_master_user(req);
  if (master)
    audit_event_add_string(ev, "master_user", master);
}

static PoplarVerdict on_auth_before(void *data, PoplarSession *s,
                                    PoplarAuthRequest *req)
{
  AuditPlugin *a = data;
  /* Asked before queueing the attempt, which could itself fill the
   * queue. */
  bool healthy = audit_writer_healthy(a->writer);

  AuditEvent *ev = audit_event_new("auth_attempt", s);
  audit_event_add_string(ev, "user", poplar_auth_request_user(req));
  add_master_user(ev, req);
  audit_event_add_string(ev, "mechanism", poplar_auth_request_mechanism(req));
  audit_event_add_string(ev, "client_address",
                         poplar_session_remote_address(s));
  emit(a, ev);

  if (healthy || !a->refuse)
    return POPLAR_CONTINUE;
  poplar_session_log(s, a->plugin, POPLAR_LOG_WARNING,
                     "login refused: the audit log cannot be written "
                     "(on-error = refuse)");
  /* Best effort: it reaches whichever sinks still work. */
  ev = audit_event_new("auth_result", s);
  ev->priority = AUDIT_PRIORITY_WARNING;
  audit_event_add_string(ev, "user", poplar_auth_request_user(req));
  add_master_user(ev, req);
  audit_event_add_string(ev, "mechanism", poplar_auth_request_mechanism(req));
  audit_event_add_string(ev, "result", "refused");
  audit_event_add_string(ev, "reason_code", "SYS/TEMP");
  emit(a, ev);
  poplar_hook_reply(s, NULL, "Audit log unavailable, try again later");
  return POPLAR_TEMPFAIL;
}

static const char *outcome_name(PoplarAuthOutcome outcome)
{
  switch (outcome) {
  case POPLAR_AUTH_SUCCEEDED:
    return "success";
  case POPLAR_AUTH_FAILED:
    return "failure";
  case POPLAR_AUTH_TEMPFAILED:
    return "tempfail";
  }
  return "unknown";
}

static PoplarVerdict on_auth_after(void *data, PoplarSession *s,
                                   PoplarAuthRequest *req,
                                   PoplarAuthOutcome outcome)
{
  AuditPlugin *a = data;
  AuditEvent *ev = audit_event_new("auth_result", s);
  if (outcome != POPLAR_AUTH_SUCCEEDED)
    ev->priority = AUDIT_PRIORITY_NOTICE;
  audit_event_add_string(ev, "user", poplar_auth_request_user(req));
  add_master_user(ev, req);
  audit_event_add_string(ev, "mechanism", poplar_auth_request_mechanism(req));
  audit_event_add_string(ev, "result", outcome_name(outcome));
  audit_event_add_string(ev, "reason_code",
                         poplar_auth_request_reason_code(req));
  emit(a, ev);
  return POPLAR_CONTINUE;
}

static PoplarVerdict on_mailbox_open(void *data, PoplarSession *s,
                                     PoplarMailbox *mbox)
{
  AuditPlugin *a = data;
  uint64_t visible = 0, octets = 0, hidden = 0;
  size_t n = poplar_mailbox_message_count(mbox);
  for (size_t i = 0; i < n; i++) {
    PoplarMessage *msg = poplar_mailbox_message(mbox, i);
    if (poplar_message_is_hidden(msg)) {
      hidden++;
      continue;
    }
    visible++;
    octets += poplar_message_size(msg);
  }
  AuditEvent *ev = audit_event_new("mailbox_open", s);
  audit_event_add_string(ev, "user", poplar_mailbox_user(mbox));
  audit_event_add_uint(ev, "messages", visible);
  audit_event_add_uint(ev, "octets", octets);
  audit_event_add_uint(ev, "hidden", hidden);
  emit(a, ev);
  return POPLAR_CONTINUE;
}

static PoplarVerdict on_message_sent(void *data, PoplarSession *s,
                                     PoplarMessage *msg, long top_lines,
                                     uint64_t octets, bool complete)
{
  AuditPlugin *a = data;
  AuditEvent *ev = audit_event_new(top_lines < 0 ? "retr" : "top", s);
  if (!complete)
    ev->priority = AUDIT_PRIORITY_NOTICE;
  audit_event_add_string(ev, "uidl", poplar_message_uidl(msg));
  audit_event_add_uint(ev, "number", poplar_message_number(msg));
  audit_event_add_uint(ev, "size", poplar_message_size(msg));
  if (top_lines >= 0)
    audit_event_add_int(ev, "lines", top_lines);
  audit_event_add_uint(ev, "octets", octets);
  audit_event_add_bool(ev, "complete", complete);
  emit(a, ev);
  return POPLAR_CONTINUE;
}

static PoplarVerdict on_message_delete(void *data, PoplarSession *s,
                                       PoplarMessage *msg)
{
  AuditPlugin *a = data;
  session_state(a, s)->marked++;
  AuditEvent *ev = audit_event_new("dele", s);
  audit_event_add_string(ev, "uidl", poplar_message_uidl(msg));
  audit_event_add_uint(ev, "number", poplar_message_number(msg));
  audit_event_add_uint(ev, "size", poplar_message_size(msg));
  emit(a, ev);
  return POPLAR_CONTINUE;
}

/* Visible messages not marked deleted, and their octets. */
static void mailbox_totals(PoplarMailbox *mbox, uint64_t *count,
                           uint64_t *octets)
{
  *count = *octets = 0;
  size_t n = poplar_mailbox_message_count(mbox);
  for (size_t i = 0; i < n; i++) {
    PoplarMessage *msg = poplar_mailbox_message(mbox, i);
    if (poplar_message_is_hidden(msg) || poplar_message_is_deleted(msg))
      continue;
    (*count)++;
    *octets += poplar_message_size(msg);
  }
}

static PoplarVerdict on_rset(void *data, PoplarSession *s,
                             PoplarMailbox *mbox)
{
  AuditPlugin *a = data;
  AuditSession *st = session_state(a, s);
  uint64_t count, octets;
  mailbox_totals(mbox, &count, &octets);
  AuditEvent *ev = audit_event_new("rset", s);
  audit_event_add_uint(ev, "unmarked", st->marked);
  audit_event_add_uint(ev, "messages", count);
  audit_event_add_uint(ev, "octets", octets);
  st->marked = 0;
  emit(a, ev);
  return POPLAR_CONTINUE;
}

static GPtrArray *marked_uidls(PoplarMailbox *mbox, uint64_t *octets)
{
  GPtrArray *uidls = g_ptr_array_new_with_free_func(g_free);
  *octets = 0;
  size_t n = poplar_mailbox_message_count(mbox);
  for (size_t i = 0; i < n; i++) {
    PoplarMessage *msg = poplar_mailbox_message(mbox, i);
    if (!poplar_message_is_deleted(msg))
      continue;
    g_ptr_array_add(uidls, g_strdup(poplar_message_uidl(msg)));
    *octets += poplar_message_size(msg);
  }
  return uidls;
}

/* Only remembers what is marked: the outcome comes with update_after, or
 * never when a later hook refuses the UPDATE (then disconnect reports
 * it). */
static PoplarVerdict on_update_before(void *data, PoplarSession *s,
                                      PoplarMailbox *mbox)
{
  AuditPlugin *a = data;
  AuditSession *st = session_state(a, s);
  uint64_t octets;
  if (st->update_marked)
    g_ptr_array_unref(st->update_marked);
  st->update_marked = marked_uidls(mbox, &octets);
  return POPLAR_CONTINUE;
}

/* The marked messages the store removed (@removed true) or kept, as the
 * core reports them (poplar_message_is_expunged(), ABI 1.1), so that an
 * expunge failing part way is recorded as it happened. */
static GPtrArray *outcome_uidls(PoplarMailbox *mbox, bool removed,
                                uint64_t *octets)
{
  GPtrArray *uidls = g_ptr_array_new_with_free_func(g_free);
  *octets = 0;
  size_t n = poplar_mailbox_message_count(mbox);
  for (size_t i = 0; i < n; i++) {
    PoplarMessage *msg = poplar_mailbox_message(mbox, i);
    if (!poplar_message_is_deleted(msg) ||
        poplar_message_is_expunged(msg) != removed)
      continue;
    g_ptr_array_add(uidls, g_strdup(poplar_message_uidl(msg)));
    *octets += poplar_message_size(msg);
  }
  return uidls;
}

/* Takes @deleted and @not_deleted. */
static void emit_update(AuditPlugin *a, PoplarSession *s, bool committed,
                        GPtrArray *deleted, uint64_t octets_freed,
                        GPtrArray *not_deleted, const char *error)
{
  AuditEvent *ev = audit_event_new("update", s);
  if (!committed)
    ev->priority = AUDIT_PRIORITY_WARNING;
  audit_event_add_bool(ev, "committed", committed);
  audit_event_add_list(ev, "deleted", deleted);
  audit_event_add_uint(ev, "octets_freed", octets_freed);
  audit_event_add_list(ev, "not_deleted", not_deleted);
  audit_event_add_string(ev, "error", error);
  emit(a, ev);
}

static PoplarVerdict on_update_after(void *data, PoplarSession *s,
                                     PoplarMailbox *mbox, bool committed)
{
  AuditPlugin *a = data;
  AuditSession *st = session_state(a, s);
  g_clear_pointer(&st->update_marked, g_ptr_array_unref);
  uint64_t freed, kept;
  GPtrArray *deleted = outcome_uidls(mbox, true, &freed);
  GPtrArray *not_deleted = outcome_uidls(mbox, false, &kept);
  emit_update(a, s, committed, deleted, freed, not_deleted,
              committed ? NULL : "the store could not remove the messages");
  return POPLAR_CONTINUE;
}

static const char *reason_name(PoplarDisconnectReason reason)
{
  switch (reason) {
  case POPLAR_DISCONNECT_QUIT:
    return "quit";
  case POPLAR_DISCONNECT_TIMEOUT:
    return "timeout";
  case POPLAR_DISCONNECT_CLIENT_CLOSED:
    return "client_closed";
  case POPLAR_DISCONNECT_ERROR:
    return "error";
  case POPLAR_DISCONNECT_SHUTDOWN:
    return "shutdown";
  }
  return "unknown";
}

static PoplarVerdict on_disconnect(void *data, PoplarSession *s,
                                   PoplarDisconnectReason reason)
{
  AuditPlugin *a = data;
  AuditSession *st = poplar_session_get_data(s, a->plugin);
  if (st && st->update_marked) {
    /* UPDATE began and never finished: a hook refused it, so nothing was
     * deleted. */
    GPtrArray *marked = g_steal_pointer(&st->update_marked);
    emit_update(a, s, false, g_ptr_array_new_with_free_func(g_free), 0,
                marked, "refused by a hook before expunge");
  }
  AuditEvent *ev = audit_event_new("disconnect", s);
  audit_event_add_string(ev, "reason", reason_name(reason));
  audit_event_add_string(ev, "user", poplar_session_user(s));
  audit_event_add_seconds(ev, "duration",
                          g_get_real_time() - poplar_session_start_time(s));
  audit_event_add_uint(ev, "bytes_in", poplar_session_bytes_in(s));
  audit_event_add_uint(ev, "bytes_out", poplar_session_bytes_out(s));
  emit(a, ev);
  return POPLAR_CONTINUE;
}

static void audit_destroy(void *data)
{
  AuditPlugin *a = data;
  audit_writer_free(a->writer);
  g_free(a);
}

static const PoplarHookOps audit_hooks = {
    .connect = on_connect,
    .tls = on_tls,
    .auth_before = on_auth_before,
    .auth_after = on_auth_after,
    .mailbox_open = on_mailbox_open,
    .message_delete = on_message_delete,
    .update_before = on_update_before,
    .update_after = on_update_after,
    .disconnect = on_disconnect,
    .message_sent = on_message_sent,
    .rset = on_rset,
    .destroy = audit_destroy,
};

/* ---- configuration ------------------------------------------------------ */

static const struct {
  const char *name;
  int facility;
} facilities[] = {
    {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON},   {"auth", LOG_AUTH},
    {"authpriv", LOG_AUTHPRIV}, {"user", LOG_USER},   {"local0", LOG_LOCAL0},
    {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},   {"local3", LOG_LOCAL3},
    {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},   {"local6", LOG_LOCAL6},
    {"local7", LOG_LOCAL7},
};

static bool parse_facility(PoplarConfig *config, int *out)
{
  const char *name = poplar_config_get_string(config, "syslog-facility",
                                              "mail");
  for (size_t i = 0; i < G_N_ELEMENTS(facilities); i++) {
    if (g_ascii_strcasecmp(name, facilities[i].name) == 0) {
      *out = facilities[i].facility;
      return true;
    }
  }
  poplar_config_error(config, "syslog-facility",
                      "'%s' is not a facility (mail, daemon, auth, authpriv, "
                      "user, local0 ... local7)",
                      name);
  return false;
}

/* A syslog tag: printable, no space, no ':' or '[' that would end it. */
static bool valid_tag(const char *tag)
{
  if (!tag[0] || strlen(tag) > 32)
    return false;
  for (const char *p = tag; *p; p++) {
    if (*p <= ' ' || *p > '~' || *p == ':' || *p == '[' || *p == ']')
      return false;
  }
  return true;
}

typedef struct AuditConfig {
  bool want_file, want_syslog, want_journal;
  const char *file;
  int facility;
  const char *tag;
  const char *syslog_socket;
  const char *journal_socket;
  long long queue_size;
  bool refuse;
} AuditConfig;

static bool read_config(PoplarConfig *config, AuditConfig *c)
{
  bool ok = true;
  size_t n = 0;
  const char *const *sinks = poplar_config_get_list(config, "sinks", &n);
  for (size_t i = 0; i < n; i++) {
    if (strcmp(sinks[i], "file") == 0) {
      c->want_file = true;
    } else if (strcmp(sinks[i], "syslog") == 0) {
      c->want_syslog = true;
    } else if (strcmp(sinks[i], "journald") == 0) {
      c->want_journal = true;
    } else {
      poplar_config_error(config, "sinks",
                          "'%s' is not a sink (file, syslog, journald)",
                          sinks[i]);
      ok = false;
    }
  }
  if (n == 0) {
    poplar_config_error(config, "sinks",
                        "name at least one sink: file, syslog, journald");
    ok = false;
  }
  c->file = poplar_config_get_string(config, "file", NULL);
  if (c->want_file && (!c->file || c->file[0] != '/')) {
    poplar_config_error(config, c->file ? "file" : "sinks",
                        "the file sink needs 'file = /absolute/path.jsonl'");
    ok = false;
  }
  if (!parse_facility(config, &c->facility))
    ok = false;
  c->tag = poplar_config_get_string(config, "syslog-tag", AUDIT_DEFAULT_TAG);
  if (!valid_tag(c->tag)) {
    poplar_config_error(config, "syslog-tag",
                        "'%s' is not a syslog tag (1 to 32 printable "
                        "characters, no space, ':' or brackets)",
                        c->tag);
    ok = false;
  }
  c->syslog_socket = poplar_config_get_string(config, "syslog-socket",
                                              AUDIT_DEFAULT_SYSLOG_SOCKET);
  c->journal_socket = poplar_config_get_string(
      config, "journal-socket", AUDIT_DEFAULT_JOURNAL_SOCKET);
  if (!poplar_config_get_int(config, "queue-size", AUDIT_DEFAULT_QUEUE, 1,
                             AUDIT_MAX_QUEUE, &c->queue_size))
    ok = false;
  const char *policy = poplar_config_get_string(config, "on-error",
                                                "continue");
  if (strcmp(policy, "continue") == 0) {
    c->refuse = false;
  } else if (strcmp(policy, "refuse") == 0) {
    c->refuse = true;
  } else {
    poplar_config_error(config, "on-error",
                        "'%s' is neither continue nor refuse", policy);
    ok = false;
  }
  return ok;
}

static bool audit_init(PoplarPlugin *plugin, PoplarConfig *config)
{
  AuditConfig c = {0};
  if (!read_config(config, &c))
    return false;

  GPtrArray *sinks = g_ptr_array_new();
  const char *file_error = NULL;
  if (c.want_file) {
    AuditSink *sink = audit_sink_file_new(c.file);
    file_error = audit_sink_file_error(sink);
    if (file_error)
      poplar_config_warning(config, "file",
                            "%s: audit events are lost%s until it can be "
                            "written",
                            file_error,
                            c.refuse ? " and logins refused" : "");
    g_ptr_array_add(sinks, sink);
  }
  if (c.want_syslog)
    g_ptr_array_add(sinks, audit_sink_syslog_new(c.syslog_socket, c.facility,
                                                 c.tag));
  if (c.want_journal) {
    if (audit_journal_available(c.journal_socket))
      g_ptr_array_add(sinks, audit_sink_journal_new(c.journal_socket,
                                                    c.facility, c.tag));
    else
      poplar_config_warning(config, "sinks",
                            "no journal here (%s is not a socket): the "
                            "journald sink is skipped",
                            c.journal_socket);
  }
  if (sinks->len == 0) {
    g_ptr_array_unref(sinks);
    poplar_config_error(config, "sinks", "no sink is left to write to");
    return false;
  }

  AuditPlugin *a = g_new0(AuditPlugin, 1);
  a->plugin = plugin;
  a->refuse = c.refuse;
  a->writer = audit_writer_new(plugin, sinks, (size_t)c.queue_size);
  if (file_error)
    audit_writer_mark_failed(a->writer, 0, file_error);
  if (!poplar_register_hook(plugin, &audit_hooks, sizeof audit_hooks, a)) {
    audit_destroy(a);
    return false;
  }
  return true;
}

POPLAR_PLUGIN_DEFINE(hook_audit, "0.1.0",
                     "Audit events of every session step to JSON Lines, "
                     "syslog and journald",
                     NULL, audit_init, NULL)
