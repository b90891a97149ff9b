/* SPDX-License-Identifier: MIT */
/*
 * auth-pam: passwords checked by the system's PAM stack.  Reads the
 * [auth-pam] section and answers USER/PASS and SASL PLAIN/LOGIN
 * (verify_plain).  PAM never hands out secrets, so APOP is not offered.
 * Master logins (lookup_user) find the account in the passwd database.
 *
 * Every failed login is logged at info level with the step and PAM's own
 * words, never with the password.  Whether a user exists is the stack's
 * to hide: the client gets the same reply for an unknown user as for a
 * wrong password, and a failure that only an authenticated user may learn
 * about (expired, locked) is told only after the password was right.
 */
#include "auth-pam.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define AUTH_PAM_DEFAULT_SERVICE "poplar"

static void auth_log(const PamSettings *s, PoplarAuthRequest *req,
                     PoplarLogLevel level, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

static void auth_log(const PamSettings *s, PoplarAuthRequest *req,
                     PoplarLogLevel level, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  poplar_session_log(poplar_auth_request_session(req), s->plugin, level,
                     "%s", msg);
}

static bool has_control_char(const char *s)
{
  for (; *s; s++) {
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      return true;
  }
  return false;
}

/* Hands the authenticated account's name, home, ids and mail location to
 * the request.  Returns what the login comes to. */
static PoplarPassdbResult apply_account(const PamSettings *s,
                                        PoplarAuthRequest *req,
                                        const char *asked,
                                        const char *account)
{
  g_autofree char *shown = auth_pam_loggable(account);
  if (s->home_from_passwd) {
    PamPasswdEntry e;
    switch (auth_pam_passwd_lookup(account, &e)) {
    case PAM_LOOKUP_OK:
      break;
    case PAM_LOOKUP_NOT_FOUND:
      auth_log(s, req, POPLAR_LOG_ERROR,
               "user '%s' was authenticated by PAM but has no passwd entry "
               "for its home (home-from-passwd = yes): login refused",
               shown);
      poplar_auth_request_set_reason(req, "SYS/PERM",
                                     "No home directory for this account");
      return POPLAR_PASSDB_DENIED;
    case PAM_LOOKUP_FAILED:
      auth_log(s, req, POPLAR_LOG_ERROR,
               "user '%s': the passwd lookup for its home failed: %s", shown,
               g_strerror(errno));
      return POPLAR_PASSDB_TEMPFAIL;
    }
    if (e.home && e.home[0] == '/') {
      poplar_auth_request_set_home(req, e.home);
    } else {
      auth_log(s, req, POPLAR_LOG_WARNING,
               "user '%s': the passwd entry has no absolute home directory",
               shown);
    }
    g_autofree char *uid = g_strdup_printf("%lu", e.uid);
    g_autofree char *gid = g_strdup_printf("%lu", e.gid);
    poplar_auth_request_set_field(req, "uid", uid);
    poplar_auth_request_set_field(req, "gid", gid);
    auth_pam_passwd_entry_clear(&e);
  }
  if (strcmp(asked, account) != 0)
    poplar_auth_request_set_user(req, account);
  if (s->mail)
    poplar_auth_request_set_mail(req, s->mail);
  return POPLAR_PASSDB_OK;
}

static void log_failure(const PamSettings *s, PoplarAuthRequest *req,
                        const char *shown, const PamOutcome *o)
{
  const char *step = auth_pam_step_name(o->step);
  const char *why = o->error ? o->error : "";
  switch (o->result) {
  case POPLAR_PASSDB_NO_SUCH_USER:
    auth_log(s, req, POPLAR_LOG_INFO, "unknown user '%s' (%s: %s)", shown,
             step, why);
    break;
  case POPLAR_PASSDB_DENIED:
    if (o->step == PAM_STEP_AUTHENTICATE && o->pam_code == PAM_CONV_ERR)
      auth_log(s, req, POPLAR_LOG_WARNING,
               "user '%s': the PAM service '%s' asked for more than a "
               "password, which POP3 cannot supply: login refused",
               shown, s->service);
    else if (o->step == PAM_STEP_AUTHENTICATE)
      auth_log(s, req, POPLAR_LOG_INFO, "user '%s': authentication failed "
               "(%s: %s)", shown, step, why);
    else
      auth_log(s, req, POPLAR_LOG_INFO,
               "user '%s': right password, but the account is refused "
               "(%s: %s)%s%s%s",
               shown, step, why, o->reason_text ? ": told '" : "",
               o->reason_text ? o->reason_text : "",
               o->reason_text ? "'" : "");
    break;
  case POPLAR_PASSDB_TEMPFAIL:
    auth_log(s, req, POPLAR_LOG_ERROR,
             "user '%s': the PAM service '%s' could not decide (%s: %s)",
             shown, s->service, step, why);
    break;
  case POPLAR_PASSDB_OK:
    break;
  }
}

/* The request's user name is one PAM may be given; *@shown gets its
 * loggable form (NULL for an empty name). */
static bool acceptable_user_name(const PamSettings *s, PoplarAuthRequest *req,
                                 const char *user, char **shown)
{
  if (!user || !user[0])
    return false;
  *shown = auth_pam_loggable(user);
  if (strlen(user) > AUTH_PAM_USER_MAX || has_control_char(user)) {
    auth_log(s, req, POPLAR_LOG_INFO,
             "user name '%s' refused: control characters or longer than %d "
             "octets", *shown, AUTH_PAM_USER_MAX);
    return false;
  }
  return true;
}

static PoplarPassdbResult pam_verify_plain(void *data, PoplarAuthRequest *req,
                                           const char *password)
{
  const PamSettings *s = data;
  const char *user = poplar_auth_request_user(req);
  g_autofree char *shown = NULL;
  if (!acceptable_user_name(s, req, user, &shown))
    return POPLAR_PASSDB_NO_SUCH_USER;
  /* Refused here for every user alike: a stack with nullok would let an
   * account without a password in, and POP3 has no such accounts. */
  if (!password || !password[0]) {
    auth_log(s, req, POPLAR_LOG_INFO, "user '%s': empty password refused",
             shown);
    return POPLAR_PASSDB_DENIED;
  }
  if (strlen(password) > AUTH_PAM_PASSWORD_MAX) {
    auth_log(s, req, POPLAR_LOG_INFO,
             "user '%s': password longer than %d octets refused", shown,
             AUTH_PAM_PASSWORD_MAX);
    return POPLAR_PASSDB_DENIED;
  }

  PamOutcome o;
  auth_pam_check(s, poplar_auth_request_session(req), user, password, &o);
  PoplarPassdbResult r = o.result;
  if (r == POPLAR_PASSDB_OK) {
    const char *account = o.user && o.user[0] ? o.user : user;
    r = apply_account(s, req, user, account);
    if (r == POPLAR_PASSDB_OK)
      auth_log(s, req, POPLAR_LOG_DEBUG, "user '%s' authenticated by PAM "
               "service '%s'", shown, s->service);
  } else {
    log_failure(s, req, shown, &o);
    if (o.reason_text)
      poplar_auth_request_set_reason(req, o.reason_code, o.reason_text);
  }
  auth_pam_outcome_clear(&o);
  return r;
}

/* A master user's login as this user.  PAM has no way to look a user up
 * without authenticating as it, so the account is the system's passwd
 * entry (NSS: files, LDAP, sssd...) of that name, and the login gets what
 * a PAM login of it would. */
static PoplarPassdbResult pam_lookup_user(void *data, PoplarAuthRequest *req)
{
  const PamSettings *s = data;
  const char *user = poplar_auth_request_user(req);
  g_autofree char *shown = NULL;
  if (!acceptable_user_name(s, req, user, &shown))
    return POPLAR_PASSDB_NO_SUCH_USER;
  PamPasswdEntry e;
  switch (auth_pam_passwd_lookup(user, &e)) {
  case PAM_LOOKUP_OK:
    auth_pam_passwd_entry_clear(&e);
    return apply_account(s, req, user, user);
  case PAM_LOOKUP_NOT_FOUND:
    auth_log(s, req, POPLAR_LOG_INFO,
             "unknown user '%s' for a master login (no passwd entry)", shown);
    return POPLAR_PASSDB_NO_SUCH_USER;
  case PAM_LOOKUP_FAILED:
    break;
  }
  auth_log(s, req, POPLAR_LOG_ERROR,
           "user '%s': the passwd lookup for a master login failed: %s",
           shown, g_strerror(errno));
  return POPLAR_PASSDB_TEMPFAIL;
}

static void settings_free(PamSettings *s)
{
  if (!s)
    return;
  g_free(s->service);
  g_free(s->mail);
  g_free(s);
}

static void pam_destroy(void *data)
{
  settings_free(data);
}

static const PoplarPassdbOps auth_pam_ops = {
    .verify_plain = pam_verify_plain,
    .destroy = pam_destroy,
    .lookup_user = pam_lookup_user,
};

static bool service_name_valid(const char *name)
{
  if (!name[0] || name[0] == '.')
    return false;
  for (const char *p = name; *p; p++) {
    if (*p == '/' || g_ascii_isspace(*p) || (unsigned char)*p < 0x20)
      return false;
  }
  return true;
}

/* Linux-PAM falls back to the "other" service, which denies everything on
 * most systems, when the service has no file: say so at start-up rather
 * than let every login fail. */
static void warn_missing_service(PoplarConfig *config, const char *service)
{
  /* pam_wrapper (used by the tests) replaces the directories below. */
  const char *wrapped = getenv("PAM_WRAPPER_SERVICE_DIR");
  const char *system_dirs[] = {"/etc/pam.d", "/usr/lib/pam.d",
                               "/usr/share/pam.d", NULL};
  const char *wrapped_dirs[] = {wrapped, NULL};
  const char *const *dirs = wrapped ? wrapped_dirs : system_dirs;
  for (size_t i = 0; dirs[i]; i++) {
    g_autofree char *path = g_build_filename(dirs[i], service, NULL);
    if (access(path, F_OK) == 0)
      return;
  }
  /* /etc/pam.conf counts only on systems without /etc/pam.d. */
  struct stat st;
  if (!wrapped && stat("/etc/pam.d", &st) != 0 &&
      access("/etc/pam.conf", F_OK) == 0)
    return;
  poplar_config_warning(config, "service",
                        "no PAM configuration for service '%s' (looked for "
                        "%s/%s): PAM will use the 'other' service, which "
                        "usually refuses every login",
                        service, dirs[0], service);
}

static bool auth_pam_init(PoplarPlugin *plugin, PoplarConfig *config)
{
  /* Read every key before giving up, so one run reports every mistake. */
  bool ok = true;
  const char *service =
      poplar_config_get_string(config, "service", AUTH_PAM_DEFAULT_SERVICE);
  bool setcred = false;
  ok &= poplar_config_get_bool(config, "setcred", false, &setcred);
  bool home_from_passwd = false;
  ok &= poplar_config_get_bool(config, "home-from-passwd", false,
                               &home_from_passwd);
  const char *mail = poplar_config_get_string(config, "mail", NULL);

  if (!service_name_valid(service)) {
    poplar_config_error(config, "service",
                        "'%s' is not a PAM service name (a file name in "
                        "/etc/pam.d, e.g. service = poplar)",
                        service);
    ok = false;
  }
  if (mail && !mail[0]) {
    poplar_config_error(config, "mail",
                        "is empty: leave it out to use [server] mail, or "
                        "give a location such as maildir:/var/mail/%%u");
    ok = false;
  }
  if (mail && strstr(mail, "%h") && !home_from_passwd)
    poplar_config_warning(config, "mail",
                          "uses %%h, but PAM gives no home directory: set "
                          "home-from-passwd = yes");
  if (!ok)
    return false;
  warn_missing_service(config, service);
  if (setcred)
    poplar_config_warning(config, "setcred",
                          "pam_setcred() runs inside the server process for "
                          "every login; modules that change the process "
                          "(pam_group, pam_limits) affect every session");

  PamSettings *s = g_new0(PamSettings, 1);
  s->plugin = plugin;
  s->service = g_strdup(service);
  s->setcred = setcred;
  s->mail = g_strdup(mail);
  s->home_from_passwd = home_from_passwd;
  g_autofree char *why = NULL;
  if (auth_pam_warm_up(s, &why) != PAM_SUCCESS)
    poplar_config_warning(config, "service",
                          "PAM cannot start service '%s': %s: every login "
                          "will fail with [SYS/TEMP] until this is fixed",
                          service, why);
  if (!poplar_register_passdb(plugin, "pam", &auth_pam_ops,
                              sizeof auth_pam_ops, s)) {
    settings_free(s);
    return false;
  }
  poplar_log(plugin, POPLAR_LOG_INFO, "PAM service '%s'", service);
  return true;
}

POPLAR_PLUGIN_DEFINE(auth_pam, "0.1.0",
                     "Passwords checked by the system's PAM stack", NULL,
                     auth_pam_init, NULL)
