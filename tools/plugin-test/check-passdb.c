/* SPDX-License-Identifier: MIT */
/*
 * The password-database contract: the known user with the right and a
 * wrong password, an unknown user (answered like a wrong password, and no
 * faster: see check-passdb-timing.c), the fields an OK sets, APOP's
 * lookup_secret, TEMPFAIL when the backend is down (--backend-down), and
 * the same answers from many pool threads at once.
 */
#include "passdb-kit.h"

#include <string.h>

KitAnswer kit_passdb_try(const PoplarPassdbEntry *db, const char *user,
                         const char *password)
{
  KitAnswer answer = {0};
  PoplarSession *s = kit_session_new(NULL);
  PoplarAuthRequest *req = poplarpriv_auth_request_new(s, "USER", user);
  /* The password in a buffer of its own, wiped after the attempt as the
   * core does (auth.h). */
  char *copy = g_strdup(password);
  answer.result = poplarpriv_passdb_verify_plain(db, req, copy);
  memset(copy, 0, strlen(copy));
  g_free(copy);
  const char *code = poplar_auth_request_reason_code(req);
  answer.reason_code = g_strdup(code ? code : "");
  const char *canon = poplar_auth_request_user(req);
  answer.user = g_strdup(canon ? canon : "");
  const char *mail = poplar_auth_request_mail(req);
  answer.mail = mail ? g_strdup(mail) : NULL;
  answer.log = kit_log_take(s->id, POPLAR_LOG_WARNING);
  poplarpriv_auth_request_free(req);
  kit_session_free(s);
  return answer;
}

void kit_answer_clear(KitAnswer *answer)
{
  g_free(answer->reason_code);
  g_free(answer->user);
  g_free(answer->mail);
  g_free(answer->log);
  memset(answer, 0, sizeof *answer);
}

const char *kit_passdb_result_name(PoplarPassdbResult r)
{
  switch (r) {
  case POPLAR_PASSDB_OK: return "OK";
  case POPLAR_PASSDB_DENIED: return "DENIED";
  case POPLAR_PASSDB_NO_SUCH_USER: return "NO_SUCH_USER";
  case POPLAR_PASSDB_TEMPFAIL: return "TEMPFAIL";
  }
  return "(invalid)";
}

static void check_known_user(const KitPassdbRun *run)
{
  KitAnswer a = kit_passdb_try(run->db, run->user, run->password);
  kit_check(run->report, a.result == POPLAR_PASSDB_OK, "passdb.right-password",
            "%s with the right password answered %s (%s)", run->user,
            kit_passdb_result_name(a.result), a.log);
  if (a.result == POPLAR_PASSDB_OK) {
    /* A mail location, when set, is scheme:rest (poplar.conf(5) mail). */
    bool user_ok = a.user[0] != '\0';
    bool mail_ok = !a.mail || (strchr(a.mail, ':') && a.mail[0] != ':');
    if (user_ok && mail_ok)
      kit_pass(run->report, "passdb.fields", "user %s%s%s", a.user,
               a.mail ? ", mail " : "", a.mail ? a.mail : "");
    else
      kit_fail(run->report, "passdb.fields", "%s",
               !user_ok ? "the OK left an empty user name"
                        : "the mail location set has no scheme");
  }
  kit_answer_clear(&a);
}

static void check_wrong_and_unknown(const KitPassdbRun *run)
{
  KitAnswer wrong = kit_passdb_try(run->db, run->user, run->wrong_password);
  kit_check(run->report, wrong.result == POPLAR_PASSDB_DENIED,
            "passdb.wrong-password", "%s with a wrong password answered %s "
            "instead of DENIED (%s)", run->user,
            kit_passdb_result_name(wrong.result), wrong.log);
  KitAnswer unknown =
      kit_passdb_try(run->db, run->unknown_user, run->wrong_password);
  bool code_ok = unknown.result == POPLAR_PASSDB_NO_SUCH_USER ||
                 unknown.result == POPLAR_PASSDB_DENIED;
  /* The client must not learn which: a reason code (e.g. [AUTH]) only
   * for existing users would tell it. */
  bool same_reason = strcmp(unknown.reason_code, wrong.reason_code) == 0 ||
                     unknown.result == POPLAR_PASSDB_NO_SUCH_USER;
  if (!code_ok)
    kit_fail(run->report, "passdb.unknown-user", "the unknown user %s "
             "answered %s instead of NO_SUCH_USER (%s)", run->unknown_user,
             kit_passdb_result_name(unknown.result), unknown.log);
  else
    kit_check(run->report, same_reason, "passdb.unknown-user",
              "the unknown user got the reason code '%s', a wrong password "
              "'%s': the client can tell them apart", unknown.reason_code,
              wrong.reason_code);
  kit_answer_clear(&wrong);
  kit_answer_clear(&unknown);
}

static void check_lookup_secret(const KitPassdbRun *run)
{
  if (!run->db->ops.lookup_secret) {
    kit_skip(run->report, "passdb.lookup-secret", "no lookup_secret (APOP "
             "not offered; optional)");
    return;
  }
  PoplarSession *s = kit_session_new(NULL);
  PoplarAuthRequest *req = poplarpriv_auth_request_new(s, "APOP", run->user);
  PoplarPassdbResult r = poplarpriv_passdb_lookup_secret(run->db, req);
  bool ok = (r == POPLAR_PASSDB_OK && req->secret &&
             strcmp(req->secret, run->password) == 0) ||
            r == POPLAR_PASSDB_DENIED;
  g_autofree char *log = kit_log_take(s->id, POPLAR_LOG_WARNING);
  kit_check(run->report, ok, "passdb.lookup-secret",
            "lookup_secret for %s answered %s%s (%s)", run->user,
            kit_passdb_result_name(r),
            r == POPLAR_PASSDB_OK ? " with a secret that is not the password"
                                  : "", log);
  poplarpriv_auth_request_free(req);
  kit_session_free(s);
}

/* ---- many threads ---------------------------------------------------------- */

/* Attempts per thread: at most 30, fewer when --timing-rounds asks for a
 * short run (a database that forks a program per attempt). */
#define THREAD_ROUNDS_MAX 30

typedef struct ThreadsRun {
  const KitPassdbRun *run;
  unsigned rounds;
  PoplarPassdbResult expected[3];
  char **failures;
} ThreadsRun;

static void lookup_thread(unsigned index, void *data)
{
  ThreadsRun *tr = data;
  const KitPassdbRun *run = tr->run;
  const char *users[3] = {run->user, run->user, run->unknown_user};
  const char *passwords[3] = {run->password, run->wrong_password,
                              run->wrong_password};
  for (unsigned round = 0; round < tr->rounds; round++) {
    unsigned kind = (round + index) % 3;
    KitAnswer a = kit_passdb_try(run->db, users[kind], passwords[kind]);
    bool same = a.result == tr->expected[kind];
    if (!same)
      tr->failures[index] = g_strdup_printf(
          "%s answered %s instead of %s", users[kind],
          kit_passdb_result_name(a.result),
          kit_passdb_result_name(tr->expected[kind]));
    kit_answer_clear(&a);
    if (!same)
      return;
  }
}

static void check_threads(const KitPassdbRun *run)
{
  unsigned n = (unsigned)run->opts->threads;
  ThreadsRun tr = {.run = run,
                   .rounds = MIN(THREAD_ROUNDS_MAX,
                                 (unsigned)run->opts->timing_rounds)};
  const char *users[3] = {run->user, run->user, run->unknown_user};
  const char *passwords[3] = {run->password, run->wrong_password,
                              run->wrong_password};
  for (int k = 0; k < 3; k++) {
    KitAnswer a = kit_passdb_try(run->db, users[k], passwords[k]);
    tr.expected[k] = a.result;
    kit_answer_clear(&a);
  }
  tr.failures = g_new0(char *, n);
  GError *error = NULL;
  if (!kit_run_parallel(n, lookup_thread, &tr, &error)) {
    kit_fail(run->report, "passdb.threads", "thread pool: %s",
             error->message);
    g_error_free(error);
  } else {
    unsigned failed = 0;
    const char *first = NULL;
    for (unsigned i = 0; i < n; i++)
      if (tr.failures[i] && failed++ == 0)
        first = tr.failures[i];
    if (failed)
      kit_fail(run->report, "passdb.threads", "%u of %u threads got other "
               "answers than one alone; first: %s", failed, n, first);
    else
      kit_pass(run->report, "passdb.threads", "%u threads, %u attempts "
               "each", n, tr.rounds);
  }
  for (unsigned i = 0; i < n; i++)
    g_free(tr.failures[i]);
  g_free(tr.failures);
}

/* ---- the backend down ------------------------------------------------------- */

static void check_backend_down(const KitPassdbRun *run)
{
  if (!run->opts->backend_down) {
    kit_skip(run->report, "passdb.tempfail", "give --backend-down CMD to "
             "check TEMPFAIL while the backend is down");
    return;
  }
  gint status = 0;
  GError *error = NULL;
  const char *argv[] = {"/bin/sh", "-c", run->opts->backend_down, NULL};
  if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                    NULL, NULL, &status, &error) ||
      !g_spawn_check_wait_status(status, NULL)) {
    kit_fail(run->report, "passdb.tempfail", "--backend-down failed%s%s",
             error ? ": " : "", error ? error->message : "");
    g_clear_error(&error);
    return;
  }
  gint64 start = g_get_monotonic_time();
  KitAnswer a = kit_passdb_try(run->db, run->user, run->password);
  double seconds = (double)(g_get_monotonic_time() - start) / 1e6;
  kit_check(run->report, a.result == POPLAR_PASSDB_TEMPFAIL,
            "passdb.tempfail", "with the backend down the known user "
            "answered %s after %.1f s (%s)",
            kit_passdb_result_name(a.result), seconds, a.log);
  kit_answer_clear(&a);
}

void kit_check_passdbs(KitPlugin *kp, const KitOptions *opts,
                       KitReport *report)
{
  GPtrArray *dbs = kp->registry->passdbs;
  for (guint i = 0; i < dbs->len; i++) {
    const PoplarPassdbEntry *db = g_ptr_array_index(dbs, i);
    if (!opts->user || !opts->password) {
      kit_skip(report, "passdb.right-password", "the plugin registers the "
               "password database '%s'; give --user and --password to "
               "check it", db->name);
      continue;
    }
    g_autofree char *wrong = opts->wrong_password
                                 ? g_strdup(opts->wrong_password)
                                 : g_strconcat(opts->password, "-kit-wrong",
                                               NULL);
    g_autofree char *unknown =
        opts->unknown_user ? g_strdup(opts->unknown_user)
                           : g_strdup_printf("kit-unknown-%08x",
                                             g_random_int());
    KitPassdbRun run = {.db = db, .opts = opts, .report = report,
                        .user = opts->user, .password = opts->password,
                        .wrong_password = wrong, .unknown_user = unknown};
    check_known_user(&run);
    check_wrong_and_unknown(&run);
    kit_check_passdb_timing(&run);
    check_lookup_secret(&run);
    check_threads(&run);
    /* Said, not silently left out: an author should not read the list of
     * passes as a promise about this one. */
    kit_skip(report, "passdb.secret-wipe", "not checked: review that "
             "every copy of a password the plugin makes is wiped before it "
             "is freed");
    check_backend_down(&run);
  }
}
