/* SPDX-License-Identifier: MIT */
/*
 * abi-sample: a plugin built only against the headers of ABI 1.0
 * (abi/headers-1.0/), never against today's include/poplar/.  The ABI test
 * loads it into today's poplard and runs whole sessions through it, so
 * every kind of registration and most accessors of 1.0 are exercised by a
 * binary that knows nothing newer.
 *
 * It provides:
 *   - a password database "abi-sample": one user, whose plaintext secret
 *     it also hands out (so APOP is offered and works);
 *   - a store for the scheme "abisample:": a mailbox of generated
 *     messages, the same in every session; DELE + QUIT is counted and
 *     logged, nothing is kept;
 *   - hooks: a header added to every message at mailbox open, a per-session
 *     data slot set at connect and freed by the core, and one log line per
 *     session at disconnect.
 *
 * [abi-sample] keys: user, password, messages, hide (list of message
 * numbers to hide), greeting-delay (a duration), max-size (a size),
 * header (bool).  Plain C11; no library but libpoplar.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <poplar/plugin.h>

#if POPLAR_ABI_MAJOR != 1 || POPLAR_ABI_MINOR != 0
#error "abi-sample must be built against the ABI 1.0 headers"
#endif

#define SAMPLE_MAX_MESSAGES 100
#define SAMPLE_BODY_MAX 512

typedef struct Sample {
  PoplarPlugin *plugin;
  const char *user;
  const char *password;
  long long messages;
  bool add_header;
  unsigned char hidden[SAMPLE_MAX_MESSAGES + 1]; /* by message number */
} Sample;

typedef struct SampleStream {
  char text[SAMPLE_BODY_MAX];
  size_t len;
  size_t pos;
} SampleStream;

typedef struct SessionNote {
  unsigned retrieved;
} SessionNote;

/* The text of message @n (1-based): LF line ends, as a store on disk would
 * have; the core converts them on the way out. */
static size_t message_text(unsigned n, char *buf, size_t len)
{
  int w = snprintf(buf, len,
                   "From: abi-sample@example.org\n"
                   "Subject: message %u of the ABI 1.0 sample\n"
                   "Message-ID: <%u.abi-sample@example.org>\n"
                   "\n"
                   "Body of message %u.\n"
                   ".a line that starts with a dot\n",
                   n, n, n);
  return w < 0 ? 0 : (size_t)w;
}

/* ---- password database ------------------------------------------------ */

static PoplarPassdbResult sample_verify(void *data, PoplarAuthRequest *req,
                                        const char *password)
{
  Sample *s = data;
  if (strcmp(poplar_auth_request_user(req), s->user) != 0)
    return POPLAR_PASSDB_NO_SUCH_USER;
  if (strcmp(password, s->password) != 0) {
    poplar_auth_request_set_reason(req, "AUTH", "Wrong sample password");
    return POPLAR_PASSDB_DENIED;
  }
  poplar_auth_request_set_mail(req, "abisample:box");
  poplar_auth_request_set_field(req, "sample", "1.0");
  return POPLAR_PASSDB_OK;
}

static PoplarPassdbResult sample_secret(void *data, PoplarAuthRequest *req)
{
  Sample *s = data;
  if (strcmp(poplar_auth_request_user(req), s->user) != 0)
    return POPLAR_PASSDB_NO_SUCH_USER;
  poplar_auth_request_set_secret(req, s->password);
  poplar_auth_request_set_mail(req, "abisample:box");
  poplar_auth_request_set_field(req, "sample", "1.0");
  return POPLAR_PASSDB_OK;
}

static const PoplarPassdbOps sample_passdb = {
    .verify_plain = sample_verify,
    .lookup_secret = sample_secret,
};

/* ---- store -------------------------------------------------------------- */

static PoplarStoreResult sample_open(void *data, PoplarMailbox *mbox,
                                     const char *location)
{
  Sample *s = data;
  if (strcmp(location, "box") != 0) {
    poplar_mailbox_set_error(mbox, "abi-sample has no mailbox '%s'",
                             location);
    return POPLAR_STORE_PERMFAIL;
  }
  const char *field = poplar_mailbox_field(mbox, "sample");
  if (!field || strcmp(field, "1.0") != 0) {
    poplar_mailbox_set_error(mbox, "the passdb field did not reach the store");
    return POPLAR_STORE_TEMPFAIL;
  }
  for (unsigned n = 1; n <= (unsigned)s->messages; n++) {
    char text[SAMPLE_BODY_MAX];
    size_t len = message_text(n, text, sizeof text);
    PoplarCrlfSize size;
    poplar_crlf_size_init(&size);
    poplar_crlf_size_feed(&size, text, len);
    char uidl[32];
    snprintf(uidl, sizeof uidl, "abi-sample-%u", n);
    if (!poplar_mailbox_add_message(mbox, uidl, poplar_crlf_size_finish(&size),
                                    (void *)(size_t)n))
      return POPLAR_STORE_TEMPFAIL;
  }
  return POPLAR_STORE_OK;
}

static PoplarStoreResult sample_message_open(void *data, PoplarMailbox *mbox,
                                             PoplarMessage *msg,
                                             void **stream)
{
  (void)data;
  (void)mbox;
  SampleStream *st = calloc(1, sizeof *st);
  if (!st)
    return POPLAR_STORE_TEMPFAIL;
  st->len = message_text((unsigned)(size_t)poplar_message_get_data(msg),
                         st->text, sizeof st->text);
  *stream = st;
  return POPLAR_STORE_OK;
}

static int64_t sample_message_read(void *data, void *stream, char *buf,
                                   size_t len)
{
  (void)data;
  SampleStream *st = stream;
  size_t n = st->len - st->pos;
  if (n > len)
    n = len;
  memcpy(buf, st->text + st->pos, n);
  st->pos += n;
  return (int64_t)n;
}

static void sample_message_close(void *data, void *stream)
{
  (void)data;
  free(stream);
}

static PoplarStoreResult sample_expunge(void *data, PoplarMailbox *mbox)
{
  Sample *s = data;
  unsigned deleted = 0;
  for (size_t i = 0; i < poplar_mailbox_message_count(mbox); i++)
    deleted += poplar_message_is_deleted(poplar_mailbox_message(mbox, i));
  poplar_session_log(poplar_mailbox_session(mbox), s->plugin, POPLAR_LOG_INFO,
                     "abi-sample: expunged %u message(s) of %s", deleted,
                     poplar_mailbox_user(mbox));
  return POPLAR_STORE_OK;
}

static void sample_close(void *data, PoplarMailbox *mbox)
{
  (void)data;
  (void)mbox;
}

static const PoplarStoreOps sample_store = {
    .open = sample_open,
    .message_open = sample_message_open,
    .message_read = sample_message_read,
    .message_close = sample_message_close,
    .expunge = sample_expunge,
    .close = sample_close,
};

/* ---- hooks -------------------------------------------------------------- */

static PoplarVerdict sample_connect(void *data, PoplarSession *s)
{
  Sample *p = data;
  SessionNote *note = calloc(1, sizeof *note);
  if (!note)
    return POPLAR_TEMPFAIL;
  poplar_session_set_data(s, p->plugin, note, free);
  return POPLAR_CONTINUE;
}

static PoplarVerdict sample_mailbox_open(void *data, PoplarSession *s,
                                         PoplarMailbox *mbox)
{
  Sample *p = data;
  (void)s;
  for (size_t i = 0; i < poplar_mailbox_message_count(mbox); i++) {
    PoplarMessage *msg = poplar_mailbox_message(mbox, i);
    size_t n = (size_t)poplar_message_get_data(msg);
    if (n <= SAMPLE_MAX_MESSAGES && p->hidden[n])
      poplar_message_set_hidden(msg, true);
    else if (p->add_header &&
             !poplar_message_add_header(msg, "X-ABI-Sample", "1.0"))
      return POPLAR_TEMPFAIL;
  }
  return POPLAR_CONTINUE;
}

static PoplarVerdict sample_retrieve(void *data, PoplarSession *s,
                                     PoplarMessage *msg, long top_lines)
{
  Sample *p = data;
  (void)msg;
  (void)top_lines;
  SessionNote *note = poplar_session_get_data(s, p->plugin);
  if (note)
    note->retrieved++;
  return POPLAR_CONTINUE;
}

static PoplarVerdict sample_disconnect(void *data, PoplarSession *s,
                                       PoplarDisconnectReason reason)
{
  Sample *p = data;
  SessionNote *note = poplar_session_get_data(s, p->plugin);
  const char *user = poplar_session_user(s);
  poplar_session_log(s, p->plugin, POPLAR_LOG_INFO,
                     "abi-sample: session %s of %s from %s ended (reason %d, "
                     "%u retrieved)",
                     poplar_session_id(s), user ? user : "nobody",
                     poplar_session_remote_address(s), (int)reason,
                     note ? note->retrieved : 0);
  return POPLAR_CONTINUE;
}

static const PoplarHookOps sample_hooks = {
    .connect = sample_connect,
    .mailbox_open = sample_mailbox_open,
    .message_retrieve = sample_retrieve,
    .disconnect = sample_disconnect,
};

/* ---- life cycle --------------------------------------------------------- */

static bool sample_init(PoplarPlugin *plugin, PoplarConfig *config)
{
  static Sample sample;
  Sample *s = &sample;
  bool ok = true;
  s->plugin = plugin;
  s->user = poplar_config_get_string(config, "user", "abi");
  s->password = poplar_config_get_string(config, "password", "abi-secret");
  ok &= poplar_config_get_int(config, "messages", 3, 0, SAMPLE_MAX_MESSAGES,
                              &s->messages);
  ok &= poplar_config_get_bool(config, "header", true, &s->add_header);
  uint64_t delay_ms = 0, max_size = 0;
  ok &= poplar_config_get_duration(config, "greeting-delay", 0, &delay_ms);
  ok &= poplar_config_get_size(config, "max-size", 1024 * 1024, &max_size);
  size_t n_hidden = 0;
  const char *const *hidden = poplar_config_get_list(config, "hide",
                                                     &n_hidden);
  for (size_t i = 0; i < n_hidden; i++) {
    long n = strtol(hidden[i], NULL, 10);
    if (n < 1 || n > SAMPLE_MAX_MESSAGES) {
      poplar_config_error(config, "hide", "'%s' is not a message number",
                          hidden[i]);
      ok = false;
      continue;
    }
    s->hidden[n] = 1;
  }
  if (poplar_config_has_key(config, "greeting-delay") && delay_ms > 0)
    poplar_config_warning(config, "greeting-delay",
                          "read and ignored by abi-sample");
  if (!ok)
    return false;
  poplar_plugin_set_data(plugin, s);
  unsigned major = 0, minor = 0;
  poplar_abi_version(&major, &minor);
  poplar_log(plugin, POPLAR_LOG_INFO,
             "abi-sample %s built for ABI %d.%d, running on ABI %u.%u",
             poplar_plugin_name(plugin), POPLAR_ABI_MAJOR, POPLAR_ABI_MINOR,
             major, minor);
  return poplar_register_passdb(plugin, "abi-sample", &sample_passdb,
                                sizeof sample_passdb, s) &&
         poplar_register_store(plugin, "abisample", &sample_store,
                               sizeof sample_store, s) &&
         poplar_register_hook(plugin, &sample_hooks, sizeof sample_hooks, s);
}

POPLAR_PLUGIN_DEFINE(abi_sample, "1.0.0",
                     "built against the ABI 1.0 headers (ABI test)", NULL,
                     sample_init, NULL)
