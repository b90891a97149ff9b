/* SPDX-License-Identifier: MIT */
/*
 * hook-spamd: the mailbox_open hook and the configuration.
 *
 * At login, each message without a cached result is read (up to max-size)
 * and sent to spamd; the verdicts are cached, then applied to every
 * message: headers added (so LIST sizes include them), spam hidden when
 * the action says so.  A message bigger than max-size is not scanned and
 * passes as it is, as spamc does.
 *
 * When spamd is down or slow, fail = open lets the login go on with the
 * unscanned messages untouched (and tries spamd again at the next login);
 * fail = closed refuses the login with -ERR [SYS/TEMP], so no unfiltered
 * mail is ever shown.
 */
#include "spamd.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define SPAMD_DEFAULT_ADDRESS "127.0.0.1:783"
#define SPAMD_DEFAULT_TIMEOUT_MS 30000
#define SPAMD_DEFAULT_MAX_SIZE (500 * 1024) /* spamc's default */
#define SPAMD_MAX_MAX_SIZE (256 * 1024 * 1024)
#define SPAMD_DEFAULT_CONNECTIONS 4
/* RFC 5322 2.1.1: lines of at most 998 characters; the rule list of
 * X-Spam-Status is cut to stay well below. */
#define SPAMD_STATUS_TESTS_MAX 800
#define SPAMD_READ_CHUNK 65536

typedef enum SpamdAction {
  SPAMD_ACTION_TAG,
  SPAMD_ACTION_HIDE,
  SPAMD_ACTION_DELETE,
} SpamdAction;

typedef struct SpamdPlugin {
  PoplarPlugin *plugin;
  SpamdServer *server;
  SpamdCommand command;
  SpamdAction action;
  bool fail_closed;
  bool add_headers;
  uint64_t max_size;
  const char *cache_dir; /* NULL: no cache */
  const char *spamd_user; /* template with %u, or NULL */
  const char *flag_header;
  const char *status_header;
  const char *score_header;
} SpamdPlugin;

/* ---- applying a verdict --------------------------------------------------- */

static void format_score(char *buf, size_t size, double v)
{
  g_ascii_formatd(buf, (int)size, "%.1f", v);
}

static void add_headers(SpamdPlugin *p, PoplarMessage *msg,
                        const SpamdCacheEntry *e)
{
  char score[G_ASCII_DTOSTR_BUF_SIZE], required[G_ASCII_DTOSTR_BUF_SIZE];
  format_score(score, sizeof score, e->score);
  format_score(required, sizeof required, e->required);
  g_autofree char *tests = g_strndup(e->symbols, SPAMD_STATUS_TESTS_MAX);
  g_autofree char *status = g_strdup_printf(
      "%s, score=%s required=%s tests=%s%s", e->spam ? "Yes" : "No", score,
      required, tests[0] ? tests : "none",
      strlen(e->symbols) > SPAMD_STATUS_TESTS_MAX ? "..." : "");
  /* Each header is put in front of the others: added in reverse order so
   * that the client reads Flag, Status, Score. */
  if (p->score_header)
    poplar_message_add_header(msg, p->score_header, score);
  if (p->status_header)
    poplar_message_add_header(msg, p->status_header, status);
  if (p->flag_header)
    poplar_message_add_header(msg, p->flag_header, e->spam ? "YES" : "NO");
}

static bool apply_verdict(SpamdPlugin *p, PoplarMessage *msg,
                          const SpamdCacheEntry *e)
{
  if (p->add_headers)
    add_headers(p, msg, e);
  if (e->spam && p->action != SPAMD_ACTION_TAG) {
    poplar_message_set_hidden(msg, true);
    /* Removed only if this session ends with QUIT, like a DELE. */
    if (p->action == SPAMD_ACTION_DELETE)
      poplar_message_set_deleted(msg, true);
    return true;
  }
  return false;
}

/* ---- scanning --------------------------------------------------------------- */

typedef enum ScanResult {
  SCAN_DONE,
  SCAN_SKIPPED,    /* too big, or unreadable: passes unscanned */
  SCAN_SPAMD_DOWN, /* spamd failed: the fail policy decides */
} ScanResult;

/* Reads @msg whole, up to max_size.  Returns NULL when it is bigger or
 * cannot be read (logged). */
static GByteArray *read_message(SpamdPlugin *p, PoplarSession *s,
                                PoplarMailbox *mbox, PoplarMessage *msg)
{
  PoplarMessageReader *r = poplar_message_reader_open(mbox, msg);
  if (!r)
    return NULL;
  GByteArray *data = g_byte_array_new();
  char *chunk = g_malloc(SPAMD_READ_CHUNK);
  bool ok = true;
  for (;;) {
    int64_t n = poplar_message_reader_read(r, chunk, SPAMD_READ_CHUNK);
    if (n == 0)
      break;
    if (n < 0 || (uint64_t)n > SPAMD_READ_CHUNK) {
      poplar_session_log(s, p->plugin, POPLAR_LOG_WARNING,
                         "cannot read message %s: not scanned",
                         poplar_message_uidl(msg));
      ok = false;
      break;
    }
    if (data->len + (uint64_t)n > p->max_size) {
      /* Bigger on disk than its listed size suggested: skip as too big. */
      ok = false;
      break;
    }
    g_byte_array_append(data, (const guint8 *)chunk, (guint)n);
  }
  g_free(chunk);
  poplar_message_reader_close(r);
  if (!ok) {
    g_byte_array_unref(data);
    return NULL;
  }
  return data;
}

static char *spamd_user_for(const SpamdPlugin *p, const char *user)
{
  if (!p->spamd_user)
    return NULL;
  GString *out = g_string_new(NULL);
  for (const char *t = p->spamd_user; *t; t++) {
    if (t[0] == '%' && t[1] == 'u') {
      g_string_append(out, user);
      t++;
    } else {
      g_string_append_c(out, *t);
    }
  }
  /* A header value: no line ends. */
  g_strdelimit(out->str, "\r\n", '_');
  return g_string_free(out, FALSE);
}

static ScanResult scan_one(SpamdPlugin *p, PoplarSession *s,
                           PoplarMailbox *mbox, PoplarMessage *msg,
                           SpamdCache *cache, char **error)
{
  const char *uidl = poplar_message_uidl(msg);
  if (poplar_message_size(msg) > p->max_size) {
    poplar_session_log(s, p->plugin, POPLAR_LOG_DEBUG,
                       "message %s: %" G_GUINT64_FORMAT
                       " octets, over max-size: not scanned",
                       uidl, poplar_message_size(msg));
    return SCAN_SKIPPED;
  }
  g_autoptr(GByteArray) data = read_message(p, s, mbox, msg);
  if (!data)
    return SCAN_SKIPPED;
  g_autofree char *user = spamd_user_for(p, poplar_mailbox_user(mbox));
  SpamdVerdict v;
  if (!spamd_check(p->server, p->command, user, data->data, data->len, &v,
                   error))
    return SCAN_SPAMD_DOWN;
  char score[G_ASCII_DTOSTR_BUF_SIZE];
  format_score(score, sizeof score, v.score);
  poplar_session_log(s, p->plugin, POPLAR_LOG_DEBUG,
                     "spamd scanned %s: %s, score %s, tests %s", uidl,
                     v.spam ? "spam" : "ham", score,
                     v.symbols ? v.symbols : "-");
  if (v.report)
    poplar_session_log(s, p->plugin, POPLAR_LOG_DEBUG,
                       "spamd report for %s: %s", uidl, v.report);
  spamd_cache_store(cache, uidl, &v);
  spamd_verdict_clear(&v);
  return SCAN_DONE;
}

static PoplarVerdict spamd_mailbox_open(void *data, PoplarSession *s,
                                        PoplarMailbox *mbox)
{
  SpamdPlugin *p = data;
  SpamdCache *cache =
      spamd_cache_load(p->plugin, s, p->cache_dir, poplar_mailbox_user(mbox),
                       poplar_mailbox_location(mbox));
  unsigned scanned = 0, cached = 0, skipped = 0, hidden = 0, spam = 0;
  bool spamd_down = false;
  char *down_error = NULL;
  size_t n = poplar_mailbox_message_count(mbox);

  for (size_t i = 0; i < n; i++) {
    PoplarMessage *msg = poplar_mailbox_message(mbox, i);
    const char *uidl = poplar_message_uidl(msg);
    spamd_cache_keep(cache, uidl);
    if (poplar_message_is_hidden(msg))
      continue; /* an earlier hook hid it: not ours to show or scan */
    const SpamdCacheEntry *e = spamd_cache_lookup(cache, uidl);
    if (e) {
      cached++;
    } else if (spamd_down) {
      skipped++;
      continue;
    } else {
      char *error = NULL;
      ScanResult r = scan_one(p, s, mbox, msg, cache, &error);
      if (r == SCAN_SKIPPED) {
        skipped++;
        continue;
      }
      if (r == SCAN_SPAMD_DOWN) {
        /* One failure is enough for this login: waiting for a timeout on
         * every message would stall it for minutes. */
        spamd_down = true;
        down_error = error;
        if (p->fail_closed)
          break;
        skipped++;
        continue;
      }
      scanned++;
      e = spamd_cache_lookup(cache, uidl);
    }
    if (e->spam)
      spam++;
    if (apply_verdict(p, msg, e))
      hidden++;
  }

  if (!spamd_down || !p->fail_closed)
    spamd_cache_save(cache);
  spamd_cache_free(cache);

  if (spamd_down) {
    poplar_session_log(s, p->plugin, POPLAR_LOG_ERROR, "%s: %s", down_error,
                       p->fail_closed
                           ? "login refused (fail = closed)"
                           : "messages not scanned are shown unfiltered "
                             "(fail = open)");
    g_free(down_error);
    if (p->fail_closed) {
      poplar_hook_reply(s, NULL, "Spam filter unavailable, try again later");
      return POPLAR_TEMPFAIL;
    }
  }
  poplar_session_log(s, p->plugin, POPLAR_LOG_INFO,
                     "%zu messages: %u scanned, %u from cache, %u not "
                     "scanned; %u spam, %u hidden",
                     n, scanned, cached, skipped, spam, hidden);
  return POPLAR_CONTINUE;
}

static void spamd_destroy(void *data)
{
  SpamdPlugin *p = data;
  spamd_server_free(p->server);
  g_free(p);
}

static const PoplarHookOps spamd_hooks = {
    .mailbox_open = spamd_mailbox_open,
    .destroy = spamd_destroy,
};

/* ---- configuration ---------------------------------------------------------- */

/* Empty value = header not added. */
static const char *header_name(PoplarConfig *config, const char *key,
                               const char *def, bool *ok)
{
  const char *v = poplar_config_get_string(config, key, def);
  if (!v[0])
    return NULL;
  for (const char *c = v; *c; c++) {
    if (*c < 0x21 || *c > 0x7e || *c == ':') {
      poplar_config_error(config, key, "'%s' is not a header name", v);
      *ok = false;
      return NULL;
    }
  }
  return v;
}

static bool read_choice(PoplarConfig *config, const char *key,
                        const char *def, const char *const *names,
                        int *out)
{
  const char *v = poplar_config_get_string(config, key, def);
  for (int i = 0; names[i]; i++) {
    if (g_ascii_strcasecmp(v, names[i]) == 0) {
      *out = i;
      return true;
    }
  }
  g_autofree char *all = g_strjoinv(", ", (char **)names);
  poplar_config_error(config, key, "'%s' is not one of %s", v, all);
  return false;
}

static bool spamd_init(PoplarPlugin *plugin, PoplarConfig *config)
{
  static const char *const actions[] = {"tag", "hide", "delete", NULL};
  static const char *const fails[] = {"open", "closed", NULL};
  static const char *const commands[] = {"check", "symbols", "report", NULL};
  bool ok = true;
  SpamdPlugin *p = g_new0(SpamdPlugin, 1);
  p->plugin = plugin;

  const char *address = poplar_config_get_string(config, "spamd",
                                                 SPAMD_DEFAULT_ADDRESS);
  uint64_t timeout_ms = 0;
  long long max_conn = 0;
  ok &= poplar_config_get_duration(config, "timeout",
                                   SPAMD_DEFAULT_TIMEOUT_MS, &timeout_ms);
  ok &= poplar_config_get_int(config, "max-connections",
                              SPAMD_DEFAULT_CONNECTIONS, 1, 1024, &max_conn);
  if (ok && timeout_ms == 0) {
    poplar_config_error(config, "timeout", "must be more than 0");
    ok = false;
  }
  ok &= poplar_config_get_size(config, "max-size", SPAMD_DEFAULT_MAX_SIZE,
                               &p->max_size);
  if (p->max_size > SPAMD_MAX_MAX_SIZE) {
    poplar_config_error(config, "max-size", "at most 256M");
    ok = false;
  }
  int action = 0, fail = 0, command = 1;
  ok &= read_choice(config, "action", "tag", actions, &action);
  ok &= read_choice(config, "fail", "open", fails, &fail);
  ok &= read_choice(config, "command", "symbols", commands, &command);
  p->action = (SpamdAction)action;
  p->fail_closed = fail == 1;
  p->command = command == 0   ? SPAMD_CHECK
               : command == 1 ? SPAMD_SYMBOLS
                              : SPAMD_REPORT;
  bool allow_delete = false;
  ok &= poplar_config_get_bool(config, "allow-delete", false, &allow_delete);
  if (p->action == SPAMD_ACTION_DELETE) {
    if (!allow_delete) {
      poplar_config_error(config, "action",
                          "delete removes mail for good: set allow-delete = "
                          "yes as well to confirm");
      ok = false;
    }
  }
  ok &= poplar_config_get_bool(config, "add-headers", true, &p->add_headers);
  p->flag_header = header_name(config, "flag-header", "X-Spam-Flag", &ok);
  p->status_header =
      header_name(config, "status-header", "X-Spam-Status", &ok);
  p->score_header = header_name(config, "score-header", "X-Spam-Score", &ok);
  p->spamd_user = poplar_config_get_string(config, "spamd-user", NULL);
  p->cache_dir = poplar_config_get_string(config, "cache-dir", NULL);
  if (p->cache_dir) {
    if (p->cache_dir[0] != '/') {
      poplar_config_error(config, "cache-dir", "must be an absolute path");
      ok = false;
    } else if (!g_file_test(p->cache_dir, G_FILE_TEST_IS_DIR)) {
      poplar_config_error(config, "cache-dir", "%s is not a directory",
                          p->cache_dir);
      ok = false;
    } else if (access(p->cache_dir, W_OK | X_OK) != 0) {
      poplar_config_error(config, "cache-dir", "%s is not writable: %s",
                          p->cache_dir, g_strerror(errno));
      ok = false;
    }
  } else {
    poplar_config_warning(config, NULL,
                          "no cache-dir: every message is scanned again at "
                          "every login");
  }

  if (ok) {
    char *error = NULL;
    p->server = spamd_server_new(address, timeout_ms, (unsigned)max_conn,
                                 &error);
    if (!p->server) {
      poplar_config_error(config, "spamd", "%s", error);
      g_free(error);
      ok = false;
    }
  }
  if (!ok || !poplar_register_hook(plugin, &spamd_hooks, sizeof spamd_hooks,
                                   p)) {
    spamd_destroy(p);
    return false;
  }
  return true;
}

POPLAR_PLUGIN_DEFINE(hook_spamd, "0.1.0",
                     "SpamAssassin spamd: tag or hide spam when a mailbox is "
                     "opened",
                     NULL, spamd_init, NULL)
