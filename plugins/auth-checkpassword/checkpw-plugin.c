/* SPDX-License-Identifier: MIT */
/*
 * auth-checkpassword: passwords checked by an external program speaking
 * the checkpassword interface of qmail, as extended by Dovecot's
 * checkpassword passdb.  Answers USER/PASS and SASL PLAIN/LOGIN
 * (verify_plain); the program never hands out secrets, so APOP is not
 * offered.
 *
 * What the program's end means (exit statuses are qmail's, plus
 * Dovecot's 3):
 *
 *   exit 0 and a reply on descriptor 4   OK, with the reply's fields
 *   exit 0 and no reply                  TEMPFAIL (it did not run argv[1])
 *   exit 1                               DENIED (wrong password)
 *   exit 3                               NO_SUCH_USER (next database)
 *   exit 2                               TEMPFAIL (the program was misused)
 *   exit 111                             TEMPFAIL (its temporary failure)
 *   any other exit, a signal, the timeout, a reply that is malformed or
 *   too long, a program that cannot be run, no free slot: TEMPFAIL
 *
 * Each failed login gets one log line; the password is never logged and
 * never put in an argument or the environment.
 */
#include "auth-checkpassword.h"

#include <stdarg.h>
#include <string.h>

#define EXIT_DENIED 1
#define EXIT_MISUSED 2
#define EXIT_UNKNOWN_USER 3
#define EXIT_TEMPFAIL 111

static void auth_log(const CheckpwSettings *s, PoplarAuthRequest *req,
                     PoplarLogLevel level, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

static void auth_log(const CheckpwSettings *s, PoplarAuthRequest *req,
                     PoplarLogLevel level, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  poplar_session_log(poplar_auth_request_session(req), s->plugin, level,
                     "%s", msg);
}

/* ", it wrote 'text'" for the end of a log line, or "". */
static char *said(const CheckpwRun *r)
{
  if (!r->diag->len)
    return g_strdup("");
  g_autofree char *text =
      checkpw_loggable(r->diag->str, r->diag->len, CHECKPW_LOG_TEXT_MAX);
  return g_strdup_printf("; it wrote '%s%s'", text,
                         r->diag_cut ? "..." : "");
}

/* Hands the reply's fields to the request.  A field we cannot use as
 * given is a fault of the program's, not of the user's. */
static PoplarPassdbResult apply_reply(const CheckpwSettings *s,
                                      PoplarAuthRequest *req,
                                      const char *shown,
                                      const CheckpwReply *reply)
{
  GString *names = g_string_new(NULL);
  for (guint i = 0; i < reply->fields->len; i++) {
    const CheckpwField *f = g_ptr_array_index(reply->fields, i);
    if (!strcmp(f->key, "password") || !strcmp(f->key, "pass"))
      continue; /* a hash for Dovecot's cache; nothing for us to keep */
    if (!strcmp(f->key, "user")) {
      if (f->value[0])
        poplar_auth_request_set_user(req, f->value);
    } else if (!strcmp(f->key, "home")) {
      if (f->value[0] != '/') {
        g_autofree char *v = checkpw_loggable(f->value, strlen(f->value),
                                              CHECKPW_LOG_TEXT_MAX);
        auth_log(s, req, POPLAR_LOG_ERROR,
                 "user '%s': the checkpassword reply gives home '%s', "
                 "which is not an absolute path: login refused as a "
                 "temporary failure", shown, v);
        g_string_free(names, TRUE);
        return POPLAR_PASSDB_TEMPFAIL;
      }
      poplar_auth_request_set_home(req, f->value);
    } else if (!strcmp(f->key, "mail")) {
      poplar_auth_request_set_mail(req, f->value[0] ? f->value : NULL);
    } else {
      poplar_auth_request_set_field(req, f->key, f->value);
    }
    g_string_append_printf(names, "%s%s", names->len ? " " : "", f->key);
  }
  g_autofree char *as = checkpw_loggable(poplar_auth_request_user(req),
                                         strlen(poplar_auth_request_user(req)),
                                         CHECKPW_LOG_TEXT_MAX);
  auth_log(s, req, POPLAR_LOG_DEBUG,
           "user '%s' accepted by the checkpassword program as '%s' "
           "(fields: %s)", shown, as, names->len ? names->str : "none");
  g_string_free(names, TRUE);
  return POPLAR_PASSDB_OK;
}

static PoplarPassdbResult exited(const CheckpwSettings *s,
                                 PoplarAuthRequest *req, const char *shown,
                                 const CheckpwRun *r)
{
  g_autofree char *words = said(r);
  switch (r->exit_status) {
  case 0:
    break;
  case EXIT_DENIED:
    auth_log(s, req, POPLAR_LOG_INFO, "user '%s': authentication failed "
             "(checkpassword exit 1)%s", shown, words);
    return POPLAR_PASSDB_DENIED;
  case EXIT_UNKNOWN_USER:
    auth_log(s, req, POPLAR_LOG_INFO, "unknown user '%s' (checkpassword "
             "exit 3)%s", shown, words);
    return POPLAR_PASSDB_NO_SUCH_USER;
  case EXIT_MISUSED:
    auth_log(s, req, POPLAR_LOG_ERROR, "user '%s': the checkpassword "
             "program %s says it was misused (exit 2): check [%s] args%s",
             shown, s->program, poplar_plugin_name(s->plugin), words);
    return POPLAR_PASSDB_TEMPFAIL;
  case EXIT_TEMPFAIL:
    auth_log(s, req, POPLAR_LOG_ERROR, "user '%s': the checkpassword "
             "program %s reports a temporary failure (exit 111)%s", shown,
             s->program, words);
    return POPLAR_PASSDB_TEMPFAIL;
  default:
    auth_log(s, req, POPLAR_LOG_ERROR, "user '%s': the checkpassword "
             "program %s exited with status %d, which the interface does "
             "not define: treated as a temporary failure%s", shown,
             s->program, r->exit_status, words);
    return POPLAR_PASSDB_TEMPFAIL;
  }

  if (!r->reply->len) {
    auth_log(s, req, POPLAR_LOG_ERROR, "user '%s': the checkpassword "
             "program %s exited 0 without running the reply program %s "
             "(nothing came on descriptor 4): login refused as a temporary "
             "failure%s", shown, s->program, s->reply_program, words);
    return POPLAR_PASSDB_TEMPFAIL;
  }
  CheckpwReply reply;
  g_autofree char *why = NULL;
  if (!checkpw_reply_parse(r->reply->str, r->reply->len, &reply, &why)) {
    auth_log(s, req, POPLAR_LOG_ERROR, "user '%s': the checkpassword reply "
             "is malformed (%s): login refused as a temporary failure%s",
             shown, why, words);
    return POPLAR_PASSDB_TEMPFAIL;
  }
  PoplarPassdbResult res = apply_reply(s, req, shown, &reply);
  checkpw_reply_clear(&reply);
  return res;
}

static PoplarPassdbResult judge(const CheckpwSettings *s,
                                PoplarAuthRequest *req, const char *shown,
                                const CheckpwRun *r)
{
  g_autofree char *words = said(r);
  switch (r->end) {
  case CHECKPW_END_EXITED:
    return exited(s, req, shown, r);
  case CHECKPW_END_SIGNALED:
    auth_log(s, req, POPLAR_LOG_ERROR, "user '%s': the checkpassword "
             "program %s was killed by signal %d (%s)%s", shown, s->program,
             r->signal, g_strsignal(r->signal), words);
    break;
  case CHECKPW_END_TIMEOUT:
    auth_log(s, req, POPLAR_LOG_ERROR, "user '%s': the checkpassword "
             "program %s did not finish within %" G_GUINT64_FORMAT " ms "
             "(timeout): its process group was killed%s", shown, s->program,
             s->timeout_ms, words);
    break;
  case CHECKPW_END_REPLY_TOO_LONG:
    auth_log(s, req, POPLAR_LOG_ERROR, "user '%s': the checkpassword reply "
             "is longer than %d octets: the program was killed%s", shown,
             CHECKPW_REPLY_MAX, words);
    break;
  case CHECKPW_END_SPAWN_FAILED:
    auth_log(s, req, POPLAR_LOG_ERROR, "user '%s': cannot run the "
             "checkpassword program %s: %s", shown, s->program, r->error);
    break;
  case CHECKPW_END_BUSY:
    auth_log(s, req, POPLAR_LOG_ERROR, "user '%s': all %u checkpassword "
             "processes (max-processes) stayed busy for %" G_GUINT64_FORMAT
             " ms: login refused as a temporary failure", shown,
             s->max_processes, checkpw_slot_wait_ms(s));
    break;
  case CHECKPW_END_IO_ERROR:
    auth_log(s, req, POPLAR_LOG_ERROR, "user '%s': running the "
             "checkpassword program %s failed: %s", shown, s->program,
             r->error);
    break;
  }
  return POPLAR_PASSDB_TEMPFAIL;
}

static PoplarPassdbResult checkpw_verify_plain(void *data,
                                               PoplarAuthRequest *req,
                                               const char *password)
{
  const CheckpwSettings *s = data;
  const char *user = poplar_auth_request_user(req);
  if (!user || !user[0])
    return POPLAR_PASSDB_NO_SUCH_USER;
  g_autofree char *shown = checkpw_loggable(user, strlen(user),
                                            CHECKPW_LOG_TEXT_MAX);
  /* Refused for every user alike: no POP3 account has an empty password,
   * and some programs let one through for accounts without any. */
  if (!password[0]) {
    auth_log(s, req, POPLAR_LOG_INFO, "user '%s': empty password refused",
             shown);
    return POPLAR_PASSDB_DENIED;
  }
  if (strlen(user) + strlen(password) + 3 > CHECKPW_REQUEST_MAX) {
    auth_log(s, req, POPLAR_LOG_INFO, "user '%s': user name and password "
             "together are longer than the checkpassword interface allows "
             "(%d octets): refused", shown, CHECKPW_REQUEST_MAX);
    return POPLAR_PASSDB_DENIED;
  }

  PoplarSession *session = poplar_auth_request_session(req);
  const CheckpwContext ctx = {
      .user = user,
      .mechanism = poplar_auth_request_mechanism(req),
      .session_id = poplar_session_id(session),
      .local_address = poplar_session_local_address(session),
      .local_port = poplar_session_local_port(session),
      .remote_address = poplar_session_remote_address(session),
      .remote_port = poplar_session_remote_port(session),
  };
  CheckpwRun r;
  checkpw_run(s, &ctx, password, &r);
  PoplarPassdbResult res = judge(s, req, shown, &r);
  checkpw_run_clear(&r);
  return res;
}

static void checkpw_destroy(void *data)
{
  checkpw_settings_free(data);
}

static const PoplarPassdbOps checkpw_ops = {
    .verify_plain = checkpw_verify_plain,
    .destroy = checkpw_destroy,
};

static bool auth_checkpassword_init(PoplarPlugin *plugin,
                                    PoplarConfig *config)
{
  CheckpwSettings *s = checkpw_settings_read(plugin, config);
  if (!s)
    return false;
  if (!poplar_register_passdb(plugin, "checkpassword", &checkpw_ops,
                              sizeof checkpw_ops, s)) {
    checkpw_settings_free(s);
    return false;
  }
  poplar_log(plugin, POPLAR_LOG_INFO, "checkpassword program %s, reply "
             "program %s, timeout %" G_GUINT64_FORMAT " ms, at most %u at "
             "once", s->program, s->reply_program, s->timeout_ms,
             s->max_processes);
  return true;
}

POPLAR_PLUGIN_DEFINE(auth_checkpassword, "0.1.0",
                     "Passwords checked by a checkpassword program", NULL,
                     auth_checkpassword_init, NULL)
