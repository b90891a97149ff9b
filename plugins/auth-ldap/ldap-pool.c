/* SPDX-License-Identifier: MIT */
/*
 * LDAP connections.  A connection serves one login at a time (an LDAP
 * handle is not meant to be shared by threads in the middle of a bind), so
 * each pool lends its connections out and takes them back; with the core's
 * plugin threads coming and going, a pool rather than a thread-local handle
 * keeps connections open across threads.  Two pools: one stays bound as
 * bind-dn for lookups, the other is rebound as each user in turn, so a
 * lookup never waits for a rebind.
 *
 * A connection whose server went away (restart, idle timeout) fails with
 * LDAP_SERVER_DOWN; the login then invalidates the pool (every connection
 * made before is stale too) and retries once on a new one.
 */
#include "auth-ldap.h"

#include <string.h>
#include <sys/time.h>
#include <time.h>

AuthLdapFailure auth_ldap_classify(int rc)
{
  switch (rc) {
  case LDAP_SUCCESS:
  case LDAP_INVALID_CREDENTIALS:
  case LDAP_INAPPROPRIATE_AUTH:
  case LDAP_UNWILLING_TO_PERFORM:
  case LDAP_CONSTRAINT_VIOLATION:
  case LDAP_NO_SUCH_OBJECT:
  case LDAP_SIZELIMIT_EXCEEDED:
    return AUTH_LDAP_FAIL_NONE;
  case LDAP_SERVER_DOWN:
  case LDAP_CONNECT_ERROR:
  case LDAP_UNAVAILABLE:
    return AUTH_LDAP_FAIL_DOWN;
  default:
    return AUTH_LDAP_FAIL_TEMP;
  }
}

char *auth_ldap_error_text(LDAP *ld, int rc)
{
  char *diag = NULL;
  if (ld)
    ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
  char *text;
  if (diag && diag[0])
    text = g_strdup_printf("%s (%s)", ldap_err2string(rc), diag);
  else
    text = g_strdup(ldap_err2string(rc));
  if (diag)
    ldap_memfree(diag);
  return text;
}

int auth_ldap_simple_bind(LDAP *ld, const char *dn, const char *password)
{
  g_return_val_if_fail(password && password[0], LDAP_PARAM_ERROR);
  struct berval cred = {
      .bv_len = strlen(password),
      .bv_val = (char *)password,
  };
  return ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
}

static struct timeval timeval_of_ms(uint64_t ms)
{
  return (struct timeval){.tv_sec = (time_t)(ms / 1000),
                          .tv_usec = (suseconds_t)(ms % 1000) * 1000};
}

/* Sets @option, turning a refusal into an error message. */
static bool set_option(LDAP *ld, int option, const void *value,
                       const char *what, char **error)
{
  int rc = ldap_set_option(ld, option, value);
  if (rc != LDAP_OPT_SUCCESS) {
    *error = g_strdup_printf("cannot set %s: %s", what, ldap_err2string(rc));
    return false;
  }
  return true;
}

static bool set_tls_options(const AuthLdapSettings *s, LDAP *ld,
                            char **error)
{
  int demand = LDAP_OPT_X_TLS_DEMAND;
  int min_version = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;
  int client = 0;
  if (!set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand,
                  "TLS certificate checking", error) ||
      !set_option(ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &min_version,
                  "the TLS minimum version", error))
    return false;
  if (s->ca_file && !set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, s->ca_file,
                                "the CA file", error))
    return false;
  /* The options above apply to a handle's own TLS context only once it is
   * made, after them. */
  return set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &client, "a TLS context",
                    error);
}

void auth_ldap_tls_warm_up(const AuthLdapSettings *s)
{
  LDAP *ld = NULL;
  if (ldap_initialize(&ld, s->uris) != LDAP_SUCCESS)
    return;
  char *error = NULL;
  /* A failure here shows again, with its reason, at the first login. */
  set_tls_options(s, ld, &error);
  g_free(error);
  ldap_unbind_ext_s(ld, NULL, NULL);
}

/* A new connection: options, StartTLS, and the service bind when @pool
 * does so.  On failure returns NULL with *@failure and *@error set. */
static LDAP *connect_new(AuthLdapPool *pool, AuthLdapFailure *failure,
                         char **error)
{
  const AuthLdapSettings *s = pool->settings;
  LDAP *ld = NULL;
  int rc = ldap_initialize(&ld, s->uris);
  if (rc != LDAP_SUCCESS) {
    *failure = AUTH_LDAP_FAIL_TEMP;
    *error = g_strdup_printf("ldap_initialize(%s): %s", s->uris,
                             ldap_err2string(rc));
    return NULL;
  }
  int version = LDAP_VERSION3;
  struct timeval network = timeval_of_ms(s->network_timeout_ms);
  struct timeval op = timeval_of_ms(s->timeout_ms);
  *failure = AUTH_LDAP_FAIL_TEMP;
  if (!set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version,
                  "the protocol version", error) ||
      /* Referrals would send users' passwords to other servers. */
      !set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF, "referrals",
                  error) ||
      !set_option(ld, LDAP_OPT_RESTART, LDAP_OPT_ON, "restart", error) ||
      !set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &network,
                  "the network timeout", error) ||
      !set_option(ld, LDAP_OPT_TIMEOUT, &op, "the timeout", error) ||
      (s->tls != AUTH_LDAP_TLS_NO && !set_tls_options(s, ld, error))) {
    ldap_unbind_ext_s(ld, NULL, NULL);
    return NULL;
  }

  if (s->tls == AUTH_LDAP_TLS_STARTTLS) {
    rc = ldap_start_tls_s(ld, NULL, NULL);
    if (rc != LDAP_SUCCESS) {
      g_autofree char *why = auth_ldap_error_text(ld, rc);
      *failure = auth_ldap_classify(rc) == AUTH_LDAP_FAIL_DOWN
                     ? AUTH_LDAP_FAIL_DOWN
                     : AUTH_LDAP_FAIL_TEMP;
      *error = g_strdup_printf("StartTLS with %s: %s", s->uris, why);
      ldap_unbind_ext_s(ld, NULL, NULL);
      return NULL;
    }
  }
  if (pool->bind_as_service && s->bind_dn) {
    rc = auth_ldap_simple_bind(ld, s->bind_dn, s->bind_password);
    if (rc != LDAP_SUCCESS) {
      g_autofree char *why = auth_ldap_error_text(ld, rc);
      *failure = auth_ldap_classify(rc) == AUTH_LDAP_FAIL_DOWN
                     ? AUTH_LDAP_FAIL_DOWN
                     : AUTH_LDAP_FAIL_TEMP;
      *error = g_strdup_printf("bind as %s (bind-dn) at %s: %s", s->bind_dn,
                               s->uris, why);
      ldap_unbind_ext_s(ld, NULL, NULL);
      return NULL;
    }
  }
  *failure = AUTH_LDAP_FAIL_NONE;
  return ld;
}

void auth_ldap_pool_init(AuthLdapPool *pool, const AuthLdapSettings *s,
                         PoplarPlugin *plugin, const char *name,
                         bool bind_as_service)
{
  memset(pool, 0, sizeof *pool);
  pool->settings = s;
  pool->plugin = plugin;
  pool->name = name;
  pool->bind_as_service = bind_as_service;
  pthread_mutex_init(&pool->lock, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&pool->freed, &attr);
  pthread_condattr_destroy(&attr);
  pool->idle = g_ptr_array_new();
}

static void conn_close(AuthLdapConn *c)
{
  if (c) {
    ldap_unbind_ext_s(c->ld, NULL, NULL);
    g_free(c);
  }
}

void auth_ldap_pool_clear(AuthLdapPool *pool)
{
  if (!pool->idle)
    return;
  for (guint i = 0; i < pool->idle->len; i++)
    conn_close(g_ptr_array_index(pool->idle, i));
  g_ptr_array_unref(pool->idle);
  pool->idle = NULL;
  pthread_cond_destroy(&pool->freed);
  pthread_mutex_destroy(&pool->lock);
}

AuthLdapConn *auth_ldap_pool_take(AuthLdapPool *pool,
                                  AuthLdapFailure *failure, char **error)
{
  *failure = AUTH_LDAP_FAIL_NONE;
  *error = NULL;
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  uint64_t wait_ms = pool->settings->timeout_ms;
  deadline.tv_sec += (time_t)(wait_ms / 1000);
  deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }

  GPtrArray *stale = g_ptr_array_new();
  AuthLdapConn *conn = NULL;
  unsigned generation = 0;
  bool make = false;
  pthread_mutex_lock(&pool->lock);
  for (;;) {
    while (pool->idle->len > 0 && !conn) {
      AuthLdapConn *c = g_ptr_array_steal_index(pool->idle,
                                                pool->idle->len - 1);
      if (c->generation == pool->generation) {
        conn = c;
        conn->reused = true;
      } else {
        g_ptr_array_add(stale, c);
        pool->total--;
      }
    }
    if (conn)
      break;
    if (pool->total < pool->settings->max_connections) {
      pool->total++;
      pool->made++;
      generation = pool->generation;
      make = true;
      break;
    }
    if (pthread_cond_timedwait(&pool->freed, &pool->lock, &deadline) != 0)
      break;
  }
  pthread_mutex_unlock(&pool->lock);
  for (guint i = 0; i < stale->len; i++)
    conn_close(g_ptr_array_index(stale, i));
  g_ptr_array_unref(stale);
  if (conn)
    return conn;
  if (!make) {
    *failure = AUTH_LDAP_FAIL_TEMP;
    *error = g_strdup_printf("all %u %s connections to %s stayed busy for "
                             "the whole timeout",
                             pool->settings->max_connections, pool->name,
                             pool->settings->uris);
    return NULL;
  }

  LDAP *ld = connect_new(pool, failure, error);
  if (!ld) {
    pthread_mutex_lock(&pool->lock);
    pool->total--;
    pthread_cond_signal(&pool->freed);
    pthread_mutex_unlock(&pool->lock);
    return NULL;
  }
  conn = g_new0(AuthLdapConn, 1);
  conn->ld = ld;
  conn->generation = generation;
  return conn;
}

void auth_ldap_pool_give_back(AuthLdapPool *pool, AuthLdapConn *conn,
                              bool healthy)
{
  pthread_mutex_lock(&pool->lock);
  if (healthy && conn->generation == pool->generation) {
    g_ptr_array_add(pool->idle, conn);
    conn = NULL;
  } else {
    pool->total--;
  }
  pthread_cond_signal(&pool->freed);
  pthread_mutex_unlock(&pool->lock);
  conn_close(conn);
}

void auth_ldap_pool_invalidate(AuthLdapPool *pool)
{
  pthread_mutex_lock(&pool->lock);
  pool->generation++;
  pthread_mutex_unlock(&pool->lock);
}
