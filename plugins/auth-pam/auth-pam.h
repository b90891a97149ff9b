/* SPDX-License-Identifier: MIT */
/*
 * auth-pam internals, shared by the plugin's files and its tests.
 *
 *   pam-conv.c    the conversation: answers the stack's prompts with the
 *                 user name and password, logs what modules tell the user
 *   pam-check.c   one PAM transaction (start, authenticate, account,
 *                 credentials, end) and what each PAM code means here
 *   pam-user.c    what the login hands on: home and ids from the passwd
 *                 database, the configured mail location
 *   pam-plugin.c  configuration, the passdb callback, registration
 */
#ifndef POPLAR_AUTH_PAM_H
#define POPLAR_AUTH_PAM_H

#include <glib.h>
#include <security/pam_appl.h>
#include <stdbool.h>
#include <stddef.h>

#include <poplar/plugin.h>

G_BEGIN_DECLS

/* Linux-PAM hands a module at most PAM_MAX_RESP_SIZE - 1 octets of an
 * answer; a longer password could only ever be cut short and then be
 * checked as a different one. */
#define AUTH_PAM_PASSWORD_MAX 511
/* No real account has a longer name; longer ones are refused before PAM
 * sees them. */
#define AUTH_PAM_USER_MAX 256
/* Text from modules and user names from clients are cut to this in logs. */
#define AUTH_PAM_LOG_TEXT_MAX 160

typedef struct PamSettings {
  PoplarPlugin *plugin;
  char *service;          /* the PAM service: /etc/pam.d/<service> */
  bool setcred;           /* call pam_setcred(PAM_ESTABLISH_CRED) */
  char *mail;             /* mail location template, or NULL */
  bool home_from_passwd;  /* home, uid and gid from getpwnam_r() */
} PamSettings;

/* ---- the conversation (pam-conv.c) ------------------------------------ */

typedef struct PamConvData {
  PoplarPlugin *plugin;
  PoplarSession *session; /* for log lines; may be NULL in tests */
  const char *user;
  const char *password;
  unsigned prompts;       /* prompts answered */
  bool refused;           /* a prompt we cannot answer was asked */
} PamConvData;

/* The conversation function handed to pam_start() with a PamConvData as
 * its appdata.  Matches struct pam_conv's conv member. */
int auth_pam_conversation(int n_msgs, const struct pam_message **msgs,
                          struct pam_response **resp, void *appdata);

/* A string from a module or a client, fit for one log line: control
 * characters escaped, cut to AUTH_PAM_LOG_TEXT_MAX.  Free with g_free. */
char *auth_pam_loggable(const char *text);

/* ---- the transaction (pam-check.c) ------------------------------------ */

typedef enum PamStep {
  PAM_STEP_START,
  PAM_STEP_AUTHENTICATE,
  PAM_STEP_ACCOUNT,
  PAM_STEP_SETCRED,
} PamStep;

typedef struct PamOutcome {
  PoplarPassdbResult result;
  PamStep step;           /* the step that decided (the last one on OK) */
  int pam_code;           /* what that step returned */
  const char *reason_code; /* for the client, or NULL (static strings) */
  const char *reason_text;
  char *user;             /* PAM_USER after success (g_free), or NULL */
  char *error;            /* pam_strerror() text of a failure (g_free) */
} PamOutcome;

/* What PAM code @code returned by @step means for the login, and the
 * reason the client is told (only for steps after the password was
 * proved right).  Unknown codes are TEMPFAIL. */
PoplarPassdbResult auth_pam_map_code(PamStep step, int code,
                                     const char **reason_code,
                                     const char **reason_text);

/* Runs one PAM transaction for @user and @password.  Blocks for as long
 * as the stack takes. */
void auth_pam_check(const PamSettings *settings, PoplarSession *session,
                    const char *user, const char *password,
                    PamOutcome *out);
void auth_pam_outcome_clear(PamOutcome *out);

/* Starts and ends one PAM transaction without a user, on the calling
 * thread: reads the service's configuration once at start-up, where a
 * failure can be reported, and lets libraries that set themselves up on
 * first use (pam_wrapper does) do so before logins run concurrently.
 * Returns the PAM code, with *@error set (g_free) on failure. */
int auth_pam_warm_up(const PamSettings *settings, char **error);

/* "pam_authenticate" ... for log lines. */
const char *auth_pam_step_name(PamStep step);

/* ---- what the login hands on (pam-user.c) ----------------------------- */

typedef enum PamLookup {
  PAM_LOOKUP_OK,
  PAM_LOOKUP_NOT_FOUND, /* no passwd entry for the user */
  PAM_LOOKUP_FAILED,    /* the lookup itself failed (errno set) */
} PamLookup;

typedef struct PamPasswdEntry {
  char *home;
  unsigned long uid;
  unsigned long gid;
} PamPasswdEntry;

/* getpwnam_r() with a buffer that grows as needed. */
PamLookup auth_pam_passwd_lookup(const char *user, PamPasswdEntry *out);
void auth_pam_passwd_entry_clear(PamPasswdEntry *e);

G_END_DECLS

#endif /* POPLAR_AUTH_PAM_H */
