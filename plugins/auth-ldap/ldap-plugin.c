/* SPDX-License-Identifier: MIT */
/*
 * auth-ldap: users and passwords in an LDAP directory (OpenLDAP's libldap).
 * Reads the [auth-ldap] section and answers USER/PASS and SASL PLAIN/LOGIN
 * (verify_plain) by binding as the user, and master logins (lookup_user)
 * by finding the user's entry without a bind.  A directory does not hand out
 * passwords, so APOP is not offered.
 *
 * Nothing is sent to the server at start-up: a directory that is down then
 * makes logins fail with [SYS/TEMP] until it is back, not the server
 * refuse to start.
 */
#include "auth-ldap.h"

static PoplarPassdbResult auth_ldap_verify_plain(void *data, PoplarAuthRequest *req,
                                            const char *password)
{
  const char *user = poplar_auth_request_user(req);
  if (!user || !user[0])
    return POPLAR_PASSDB_NO_SUCH_USER;
  return auth_ldap_verify(data, req, user, password);
}

/* A master user's login as this user: the entry's fields, no bind. */
static PoplarPassdbResult auth_ldap_lookup_user(void *data,
                                                PoplarAuthRequest *req)
{
  const char *user = poplar_auth_request_user(req);
  if (!user || !user[0])
    return POPLAR_PASSDB_NO_SUCH_USER;
  return auth_ldap_lookup(data, req, user);
}

static void auth_ldap_destroy(void *data)
{
  auth_ldap_free(data);
}

static const PoplarPassdbOps auth_ldap_ops = {
    .verify_plain = auth_ldap_verify_plain,
    .destroy = auth_ldap_destroy,
    .lookup_user = auth_ldap_lookup_user,
};

static bool auth_ldap_init(PoplarPlugin *plugin, PoplarConfig *config)
{
  AuthLdapSettings *s = auth_ldap_settings_read(config);
  if (!s)
    return false;
  /* libldap sets up its global state on first use, which is not safe to
   * do from several login threads at once: do it here, on the main
   * thread. */
  int version = 0;
  ldap_get_option(NULL, LDAP_OPT_PROTOCOL_VERSION, &version);
  if (s->tls != AUTH_LDAP_TLS_NO)
    auth_ldap_tls_warm_up(s);

  AuthLdap *a = auth_ldap_new(plugin, s);
  if (!poplar_register_passdb(plugin, "ldap", &auth_ldap_ops,
                              sizeof auth_ldap_ops, a)) {
    auth_ldap_free(a);
    return false;
  }
  poplar_log(plugin, POPLAR_LOG_INFO, "LDAP at %s (%s, %s)", s->uris,
             s->dn_template ? "bind to dn-template" : "search, then bind",
             s->tls == AUTH_LDAP_TLS_STARTTLS ? "StartTLS"
             : s->tls == AUTH_LDAP_TLS_LDAPS  ? "LDAPS"
                                              : "no TLS");
  return true;
}

POPLAR_PLUGIN_DEFINE(auth_ldap, "0.1.0",
                     "Users and passwords in an LDAP directory", NULL,
                     auth_ldap_init, NULL)
