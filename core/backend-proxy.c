/* SPDX-License-Identifier: MIT */
#include "backend-proxy.h"

#include <string.h>

#include "backend-login.h"

/* An empty field is no route: an SQL column or LDAP attribute left blank
 * for the users this server serves itself. */
bool poplard_backend_routed(const PoplarAuthRequest *req)
{
  const char *proxy =
      req->fields ? g_hash_table_lookup(req->fields, "proxy") : NULL;
  return proxy && proxy[0];
}

/* The CA list is read once per worker, at the first TLS login to a
 * backend, and shared by every session (GnuTLS credentials are
 * read-only once set up). */
static gnutls_certificate_credentials_t backend_credentials(PoplarServer *s,
                                                            char **error)
{
  g_mutex_lock(&s->backend_lock);
  if (!s->backend_cred) {
    gnutls_certificate_credentials_t cred = NULL;
    int rc = gnutls_certificate_allocate_credentials(&cred);
    const char *ca = s->cfg.proxy_ca_file;
    if (rc == GNUTLS_E_SUCCESS) {
      rc = ca ? gnutls_certificate_set_x509_trust_file(cred, ca,
                                                       GNUTLS_X509_FMT_PEM)
              : gnutls_certificate_set_x509_system_trust(cred);
      if (rc == 0)
        rc = GNUTLS_E_NO_CERTIFICATE_FOUND;
    }
    if (rc < 0) {
      *error = g_strdup_printf("cannot load %s: %s",
                               ca ? ca : "the system's trusted CAs",
                               gnutls_strerror(rc));
      if (cred)
        gnutls_certificate_free_credentials(cred);
    } else {
      s->backend_cred = cred;
    }
  }
  gnutls_certificate_credentials_t cred = s->backend_cred;
  g_mutex_unlock(&s->backend_lock);
  return cred;
}

void poplard_backend_proxy_cleanup(PoplarServer *server)
{
  if (server->backend_cred)
    gnutls_certificate_free_credentials(server->backend_cred);
  server->backend_cred = NULL;
}

static PoplarLoginResult refuse(PoplarClient *c, char *reply)
{
  g_free(c->job.reply);
  c->job.reply = reply;
  return POPLAR_LOGIN_REFUSED;
}

static PoplarLoginResult unavailable(PoplarClient *c, const char *backend,
                                     const char *why, char *reply)
{
  poplarpriv_log(c->session.id, POPLAR_LOG_ERROR,
                 "proxy: user=%s remote=%s backend=%s unavailable: %s",
                 c->login.req->user, c->session.remote_address, backend, why);
  return refuse(c, reply ? reply
                         : g_strdup("-ERR [SYS/TEMP] Mail server temporarily "
                                    "unavailable, try again later"));
}

PoplarLoginResult poplard_backend_proxy_login(PoplarClient *c)
{
  PoplarAuthRequest *req = c->login.req;
  PoplarSession *s = &c->session;
  PoplarBackendRoute route;
  g_autofree char *error = NULL;
  const char *proxy = g_hash_table_lookup(req->fields, "proxy");
  if (!poplard_backend_route_parse(&route, req->fields, req->user, &error))
    return unavailable(c, proxy, error, NULL);
  if (!route.master && req->master_user) {
    /* The password is the master's: never sent as the user's. */
    poplarpriv_log(s->id, POPLAR_LOG_INFO,
                   "proxy: user=%s master=%s remote=%s: a master login "
                   "needs proxy-master for this user's backend", req->user,
                   req->master_user, s->remote_address);
    poplard_backend_route_clear(&route);
    return refuse(c, g_strdup("-ERR [AUTH] Authentication failed"));
  }
  if (!route.master && !c->login.password) {
    /* APOP and challenge-response mechanisms never show the password,
     * and without it or a master login the backend cannot be logged in
     * to. */
    poplarpriv_log(s->id, POPLAR_LOG_INFO,
                   "proxy: user=%s remote=%s: mech %s cannot be proxied "
                   "without proxy-master", req->user, s->remote_address,
                   req->mechanism);
    poplard_backend_route_clear(&route);
    return refuse(c, g_strdup("-ERR [AUTH] Use USER/PASS or AUTH PLAIN "
                              "for this account"));
  }
  gnutls_certificate_credentials_t cred = NULL;
  if (route.tls != POPLAR_BACKEND_TLS_NO) {
    cred = backend_credentials(c->server, &error);
    if (!cred) {
      PoplarLoginResult r = unavailable(c, proxy, error, NULL);
      poplard_backend_route_clear(&route);
      return r;
    }
  }
  PoplarBackendLoginParams p = {
      .route = &route,
      .password = c->login.password,
      .cred = cred,
      .timeout_ms = (unsigned)MIN(c->server->cfg.proxy_timeout_ms,
                                  (uint64_t)G_MAXINT),
      .client_address = s->remote_address,
      .client_port = s->remote_port,
      .local_address = s->local_address,
      .local_port = s->local_port,
  };
  PoplarBackendConn *b = NULL;
  char *reply = NULL;
  PoplarBackendLoginResult r = poplard_backend_login_run(&p, &b, &reply,
                                                         &error);
  PoplarLoginResult res;
  switch (r) {
  case POPLAR_BACKEND_LOGGED_IN:
    b->address = g_strdup(proxy);
    c->login.backend = b;
    c->login.backend_reply = reply;
    poplarpriv_log(s->id, POPLAR_LOG_INFO,
                   "login: user=%s%s%s mech=%s remote=%s, proxied to %s as "
                   "%s%s%s", req->user,
                   req->master_user ? " master=" : "",
                   req->master_user ? req->master_user : "", req->mechanism,
                   s->remote_address, proxy, route.user,
                   route.master ? " by master " : "",
                   route.master ? route.master : "");
    res = POPLAR_LOGIN_PROXY;
    break;
  case POPLAR_BACKEND_REJECTED:
    poplarpriv_log(s->id, POPLAR_LOG_INFO,
                   "proxy: user=%s remote=%s backend=%s refused the login: "
                   "%.200s", req->user, s->remote_address, proxy, reply);
    g_free(reply);
    res = refuse(c, g_strdup("-ERR [AUTH] Authentication failed"));
    break;
  case POPLAR_BACKEND_UNAVAILABLE:
  default:
    res = unavailable(c, proxy, error, reply);
    break;
  }
  poplard_backend_route_clear(&route);
  return res;
}
