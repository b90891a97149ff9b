/* SPDX-License-Identifier: MIT */
/*
 * auth-sql-mysql: the user database in MariaDB or MySQL, through MariaDB
 * Connector/C.
 *
 *   connect = host=db1.example.org host=db2.example.org:3307 port=3306
 *             user=poplar password=... dbname=mail
 *
 * host may be given several times: a new connection tries them in order
 * and takes the first that answers, so when one server fails the next
 * logins go to the next.  A host is a name or address, with :port of its
 * own if it differs from port=, or the path of a unix socket.  Other
 * keys: ssl_ca, ssl_cert, ssl_key (TLS to the server, its certificate
 * checked against ssl_ca).
 *
 * Queries are prepared once per connection (mysql_stmt_prepare) and run
 * with their values bound as parameters.  The timeout is the client
 * library's connect, read and write timeout (whole seconds).
 */
#include "auth-sql.h"

#include <errno.h>
#include <mysql.h>
#include <errmsg.h>
#include <mysqld_error.h>
#include <string.h>

typedef struct MyHost {
  char *host;   /* NULL with a socket */
  unsigned port;
  char *socket;
} MyHost;

typedef struct MyConn {
  MYSQL *my;
  MYSQL_STMT *stmts[SQL_QUERY_MAX];
  const char *host; /* which host answered, for logs */
} MyConn;

static const char *const known_keys[] = {
    "host", "port", "user", "password", "dbname", "ssl_ca", "ssl_cert",
    "ssl_key", NULL,
};

static const char *value_of(char **kv, const char *key)
{
  for (char **p = kv; p && p[0]; p += 2) {
    if (strcmp(p[0], key) == 0)
      return p[1];
  }
  return NULL;
}

/* "name", "name:port", "[v6]:port", "/path/to/socket". */
static bool parse_host(const char *text, unsigned default_port, MyHost *out,
                       char **error)
{
  memset(out, 0, sizeof *out);
  out->port = default_port;
  if (text[0] == '/') {
    out->socket = g_strdup(text);
    return true;
  }
  const char *colon = strrchr(text, ':');
  const char *end = text + strlen(text);
  bool bracketed = text[0] == '[';
  if (bracketed) {
    const char *close = strchr(text, ']');
    if (!close || (close[1] && close[1] != ':')) {
      *error = g_strdup_printf("host '%s': an IPv6 address with a port is "
                               "written [address]:port", text);
      return false;
    }
    colon = close[1] ? close + 1 : NULL;
    end = close;
  } else if (colon && strchr(text, ':') != colon) {
    colon = NULL; /* a bare IPv6 address */
  }
  if (colon) {
    guint64 port = 0;
    if (!g_ascii_string_to_unsigned(colon + 1, 10, 1, 65535, &port, NULL)) {
      *error = g_strdup_printf("host '%s': '%s' is not a port", text,
                               colon + 1);
      return false;
    }
    out->port = (unsigned)port;
    if (!bracketed)
      end = colon;
  }
  const char *start = bracketed ? text + 1 : text;
  if (end <= start) {
    *error = g_strdup_printf("host '%s' has no name", text);
    return false;
  }
  out->host = g_strndup(start, (gsize)(end - start));
  return true;
}

static void host_clear(MyHost *h)
{
  g_free(h->host);
  g_free(h->socket);
}

/* The hosts of @kv in order (at least one: localhost's socket when none
 * is given, as the client library does). */
static GArray *hosts_of(char **kv, char **error)
{
  unsigned port = 3306;
  const char *port_text = value_of(kv, "port");
  if (port_text) {
    guint64 n = 0;
    if (!g_ascii_string_to_unsigned(port_text, 10, 1, 65535, &n, NULL)) {
      *error = g_strdup_printf("port '%s' is not a port number", port_text);
      return NULL;
    }
    port = (unsigned)n;
  }
  GArray *hosts = g_array_new(FALSE, TRUE, sizeof(MyHost));
  g_array_set_clear_func(hosts, (GDestroyNotify)host_clear);
  for (char **p = kv; p[0]; p += 2) {
    if (strcmp(p[0], "host") != 0)
      continue;
    MyHost h;
    if (!parse_host(p[1], port, &h, error)) {
      g_array_unref(hosts);
      return NULL;
    }
    g_array_append_val(hosts, h);
  }
  if (hosts->len == 0) {
    MyHost h = {.host = g_strdup("localhost"), .port = port};
    g_array_append_val(hosts, h);
  }
  return hosts;
}

static void wipe_strv(char **kv)
{
  for (char **p = kv; p && *p; p++)
    explicit_bzero(*p, strlen(*p));
  g_strfreev(kv);
}

static bool mysql_check_connect(const char *connect, char **error)
{
  char **kv = sql_connect_split(connect, error);
  if (!kv)
    return false;
  bool ok = true;
  for (char **p = kv; ok && p[0]; p += 2) {
    if (!g_strv_contains(known_keys, p[0])) {
      *error = g_strdup_printf("unknown key '%s' (known: host, port, user, "
                               "password, dbname, ssl_ca, ssl_cert, "
                               "ssl_key)", p[0]);
      ok = false;
    }
  }
  if (ok) {
    GArray *hosts = hosts_of(kv, error);
    ok = hosts != NULL;
    if (hosts)
      g_array_unref(hosts);
  }
  wipe_strv(kv);
  return ok;
}

static void mysql_close_conn(void *conn)
{
  MyConn *c = conn;
  if (!c)
    return;
  for (unsigned i = 0; i < SQL_QUERY_MAX; i++) {
    if (c->stmts[i])
      mysql_stmt_close(c->stmts[i]);
  }
  mysql_close(c->my);
  g_free(c);
}

static SqlFailure classify(unsigned err)
{
  switch (err) {
  case CR_SERVER_GONE_ERROR:
  case CR_SERVER_LOST:
  case CR_SERVER_LOST_EXTENDED:
  case CR_CONNECTION_ERROR:
  case CR_CONN_HOST_ERROR:
  case ER_SERVER_SHUTDOWN:
  case ER_CONNECTION_KILLED:
    return SQL_FAIL_DOWN;
  default:
    return SQL_FAIL_TEMP;
  }
}

/* Connects to @h with the options of @kv. */
static MYSQL *connect_host(char **kv, const MyHost *h, unsigned seconds,
                           char **error)
{
  MYSQL *my = mysql_init(NULL);
  if (!my) {
    *error = g_strdup("out of memory");
    return NULL;
  }
  my_bool verify = 1;
  mysql_options(my, MYSQL_OPT_CONNECT_TIMEOUT, &seconds);
  mysql_options(my, MYSQL_OPT_READ_TIMEOUT, &seconds);
  mysql_options(my, MYSQL_OPT_WRITE_TIMEOUT, &seconds);
  mysql_options(my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  const char *ca = value_of(kv, "ssl_ca");
  const char *cert = value_of(kv, "ssl_cert");
  const char *key = value_of(kv, "ssl_key");
  if (ca || cert || key) {
    mysql_ssl_set(my, key, cert, ca, NULL, NULL);
    mysql_options(my, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
  }
  if (!mysql_real_connect(my, h->socket ? NULL : h->host,
                          value_of(kv, "user"), value_of(kv, "password"),
                          value_of(kv, "dbname"), h->socket ? 0 : h->port,
                          h->socket, 0)) {
    *error = g_strdup(mysql_error(my));
    mysql_close(my);
    return NULL;
  }
  return my;
}

static void *mysql_open_conn(const SqlSettings *s, SqlFailure *failure,
                             char **error)
{
  *failure = SQL_FAIL_DOWN;
  char **kv = sql_connect_split(s->connect, error);
  if (!kv)
    return NULL;
  GArray *hosts = hosts_of(kv, error);
  if (!hosts) {
    wipe_strv(kv);
    return NULL;
  }
  unsigned seconds = (unsigned)MAX((s->timeout_ms + 999) / 1000, 1);
  MYSQL *my = NULL;
  GString *why = g_string_new(NULL);
  for (guint i = 0; i < hosts->len && !my; i++) {
    const MyHost *h = &g_array_index(hosts, MyHost, i);
    g_autofree char *e = NULL;
    my = connect_host(kv, h, seconds, &e);
    if (!my)
      g_string_append_printf(why, "%s%s", why->len ? "; " : "", e);
  }
  wipe_strv(kv);
  g_array_unref(hosts);
  if (!my) {
    *error = g_strdup_printf("cannot connect: %s", why->str);
    g_string_free(why, TRUE);
    return NULL;
  }
  g_string_free(why, TRUE);

  MyConn *c = g_new0(MyConn, 1);
  c->my = my;
  for (unsigned i = 0; i < s->n_queries; i++) {
    const char *text = s->queries[i].text;
    c->stmts[i] = mysql_stmt_init(my);
    if (!c->stmts[i] ||
        mysql_stmt_prepare(c->stmts[i], text, strlen(text)) != 0) {
      unsigned err = c->stmts[i] ? mysql_stmt_errno(c->stmts[i])
                                 : mysql_errno(my);
      *failure = classify(err);
      *error = g_strdup_printf(
          "cannot prepare the %s: %s",
          i == SQL_QUERY_PASSWORD ? "password-query" : "user-query",
          c->stmts[i] ? mysql_stmt_error(c->stmts[i]) : mysql_error(my));
      mysql_close_conn(c);
      return NULL;
    }
  }
  *failure = SQL_FAIL_NONE;
  return c;
}

static SqlFailure stmt_failed(MYSQL_STMT *stmt, const char *what,
                              char **error)
{
  *error = g_strdup_printf("%s: %s", what, mysql_stmt_error(stmt));
  return classify(mysql_stmt_errno(stmt));
}

/* Fetches every row of an executed @stmt into a result. */
static SqlFailure fetch_rows(MYSQL_STMT *stmt, SqlResult **out, char **error)
{
  MYSQL_RES *meta = mysql_stmt_result_metadata(stmt);
  if (!meta)
    return stmt_failed(stmt, "the query returns no rows", error);
  unsigned cols = mysql_num_fields(meta);
  MYSQL_FIELD *fields = mysql_fetch_fields(meta);
  SqlResult *r = sql_result_new(cols);
  for (unsigned i = 0; i < cols; i++)
    sql_result_set_name(r, i, fields[i].name);
  mysql_free_result(meta);

  MYSQL_BIND *bind = g_new0(MYSQL_BIND, cols + 1);
  unsigned long *lengths = g_new0(unsigned long, cols + 1);
  my_bool *nulls = g_new0(my_bool, cols + 1);
  for (unsigned i = 0; i < cols; i++) {
    /* No buffer: the fetch says each value's length, and
     * mysql_stmt_fetch_column() then reads it in full. */
    bind[i].buffer_type = MYSQL_TYPE_STRING;
    bind[i].length = &lengths[i];
    bind[i].is_null = &nulls[i];
  }
  SqlFailure failure = SQL_FAIL_NONE;
  if (mysql_stmt_bind_result(stmt, bind) != 0 ||
      mysql_stmt_store_result(stmt) != 0)
    failure = stmt_failed(stmt, "reading the result", error);
  char **values = g_new0(char *, cols + 1);
  while (failure == SQL_FAIL_NONE) {
    int rc = mysql_stmt_fetch(stmt);
    if (rc == MYSQL_NO_DATA)
      break;
    if (rc == 1) {
      failure = stmt_failed(stmt, "reading a row", error);
      break;
    }
    for (unsigned i = 0; i < cols && failure == SQL_FAIL_NONE; i++) {
      values[i] = NULL;
      if (nulls[i])
        continue;
      values[i] = g_malloc0(lengths[i] + 1);
      MYSQL_BIND one = {
          .buffer_type = MYSQL_TYPE_STRING,
          .buffer = values[i],
          .buffer_length = lengths[i] + 1,
      };
      if (mysql_stmt_fetch_column(stmt, &one, i, 0) != 0)
        failure = stmt_failed(stmt, "reading a value", error);
    }
    if (failure == SQL_FAIL_NONE)
      sql_result_add_row(r, (const char *const *)values, lengths);
    for (unsigned i = 0; i < cols; i++) {
      if (values[i]) {
        explicit_bzero(values[i], lengths[i]);
        g_clear_pointer(&values[i], g_free);
      }
    }
  }
  mysql_stmt_free_result(stmt);
  g_free(values);
  g_free(nulls);
  g_free(lengths);
  g_free(bind);
  if (failure != SQL_FAIL_NONE) {
    sql_result_free(r);
    return failure;
  }
  *out = r;
  return SQL_FAIL_NONE;
}

static SqlFailure mysql_run(void *conn, const SqlSettings *s, unsigned index,
                            const char *const *values, SqlResult **out,
                            char **error)
{
  MyConn *c = conn;
  MYSQL_STMT *stmt = c->stmts[index];
  unsigned n = s->queries[index].n_params;
  *out = NULL;
  MYSQL_BIND *bind = g_new0(MYSQL_BIND, n + 1);
  unsigned long *lengths = g_new0(unsigned long, n + 1);
  for (unsigned i = 0; i < n; i++) {
    lengths[i] = strlen(values[i]);
    bind[i].buffer_type = MYSQL_TYPE_STRING;
    bind[i].buffer = (void *)values[i];
    bind[i].buffer_length = lengths[i];
    bind[i].length = &lengths[i];
  }
  SqlFailure failure = SQL_FAIL_NONE;
  if ((n && mysql_stmt_bind_param(stmt, bind) != 0) ||
      mysql_stmt_execute(stmt) != 0)
    failure = stmt_failed(stmt, "running the query", error);
  else
    failure = fetch_rows(stmt, out, error);
  g_free(lengths);
  g_free(bind);
  return failure;
}

static const SqlDriver mysql_driver = {
    .name = "mysql",
    .library = "MariaDB Connector/C",
    .style = SQL_PLACEHOLDER_QUESTION,
    .check_connect = mysql_check_connect,
    .open = mysql_open_conn,
    .run = mysql_run,
    .close = mysql_close_conn,
};

static bool auth_sql_mysql_init(PoplarPlugin *plugin, PoplarConfig *config)
{
  /* The client library sets up its global state on first use, which is
   * not safe from several login threads at once: do it here, on the main
   * thread. */
  if (mysql_library_init(0, NULL, NULL) != 0) {
    poplar_config_error(config, "driver",
                        "MariaDB Connector/C cannot be initialised");
    return false;
  }
  return auth_sql_plugin_init(plugin, config, &mysql_driver);
}

static void auth_sql_mysql_fini(PoplarPlugin *plugin)
{
  (void)plugin;
  mysql_library_end();
}

POPLAR_PLUGIN_DEFINE(auth_sql_mysql, "0.1.0",
                     "Users and passwords in MariaDB or MySQL", NULL,
                     auth_sql_mysql_init, auth_sql_mysql_fini)
