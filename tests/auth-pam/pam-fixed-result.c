/* SPDX-License-Identifier: MIT */
/*
 * pam_fixed_result: a PAM module for the auth-pam tests that answers what
 * its arguments say for the users they name, so that the tests reach the
 * results no test module of pam_wrapper gives (PAM_USER_UNKNOWN,
 * PAM_ACCT_EXPIRED, ...).  Never install it.
 *
 *   auth    requisite /path/pam-fixed-result.so ghost=PAM_USER_UNKNOWN
 *   account requisite /path/pam-fixed-result.so old=PAM_ACCT_EXPIRED
 *
 * Arguments, for pam_sm_authenticate and pam_sm_acct_mgmt:
 *   USER=PAM_CODE      return that code for USER
 *   USER=RENAME:NAME   set PAM_USER to NAME and carry on
 *   USER=BINARY        ask a binary prompt (which POP3 cannot answer)
 *   USER=CHAT          show an info and an error message, carry on
 *   cred:USER=PAM_CODE the same, for pam_sm_setcred only
 * USER may be * for every user.  A user named only by a cred: argument
 * gets PAM_SUCCESS from pam_sm_authenticate: Linux-PAM replays the
 * authentication's verdicts when it runs pam_setcred, and would ignore
 * the module's setcred answer after a PAM_IGNORE.
 * Users not named: PAM_IGNORE (the rest of the stack decides).
 */
#define PAM_SM_AUTH
#define PAM_SM_ACCOUNT

#include <stdbool.h>
#include <security/pam_appl.h>
#include <security/pam_modules.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

static const struct {
  const char *name;
  int code;
} codes[] = {
    {"PAM_SUCCESS", PAM_SUCCESS},
    {"PAM_USER_UNKNOWN", PAM_USER_UNKNOWN},
    {"PAM_AUTH_ERR", PAM_AUTH_ERR},
    {"PAM_PERM_DENIED", PAM_PERM_DENIED},
    {"PAM_ACCT_EXPIRED", PAM_ACCT_EXPIRED},
    {"PAM_NEW_AUTHTOK_REQD", PAM_NEW_AUTHTOK_REQD},
    {"PAM_AUTHINFO_UNAVAIL", PAM_AUTHINFO_UNAVAIL},
    {"PAM_SYSTEM_ERR", PAM_SYSTEM_ERR},
    {"PAM_MAXTRIES", PAM_MAXTRIES},
    {"PAM_CRED_EXPIRED", PAM_CRED_EXPIRED},
    {"PAM_CRED_UNAVAIL", PAM_CRED_UNAVAIL},
};

static int converse(pam_handle_t *h, int style, const char *text)
{
  const struct pam_conv *conv = NULL;
  int rc = pam_get_item(h, PAM_CONV, (const void **)&conv);
  if (rc != PAM_SUCCESS || !conv || !conv->conv)
    return PAM_CONV_ERR;
  struct pam_message m = {style, text};
  const struct pam_message *msgs[1] = {&m};
  struct pam_response *resp = NULL;
  rc = conv->conv(1, msgs, &resp, conv->appdata_ptr);
  if (resp) {
    free(resp[0].resp);
    free(resp);
  }
  return rc;
}

static int act(pam_handle_t *h, const char *what)
{
  if (strncmp(what, "RENAME:", 7) == 0) {
    int rc = pam_set_item(h, PAM_USER, what + 7);
    return rc == PAM_SUCCESS ? PAM_IGNORE : rc;
  }
  if (strcmp(what, "BINARY") == 0) {
    int rc = converse(h, 7 /* PAM_BINARY_PROMPT */, "\x01\x02");
    return rc == PAM_SUCCESS ? PAM_AUTH_ERR : rc;
  }
  if (strcmp(what, "CHAT") == 0) {
    converse(h, PAM_TEXT_INFO, "Your password expires in 3 days");
    converse(h, PAM_ERROR_MSG, "Last failed login from 192.0.2.1\n");
    return PAM_IGNORE;
  }
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    if (strcmp(what, codes[i].name) == 0)
      return codes[i].code;
  }
  return PAM_SERVICE_ERR; /* a typo in the test's service file */
}

static int decide(pam_handle_t *h, int argc, const char **argv, bool cred)
{
  const char *user = NULL;
  if (pam_get_user(h, &user, NULL) != PAM_SUCCESS || !user)
    return PAM_USER_UNKNOWN;
  bool named_for_cred = false;
  for (int i = 0; i < argc; i++) {
    const char *arg = argv[i];
    bool cred_arg = strncmp(arg, "cred:", 5) == 0;
    if (cred_arg)
      arg += 5;
    const char *eq = strchr(arg, '=');
    if (!eq)
      continue;
    bool everyone = eq - arg == 1 && arg[0] == '*';
    if (!everyone && (strlen(user) != (size_t)(eq - arg) ||
                      strncmp(arg, user, (size_t)(eq - arg)) != 0))
      continue;
    if (cred_arg != cred) {
      named_for_cred |= cred_arg;
      continue;
    }
    return act(h, eq + 1);
  }
  return named_for_cred ? PAM_SUCCESS : PAM_IGNORE;
}

EXPORT int pam_sm_authenticate(pam_handle_t *h, int flags, int argc,
                               const char **argv);
EXPORT int pam_sm_setcred(pam_handle_t *h, int flags, int argc,
                          const char **argv);
EXPORT int pam_sm_acct_mgmt(pam_handle_t *h, int flags, int argc,
                            const char **argv);

int pam_sm_authenticate(pam_handle_t *h, int flags, int argc,
                        const char **argv)
{
  (void)flags;
  return decide(h, argc, argv, false);
}

int pam_sm_setcred(pam_handle_t *h, int flags, int argc, const char **argv)
{
  (void)flags;
  int rc = decide(h, argc, argv, true);
  return rc == PAM_IGNORE ? PAM_SUCCESS : rc;
}

int pam_sm_acct_mgmt(pam_handle_t *h, int flags, int argc, const char **argv)
{
  (void)flags;
  return decide(h, argc, argv, false);
}
