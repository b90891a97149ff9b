/* SPDX-License-Identifier: MIT */
/*
 * password-attribute mode: the search (as bind-dn) reads the entry's
 * stored password (userPassword), and the password is checked here with
 * libpoplar's schemes rather than by binding as the user.  The directory
 * then need not understand the scheme ({SSHA512} and {ARGON2ID} are
 * modules slapd may not load), and every password database of the server
 * accepts the same hashes.
 */
#include "auth-ldap.h"

#include <stdlib.h>
#include <string.h>

static void remember_dummy(AuthLdap *a, const char *stored)
{
  pthread_mutex_lock(&a->dummy_lock);
  if (!a->dummy_stored || strcmp(a->dummy_stored, stored) != 0) {
    g_free(a->dummy_stored);
    a->dummy_stored = g_strdup(stored);
  }
  pthread_mutex_unlock(&a->dummy_lock);
}

void auth_ldap_burn_dummy(AuthLdap *a, const char *password)
{
  pthread_mutex_lock(&a->dummy_lock);
  char *stored = g_strdup(a->dummy_stored);
  pthread_mutex_unlock(&a->dummy_lock);
  if (!stored)
    return; /* nobody has logged in yet: there is nothing to look like */
  /* volatile: the result is unused, yet the check must run in full. */
  volatile PoplarPasswordResult r = poplar_password_verify(
      stored, password, a->settings->password_scheme, NULL);
  (void)r;
  g_free(stored);
}

PoplarPassdbResult auth_ldap_check_stored(AuthLdap *a, PoplarAuthRequest *req,
                                          const char *shown,
                                          const char *stored,
                                          const char *password)
{
  const AuthLdapSettings *s = a->settings;
  PoplarSession *session = poplar_auth_request_session(req);
  if (!stored) {
    auth_ldap_burn_dummy(a, password);
    poplar_session_log(session, a->plugin, POPLAR_LOG_INFO,
                       "user '%s': the entry has no %s that bind-dn may "
                       "read: login refused",
                       shown, s->password_attribute);
    return POPLAR_PASSDB_DENIED;
  }
  char *why = NULL;
  PoplarPasswordResult r =
      poplar_password_verify(stored, password, s->password_scheme, &why);
  PoplarPassdbResult answer = POPLAR_PASSDB_DENIED;
  switch (r) {
  case POPLAR_PASSWORD_MATCH:
    remember_dummy(a, stored);
    answer = POPLAR_PASSDB_OK;
    break;
  case POPLAR_PASSWORD_MISMATCH:
    remember_dummy(a, stored);
    poplar_session_log(session, a->plugin, POPLAR_LOG_INFO,
                       "user '%s': wrong password (checked against %s)",
                       shown, s->password_attribute);
    break;
  case POPLAR_PASSWORD_UNSUPPORTED_SCHEME:
  case POPLAR_PASSWORD_MALFORMED:
    /* The directory holds something no password can match: the
     * administrator must hear of it, the client only that it failed. */
    poplar_session_log(session, a->plugin, POPLAR_LOG_ERROR,
                       "user '%s': %s cannot be checked: %s: login refused",
                       shown, s->password_attribute, why);
    break;
  case POPLAR_PASSWORD_FAILED:
  default:
    poplar_session_log(session, a->plugin, POPLAR_LOG_ERROR,
                       "user '%s': checking %s failed: %s", shown,
                       s->password_attribute, why ? why : "unknown error");
    answer = POPLAR_PASSDB_TEMPFAIL;
    break;
  }
  free(why);
  return answer;
}
