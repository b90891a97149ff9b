/* SPDX-License-Identifier: MIT */
/*
 * test-hooks: a hook plugin for the integration tests.  It records every
 * hook call as one line in a file and answers each hook point with the
 * verdict its config section names, so that a test can prove what every
 * verdict does on the wire.
 *
 * [test-hooks]
 *   record = PATH            one line per hook call, appended
 *   connect = continue | accept | tempfail | reject[:CODE:text]
 *             | disconnect[:CODE:text]      (same for every hook point,
 *             named with '-': auth-before, message-retrieve, ...; the
 *             core ignores the verdicts of notification-only points)
 *   hide-uidls = u1; u2      mailbox_open hides these messages
 *   add-header = Name: value mailbox_open adds it to every message
 *   record-fields = a; b     mailbox_open lines end with " a=VALUE b=VALUE"
 *                            (the password database's fields; "-" unset)
 *   record-expunged = yes    update_after lines end with " expunged=" and
 *                            the UIDLs the store removed ("-" for none)
 *   second-table = yes       registers a second table that only records
 *                            ("second:" lines) and always continues
 */
#include <poplar/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct HookAnswer {
  PoplarVerdict verdict;
  char *code; /* response code, NULL for none */
  char *text; /* reply text, NULL to let the core choose */
} HookAnswer;

typedef enum HookPoint {
  POINT_CONNECT,
  POINT_TLS,
  POINT_AUTH_BEFORE,
  POINT_AUTH_AFTER,
  POINT_MAILBOX_OPEN,
  POINT_MESSAGE_RETRIEVE,
  POINT_MESSAGE_DELETE,
  POINT_UPDATE_BEFORE,
  POINT_UPDATE_AFTER,
  POINT_DISCONNECT,
  POINT_MESSAGE_SENT,
  POINT_RSET,
  POINT_COUNT,
} HookPoint;

/* Config keys, in HookPoint order. */
static const char *const point_keys[POINT_COUNT] = {
    "connect",          "tls",            "auth-before",   "auth-after",
    "mailbox-open",     "message-retrieve", "message-delete",
    "update-before",    "update-after",   "disconnect",
    "message-sent",     "rset",
};

typedef struct Recorder {
  PoplarPlugin *plugin;
  int fd; /* record file, or -1 */
  HookAnswer answers[POINT_COUNT];
  char **hide_uidls; /* NULL-terminated */
  char *header_name;
  char *header_value;
  bool record_expunged;
  char **record_fields; /* NULL-terminated */
} Recorder;

/* The second table records through the first one's file, with a prefix. */
typedef struct SecondTable {
  Recorder *recorder;
} SecondTable;

static char *dup_range(const char *start, size_t len)
{
  char *s = malloc(len + 1);
  if (!s)
    return NULL;
  memcpy(s, start, len);
  s[len] = '\0';
  return s;
}

/* Parses "verdict" or "verdict:CODE:text" (reject and disconnect only). */
static bool parse_answer(const char *value, HookAnswer *out)
{
  static const struct {
    const char *name;
    PoplarVerdict verdict;
    bool takes_reply;
  } verdicts[] = {
      {"continue", POPLAR_CONTINUE, false},
      {"accept", POPLAR_ACCEPT, false},
      {"tempfail", POPLAR_TEMPFAIL, false},
      {"reject", POPLAR_REJECT, true},
      {"disconnect", POPLAR_DISCONNECT, true},
  };
  const char *colon = strchr(value, ':');
  size_t name_len = colon ? (size_t)(colon - value) : strlen(value);
  for (size_t i = 0; i < sizeof verdicts / sizeof verdicts[0]; i++) {
    if (strlen(verdicts[i].name) != name_len ||
        strncmp(verdicts[i].name, value, name_len) != 0)
      continue;
    out->verdict = verdicts[i].verdict;
    if (!colon)
      return true;
    if (!verdicts[i].takes_reply)
      return false;
    const char *code = colon + 1;
    const char *second = strchr(code, ':');
    if (!second)
      return false;
    if (second > code) {
      out->code = dup_range(code, (size_t)(second - code));
      if (!out->code)
        return false;
    }
    out->text = dup_range(second + 1, strlen(second + 1));
    return out->text != NULL;
  }
  return false;
}

static void record(Recorder *r, const char *prefix, const char *fmt, ...)
    POPLAR_PRINTF(3, 4);

/* One write() per line on an O_APPEND descriptor: lines from concurrent
 * sessions never interleave, and each is on disk when the hook returns. */
static void record(Recorder *r, const char *prefix, const char *fmt, ...)
{
  if (r->fd < 0)
    return;
  char line[1024];
  int n = snprintf(line, sizeof line, "%s", prefix);
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end(ap);
  if (m < 0)
    return;
  size_t len = strlen(line);
  line[len++] = '\n';
  if (write(r->fd, line, len) != (ssize_t)len)
    poplar_log(r->plugin, POPLAR_LOG_ERROR, "cannot record a hook call: %s",
               strerror(errno));
}

static PoplarVerdict answer(Recorder *r, PoplarSession *s, HookPoint point)
{
  const HookAnswer *a = &r->answers[point];
  if (a->text &&
      (a->verdict == POPLAR_REJECT || a->verdict == POPLAR_DISCONNECT))
    poplar_hook_reply(s, a->code, "%s", a->text);
  return a->verdict;
}

static const char *or_dash(const char *s) { return s ? s : "-"; }

static const char *outcome_name(PoplarAuthOutcome outcome)
{
  switch (outcome) {
  case POPLAR_AUTH_SUCCEEDED:
    return "succeeded";
  case POPLAR_AUTH_FAILED:
    return "failed";
  case POPLAR_AUTH_TEMPFAILED:
    return "tempfailed";
  }
  return "unknown";
}

static const char *reason_name(PoplarDisconnectReason reason)
{
  switch (reason) {
  case POPLAR_DISCONNECT_QUIT:
    return "quit";
  case POPLAR_DISCONNECT_TIMEOUT:
    return "timeout";
  case POPLAR_DISCONNECT_CLIENT_CLOSED:
    return "client-closed";
  case POPLAR_DISCONNECT_ERROR:
    return "error";
  case POPLAR_DISCONNECT_SHUTDOWN:
    return "shutdown";
  }
  return "unknown";
}

/* ---- the recording of one call, shared by both tables ------------------ */

static void note_connect(Recorder *r, const char *prefix, PoplarSession *s)
{
  record(r, prefix, "connect %s %s", poplar_session_id(s),
         poplar_session_remote_address(s));
}

static void note_tls(Recorder *r, const char *prefix, PoplarSession *s)
{
  record(r, prefix, "tls %s", poplar_session_id(s));
}

static void note_auth_before(Recorder *r, const char *prefix,
                             PoplarSession *s, PoplarAuthRequest *req)
{
  record(r, prefix, "auth_before %s %s %s", poplar_session_id(s),
         or_dash(poplar_auth_request_user(req)),
         or_dash(poplar_auth_request_mechanism(req)));
}

static void note_auth_after(Recorder *r, const char *prefix,
                            PoplarSession *s, PoplarAuthRequest *req,
                            PoplarAuthOutcome outcome)
{
  record(r, prefix, "auth_after %s %s %s", poplar_session_id(s),
         or_dash(poplar_auth_request_user(req)), outcome_name(outcome));
}

static void note_mailbox_open(Recorder *r, const char *prefix,
                              PoplarSession *s, PoplarMailbox *mbox)
{
  char fields[1024] = "";
  size_t used = 0;
  for (char **f = r->record_fields; f && *f && used < sizeof fields; f++) {
    const char *v = poplar_mailbox_field(mbox, *f);
    int n = snprintf(fields + used, sizeof fields - used, " %s=%s", *f,
                     v ? v : "-");
    if (n < 0)
      break;
    used += (size_t)n;
  }
  record(r, prefix, "mailbox_open %s %zu%s", poplar_session_id(s),
         poplar_mailbox_message_count(mbox), fields);
}

static void note_message_retrieve(Recorder *r, const char *prefix,
                                  PoplarSession *s, PoplarMessage *msg,
                                  long top_lines)
{
  record(r, prefix, "message_retrieve %s %s %ld", poplar_session_id(s),
         poplar_message_uidl(msg), top_lines);
}

static void note_message_delete(Recorder *r, const char *prefix,
                                PoplarSession *s, PoplarMessage *msg)
{
  record(r, prefix, "message_delete %s %s", poplar_session_id(s),
         poplar_message_uidl(msg));
}

static void note_update_before(Recorder *r, const char *prefix,
                               PoplarSession *s)
{
  record(r, prefix, "update_before %s", poplar_session_id(s));
}

static void note_update_after(Recorder *r, const char *prefix,
                              PoplarSession *s, bool committed)
{
  record(r, prefix, "update_after %s %d", poplar_session_id(s),
         committed ? 1 : 0);
}

static void note_disconnect(Recorder *r, const char *prefix,
                            PoplarSession *s, PoplarDisconnectReason reason)
{
  record(r, prefix, "disconnect %s %s", poplar_session_id(s),
         reason_name(reason));
}

static void note_message_sent(Recorder *r, const char *prefix,
                              PoplarSession *s, PoplarMessage *msg,
                              long top_lines, uint64_t octets, bool complete)
{
  record(r, prefix, "message_sent %s %s %ld %" PRIu64 " %d",
         poplar_session_id(s), poplar_message_uidl(msg), top_lines, octets,
         complete ? 1 : 0);
}

static void note_rset(Recorder *r, const char *prefix, PoplarSession *s)
{
  record(r, prefix, "rset %s", poplar_session_id(s));
}

/* ---- the first table: records and answers ------------------------------ */

static PoplarVerdict on_connect(void *data, PoplarSession *s)
{
  Recorder *r = data;
  note_connect(r, "", s);
  return answer(r, s, POINT_CONNECT);
}

static PoplarVerdict on_tls(void *data, PoplarSession *s)
{
  Recorder *r = data;
  note_tls(r, "", s);
  return answer(r, s, POINT_TLS);
}

static PoplarVerdict on_auth_before(void *data, PoplarSession *s,
                                    PoplarAuthRequest *req)
{
  Recorder *r = data;
  note_auth_before(r, "", s, req);
  return answer(r, s, POINT_AUTH_BEFORE);
}

static PoplarVerdict on_auth_after(void *data, PoplarSession *s,
                                   PoplarAuthRequest *req,
                                   PoplarAuthOutcome outcome)
{
  Recorder *r = data;
  note_auth_after(r, "", s, req, outcome);
  return answer(r, s, POINT_AUTH_AFTER);
}

static void change_messages(Recorder *r, PoplarSession *s, PoplarMailbox *mbox)
{
  size_t count = poplar_mailbox_message_count(mbox);
  for (size_t i = 0; i < count; i++) {
    PoplarMessage *msg = poplar_mailbox_message(mbox, i);
    for (char **u = r->hide_uidls; *u; u++) {
      if (strcmp(*u, poplar_message_uidl(msg)) == 0)
        poplar_message_set_hidden(msg, true);
    }
    if (r->header_name &&
        !poplar_message_add_header(msg, r->header_name, r->header_value))
      poplar_session_log(s, r->plugin, POPLAR_LOG_ERROR,
                         "cannot add the header to %s",
                         poplar_message_uidl(msg));
  }
}

static PoplarVerdict on_mailbox_open(void *data, PoplarSession *s,
                                     PoplarMailbox *mbox)
{
  Recorder *r = data;
  note_mailbox_open(r, "", s, mbox);
  change_messages(r, s, mbox);
  return answer(r, s, POINT_MAILBOX_OPEN);
}

static PoplarVerdict on_message_retrieve(void *data, PoplarSession *s,
                                         PoplarMessage *msg, long top_lines)
{
  Recorder *r = data;
  note_message_retrieve(r, "", s, msg, top_lines);
  return answer(r, s, POINT_MESSAGE_RETRIEVE);
}

static PoplarVerdict on_message_delete(void *data, PoplarSession *s,
                                       PoplarMessage *msg)
{
  Recorder *r = data;
  note_message_delete(r, "", s, msg);
  return answer(r, s, POINT_MESSAGE_DELETE);
}

static PoplarVerdict on_update_before(void *data, PoplarSession *s,
                                      PoplarMailbox *mbox)
{
  (void)mbox;
  Recorder *r = data;
  note_update_before(r, "", s);
  return answer(r, s, POINT_UPDATE_BEFORE);
}

/* What the store reported removed (poplar_message_is_expunged()). */
static void note_expunged(Recorder *r, PoplarSession *s, PoplarMailbox *mbox,
                          bool committed)
{
  char list[1024] = "";
  size_t used = 0;
  for (size_t i = 0; i < poplar_mailbox_message_count(mbox); i++) {
    PoplarMessage *msg = poplar_mailbox_message(mbox, i);
    if (!poplar_message_is_expunged(msg))
      continue;
    int n = snprintf(list + used, sizeof list - used, "%s%s",
                     used ? "," : "", poplar_message_uidl(msg));
    if (n < 0 || (size_t)n >= sizeof list - used)
      break;
    used += (size_t)n;
  }
  record(r, "", "update_after %s %d expunged=%s", poplar_session_id(s),
         committed ? 1 : 0, used ? list : "-");
}

static PoplarVerdict on_update_after(void *data, PoplarSession *s,
                                     PoplarMailbox *mbox, bool committed)
{
  Recorder *r = data;
  if (r->record_expunged)
    note_expunged(r, s, mbox, committed);
  else
    note_update_after(r, "", s, committed);
  return answer(r, s, POINT_UPDATE_AFTER);
}

static PoplarVerdict on_disconnect(void *data, PoplarSession *s,
                                   PoplarDisconnectReason reason)
{
  Recorder *r = data;
  note_disconnect(r, "", s, reason);
  return answer(r, s, POINT_DISCONNECT);
}

static PoplarVerdict on_message_sent(void *data, PoplarSession *s,
                                     PoplarMessage *msg, long top_lines,
                                     uint64_t octets, bool complete)
{
  Recorder *r = data;
  note_message_sent(r, "", s, msg, top_lines, octets, complete);
  return answer(r, s, POINT_MESSAGE_SENT);
}

static PoplarVerdict on_rset(void *data, PoplarSession *s,
                             PoplarMailbox *mbox)
{
  (void)mbox;
  Recorder *r = data;
  note_rset(r, "", s);
  return answer(r, s, POINT_RSET);
}

static void recorder_free(void *data)
{
  Recorder *r = data;
  if (r->fd >= 0)
    close(r->fd);
  for (int i = 0; i < POINT_COUNT; i++) {
    free(r->answers[i].code);
    free(r->answers[i].text);
  }
  if (r->hide_uidls) {
    for (char **u = r->hide_uidls; *u; u++)
      free(*u);
    free(r->hide_uidls);
  }
  if (r->record_fields) {
    for (char **f = r->record_fields; *f; f++)
      free(*f);
    free(r->record_fields);
  }
  free(r->header_name);
  free(r->header_value);
  free(r);
}

/* ---- the second table: records with a prefix, always continues --------- */

#define SECOND "second:"

static PoplarVerdict second_connect(void *data, PoplarSession *s)
{
  note_connect(((SecondTable *)data)->recorder, SECOND, s);
  return POPLAR_CONTINUE;
}

static PoplarVerdict second_tls(void *data, PoplarSession *s)
{
  note_tls(((SecondTable *)data)->recorder, SECOND, s);
  return POPLAR_CONTINUE;
}

static PoplarVerdict second_auth_before(void *data, PoplarSession *s,
                                        PoplarAuthRequest *req)
{
  note_auth_before(((SecondTable *)data)->recorder, SECOND, s, req);
  return POPLAR_CONTINUE;
}

static PoplarVerdict second_auth_after(void *data, PoplarSession *s,
                                       PoplarAuthRequest *req,
                                       PoplarAuthOutcome outcome)
{
  note_auth_after(((SecondTable *)data)->recorder, SECOND, s, req, outcome);
  return POPLAR_CONTINUE;
}

static PoplarVerdict second_mailbox_open(void *data, PoplarSession *s,
                                         PoplarMailbox *mbox)
{
  note_mailbox_open(((SecondTable *)data)->recorder, SECOND, s, mbox);
  return POPLAR_CONTINUE;
}

static PoplarVerdict second_message_retrieve(void *data, PoplarSession *s,
                                             PoplarMessage *msg,
                                             long top_lines)
{
  note_message_retrieve(((SecondTable *)data)->recorder, SECOND, s, msg,
                        top_lines);
  return POPLAR_CONTINUE;
}

static PoplarVerdict second_message_delete(void *data, PoplarSession *s,
                                           PoplarMessage *msg)
{
  note_message_delete(((SecondTable *)data)->recorder, SECOND, s, msg);
  return POPLAR_CONTINUE;
}

static PoplarVerdict second_update_before(void *data, PoplarSession *s,
                                          PoplarMailbox *mbox)
{
  (void)mbox;
  note_update_before(((SecondTable *)data)->recorder, SECOND, s);
  return POPLAR_CONTINUE;
}

static PoplarVerdict second_update_after(void *data, PoplarSession *s,
                                         PoplarMailbox *mbox, bool committed)
{
  (void)mbox;
  note_update_after(((SecondTable *)data)->recorder, SECOND, s, committed);
  return POPLAR_CONTINUE;
}

static PoplarVerdict second_disconnect(void *data, PoplarSession *s,
                                       PoplarDisconnectReason reason)
{
  note_disconnect(((SecondTable *)data)->recorder, SECOND, s, reason);
  return POPLAR_CONTINUE;
}

static PoplarVerdict second_message_sent(void *data, PoplarSession *s,
                                         PoplarMessage *msg, long top_lines,
                                         uint64_t octets, bool complete)
{
  note_message_sent(((SecondTable *)data)->recorder, SECOND, s, msg,
                    top_lines, octets, complete);
  return POPLAR_CONTINUE;
}

static PoplarVerdict second_rset(void *data, PoplarSession *s,
                                 PoplarMailbox *mbox)
{
  (void)mbox;
  note_rset(((SecondTable *)data)->recorder, SECOND, s);
  return POPLAR_CONTINUE;
}

/* ---- set-up -------------------------------------------------------------- */

static bool read_answers(Recorder *r, PoplarConfig *config)
{
  bool ok = true;
  for (int i = 0; i < POINT_COUNT; i++) {
    const char *value = poplar_config_get_string(config, point_keys[i], NULL);
    if (!value)
      continue;
    if (!parse_answer(value, &r->answers[i])) {
      poplar_config_error(
          config, point_keys[i],
          "'%s' is not a verdict (continue, accept, tempfail, "
          "reject[:CODE:text], disconnect[:CODE:text])",
          value);
      ok = false;
    }
  }
  return ok;
}

static bool read_hide_uidls(Recorder *r, PoplarConfig *config)
{
  size_t n = 0;
  const char *const *uidls = poplar_config_get_list(config, "hide-uidls", &n);
  r->hide_uidls = calloc(n + 1, sizeof *r->hide_uidls);
  if (!r->hide_uidls)
    return false;
  for (size_t i = 0; i < n; i++) {
    r->hide_uidls[i] = strdup(uidls[i]);
    if (!r->hide_uidls[i])
      return false;
  }
  return true;
}

static bool read_record_fields(Recorder *r, PoplarConfig *config)
{
  size_t n = 0;
  const char *const *names =
      poplar_config_get_list(config, "record-fields", &n);
  r->record_fields = calloc(n + 1, sizeof *r->record_fields);
  if (!r->record_fields)
    return false;
  for (size_t i = 0; i < n; i++) {
    r->record_fields[i] = strdup(names[i]);
    if (!r->record_fields[i])
      return false;
  }
  return true;
}

static bool read_add_header(Recorder *r, PoplarConfig *config)
{
  const char *value = poplar_config_get_string(config, "add-header", NULL);
  if (!value)
    return true;
  const char *colon = strchr(value, ':');
  if (!colon || colon == value) {
    poplar_config_error(config, "add-header",
                        "'%s' is not a header (Name: value)", value);
    return false;
  }
  const char *v = colon + 1;
  while (*v == ' ' || *v == '\t')
    v++;
  r->header_name = dup_range(value, (size_t)(colon - value));
  r->header_value = strdup(v);
  return r->header_name && r->header_value;
}

static bool open_record(Recorder *r, PoplarConfig *config)
{
  const char *path = poplar_config_get_string(config, "record", NULL);
  if (!path)
    return true;
  r->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (r->fd < 0) {
    poplar_config_error(config, "record", "cannot open %s: %s", path,
                        strerror(errno));
    return false;
  }
  return true;
}

static bool test_hooks_init(PoplarPlugin *plugin, PoplarConfig *config)
{
  Recorder *r = calloc(1, sizeof *r);
  if (!r) {
    poplar_log(plugin, POPLAR_LOG_ERROR, "out of memory");
    return false;
  }
  r->plugin = plugin;
  r->fd = -1;
  bool second_table = false;
  /* Read every key before giving up, so that one run reports all errors. */
  bool ok = open_record(r, config);
  ok = read_answers(r, config) && ok;
  ok = read_hide_uidls(r, config) && ok;
  ok = read_add_header(r, config) && ok;
  ok = read_record_fields(r, config) && ok;
  ok = poplar_config_get_bool(config, "second-table", false, &second_table) &&
       ok;
  ok = poplar_config_get_bool(config, "record-expunged", false,
                              &r->record_expunged) &&
       ok;
  if (!ok) {
    recorder_free(r);
    return false;
  }

  static const PoplarHookOps first_ops = {
      .connect = on_connect,
      .tls = on_tls,
      .auth_before = on_auth_before,
      .auth_after = on_auth_after,
      .mailbox_open = on_mailbox_open,
      .message_retrieve = on_message_retrieve,
      .message_delete = on_message_delete,
      .update_before = on_update_before,
      .update_after = on_update_after,
      .disconnect = on_disconnect,
      .message_sent = on_message_sent,
      .rset = on_rset,
      .destroy = recorder_free,
  };
  if (!poplar_register_hook(plugin, &first_ops, sizeof first_ops, r)) {
    recorder_free(r);
    return false;
  }
  if (!second_table)
    return true;

  static const PoplarHookOps second_ops = {
      .connect = second_connect,
      .tls = second_tls,
      .auth_before = second_auth_before,
      .auth_after = second_auth_after,
      .mailbox_open = second_mailbox_open,
      .message_retrieve = second_message_retrieve,
      .message_delete = second_message_delete,
      .update_before = second_update_before,
      .update_after = second_update_after,
      .disconnect = second_disconnect,
      .message_sent = second_message_sent,
      .rset = second_rset,
      .destroy = free,
  };
  SecondTable *second = calloc(1, sizeof *second);
  if (!second) {
    poplar_log(plugin, POPLAR_LOG_ERROR, "out of memory");
    return false;
  }
  second->recorder = r;
  if (!poplar_register_hook(plugin, &second_ops, sizeof second_ops, second)) {
    free(second);
    return false;
  }
  return true;
}

POPLAR_PLUGIN_DEFINE(test_hooks, "0.1.0",
                     "Records every hook call and answers configured verdicts "
                     "(tests only)",
                     NULL, test_hooks_init, NULL)
