/* SPDX-License-Identifier: MIT */
#include "backend-login.h"

#include <string.h>

#include "proxy-header.h"

/* ---- the route ---------------------------------------------------------- */

static bool parse_host_port(const char *text, char **host, char **port)
{
  const char *colon;
  if (text[0] == '[') {
    const char *close = strchr(text, ']');
    if (!close || close[1] != ':')
      return false;
    *host = g_strndup(text + 1, (gsize)(close - text - 1));
    colon = close + 1;
  } else {
    colon = strrchr(text, ':');
    if (!colon || colon == text || memchr(text, ':', (size_t)(colon - text)))
      return false;
    *host = g_strndup(text, (gsize)(colon - text));
  }
  const char *p = colon + 1;
  gsize n = strspn(p, "0123456789");
  if (n == 0 || n > 5 || p[n] || g_ascii_strtoull(p, NULL, 10) > 65535 ||
      g_ascii_strtoull(p, NULL, 10) == 0) {
    g_clear_pointer(host, g_free);
    return false;
  }
  *port = g_strdup(p);
  return true;
}

static bool parse_yes_no(const char *text, bool *out)
{
  if (!text)
    return true;
  if (g_ascii_strcasecmp(text, "yes") == 0) {
    *out = true;
    return true;
  }
  if (g_ascii_strcasecmp(text, "no") == 0) {
    *out = false;
    return true;
  }
  return false;
}

bool poplard_backend_route_parse(PoplarBackendRoute *route,
                                 GHashTable *fields, const char *user,
                                 char **error)
{
  memset(route, 0, sizeof *route);
  const char *proxy = g_hash_table_lookup(fields, "proxy");
  const char *tls = g_hash_table_lookup(fields, "proxy-tls");
  const char *v2 = g_hash_table_lookup(fields, "proxy-v2");
  if (!proxy || !parse_host_port(proxy, &route->host, &route->port)) {
    *error = g_strdup_printf("proxy='%s' is not HOST:PORT",
                             proxy ? proxy : "");
    return false;
  }
  if (!tls || g_ascii_strcasecmp(tls, "no") == 0) {
    route->tls = POPLAR_BACKEND_TLS_NO;
  } else if (g_ascii_strcasecmp(tls, "starttls") == 0) {
    route->tls = POPLAR_BACKEND_TLS_STARTTLS;
  } else if (g_ascii_strcasecmp(tls, "implicit") == 0) {
    route->tls = POPLAR_BACKEND_TLS_IMPLICIT;
  } else {
    *error = g_strdup_printf("proxy-tls='%s' is not no, starttls or "
                             "implicit", tls);
    poplard_backend_route_clear(route);
    return false;
  }
  if (!parse_yes_no(v2, &route->proxy_v2)) {
    *error = g_strdup_printf("proxy-v2='%s' is not yes or no", v2);
    poplard_backend_route_clear(route);
    return false;
  }
  const char *backend_user = g_hash_table_lookup(fields, "proxy-user");
  route->user = backend_user && backend_user[0] ? backend_user : user;
  route->master = g_hash_table_lookup(fields, "proxy-master");
  route->master_password = g_hash_table_lookup(fields, "proxy-password");
  if (route->master && !route->master_password) {
    *error = g_strdup("proxy-master is set without proxy-password");
    poplard_backend_route_clear(route);
    return false;
  }
  return true;
}

void poplard_backend_route_clear(PoplarBackendRoute *route)
{
  g_clear_pointer(&route->host, g_free);
  g_clear_pointer(&route->port, g_free);
}

/* ---- the dialogue ------------------------------------------------------- */

static bool is_ok(const char *line)
{
  return strncmp(line, "+OK", 3) == 0 && (line[3] == '\0' || line[3] == ' ');
}

static bool expect_ok(PoplarBackendConn *b, const char *what, char **error)
{
  char line[POPLAR_BACKEND_LINE_MAX];
  if (!poplard_backend_read_line(b, line, sizeof line, error))
    return false;
  if (!is_ok(line)) {
    *error = g_strdup_printf("%s: the backend answered '%.200s'", what, line);
    return false;
  }
  return true;
}

static bool command(PoplarBackendConn *b, const char *fmt, const char *arg,
                    char **error)
{
  g_autofree char *text = g_strdup_printf(fmt, arg);
  bool ok = poplard_backend_send(b, text, strlen(text), error);
  explicit_bzero(text, strlen(text));
  return ok;
}

/* RFC 4616 PLAIN with the master's identity acting for the user; RFC 5034
 * lets it go as the initial response. */
static char *plain_message(const char *authzid, const char *authcid,
                           const char *password)
{
  size_t a = strlen(authzid), c = strlen(authcid), p = strlen(password);
  size_t len = a + 1 + c + 1 + p;
  char *raw = g_malloc(len);
  memcpy(raw, authzid, a);
  raw[a] = '\0';
  memcpy(raw + a + 1, authcid, c);
  raw[a + 1 + c] = '\0';
  memcpy(raw + a + c + 2, password, p);
  char *b64 = g_base64_encode((const guchar *)raw, len);
  explicit_bzero(raw, len);
  g_free(raw);
  return b64;
}

/* Sends the credentials; the backend's answer ends in @reply. */
static bool send_credentials(PoplarBackendConn *b, const PoplarBackendRoute *r,
                             const char *password, char *reply, size_t size,
                             char **error)
{
  if (r->master) {
    g_autofree char *msg = plain_message(r->user, r->master,
                                         r->master_password);
    bool ok = command(b, "AUTH PLAIN %s\r\n", msg, error);
    explicit_bzero(msg, strlen(msg));
    if (!ok)
      return false;
  } else {
    if (!command(b, "USER %s\r\n", r->user, error) ||
        !expect_ok(b, "USER", error) ||
        !command(b, "PASS %s\r\n", password, error))
      return false;
  }
  return poplard_backend_read_line(b, reply, size, error);
}

static bool send_proxy_header(PoplarBackendConn *b,
                              const PoplarBackendLoginParams *p, char **error)
{
  unsigned char header[POPLAR_PROXY_V2_HEADER_MAX];
  size_t len = poplard_proxy_v2_header(p->client_address, p->client_port,
                                       p->local_address, p->local_port,
                                       header);
  return poplard_backend_send(b, header, len, error);
}

/* A refusal that is not about the credentials goes to the client as the
 * backend said it. */
static bool is_temporary(const char *line)
{
  return strncmp(line, "-ERR [SYS/TEMP]", 15) == 0 ||
         strncmp(line, "-ERR [IN-USE]", 13) == 0 ||
         strncmp(line, "-ERR [LOGIN-DELAY]", 18) == 0;
}

PoplarBackendLoginResult
poplard_backend_login_run(const PoplarBackendLoginParams *p,
                          PoplarBackendConn **out, char **reply, char **error)
{
  const PoplarBackendRoute *r = p->route;
  PoplarBackendConn *b = poplard_backend_connect(r->host, r->port,
                                                 p->timeout_ms, error);
  if (!b)
    return POPLAR_BACKEND_UNAVAILABLE;
  bool ok = !r->proxy_v2 || send_proxy_header(b, p, error);
  if (ok && r->tls == POPLAR_BACKEND_TLS_IMPLICIT)
    ok = poplard_backend_start_tls(b, p->cred, r->host, error);
  ok = ok && expect_ok(b, "greeting", error);
  if (ok && r->tls == POPLAR_BACKEND_TLS_STARTTLS)
    ok = command(b, "%s\r\n", "STLS", error) && expect_ok(b, "STLS", error) &&
         poplard_backend_start_tls(b, p->cred, r->host, error);
  char line[POPLAR_BACKEND_LINE_MAX];
  ok = ok && send_credentials(b, r, p->password, line, sizeof line, error);
  if (!ok) {
    poplard_backend_conn_free(b);
    return POPLAR_BACKEND_UNAVAILABLE;
  }
  if (!is_ok(line)) {
    poplard_backend_conn_free(b);
    if (is_temporary(line)) {
      *error = g_strdup_printf("the backend answered '%.200s'", line);
      *reply = g_strdup(line);
      return POPLAR_BACKEND_UNAVAILABLE;
    }
    *reply = g_strdup(line);
    return POPLAR_BACKEND_REJECTED;
  }
  if (!poplard_backend_set_nonblocking(b, error)) {
    poplard_backend_conn_free(b);
    return POPLAR_BACKEND_UNAVAILABLE;
  }
  *reply = g_strdup(line);
  *out = b;
  return POPLAR_BACKEND_LOGGED_IN;
}
