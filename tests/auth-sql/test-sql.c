/* SPDX-License-Identifier: MIT */
/*
 * auth-sql without a database: the :name parameters turned into each
 * driver's placeholders (and everything else left alone), the connect
 * strings, and what the result columns become.
 */
#include "auth-sql.h"
#include "poplar-private.h"

#include <string.h>

static SqlQuery parse_ok(const char *source, SqlPlaceholderStyle style)
{
  SqlQuery q;
  g_autofree char *error = NULL;
  if (!sql_query_parse(source, style, &q, &error))
    g_error("'%s' refused: %s", source, error);
  return q;
}

static char *parse_error(const char *source, SqlPlaceholderStyle style)
{
  SqlQuery q;
  char *error = NULL;
  g_assert_false(sql_query_parse(source, style, &q, &error));
  g_assert_nonnull(error);
  return error;
}

static void test_placeholders_per_driver(void)
{
  const char *src =
      "SELECT password FROM mailbox WHERE local_part = :local AND "
      "domain = :domain AND username = :user AND :local <> ''";
  SqlQuery q = parse_ok(src, SQL_PLACEHOLDER_DOLLAR);
  g_assert_cmpstr(q.text, ==,
                  "SELECT password FROM mailbox WHERE local_part = $1 AND "
                  "domain = $2 AND username = $3 AND $1 <> ''");
  g_assert_cmpuint(q.n_params, ==, 3);
  g_assert_cmpint(q.params[0], ==, SQL_PARAM_LOCAL);
  g_assert_cmpint(q.params[1], ==, SQL_PARAM_DOMAIN);
  g_assert_cmpint(q.params[2], ==, SQL_PARAM_USER);
  sql_query_clear(&q);

  /* MariaDB's ? are positional: a name used twice is bound twice. */
  q = parse_ok(src, SQL_PLACEHOLDER_QUESTION);
  g_assert_cmpstr(q.text, ==,
                  "SELECT password FROM mailbox WHERE local_part = ? AND "
                  "domain = ? AND username = ? AND ? <> ''");
  g_assert_cmpuint(q.n_params, ==, 4);
  g_assert_cmpint(q.params[3], ==, SQL_PARAM_LOCAL);
  sql_query_clear(&q);

  q = parse_ok(src, SQL_PLACEHOLDER_NUMBERED);
  g_assert_cmpstr(q.text, ==,
                  "SELECT password FROM mailbox WHERE local_part = ?1 AND "
                  "domain = ?2 AND username = ?3 AND ?1 <> ''");
  g_assert_cmpuint(q.n_params, ==, 3);
  sql_query_clear(&q);

  q = parse_ok("SELECT 1 WHERE :remote_ip = '' OR :service = 'pop3'",
               SQL_PLACEHOLDER_DOLLAR);
  g_assert_cmpint(q.params[0], ==, SQL_PARAM_REMOTE_IP);
  g_assert_cmpint(q.params[1], ==, SQL_PARAM_SERVICE);
  sql_query_clear(&q);
}

/* What looks like a parameter inside a string, an identifier, a comment,
 * a dollar quote or after :: is not one. */
static void test_only_parameters_are_replaced(void)
{
  const char *src =
      "SELECT ':user' AS a, \"x:user\" AS b, `y:user`, 'it''s :user', "
      "'a\\' :user', $q$ :user $q$, now()::text -- :user\n"
      "/* :domain */ FROM t WHERE u = :user::text";
  SqlQuery q = parse_ok(src, SQL_PLACEHOLDER_DOLLAR);
  g_assert_cmpuint(q.n_params, ==, 1);
  g_assert_true(g_str_has_suffix(q.text, "WHERE u = $1::text"));
  g_assert_nonnull(strstr(q.text, "$q$ :user $q$"));
  g_assert_nonnull(strstr(q.text, "-- :user\n"));
  g_assert_nonnull(strstr(q.text, "'it''s :user'"));
  sql_query_clear(&q);
}

static void test_mistakes_are_refused(void)
{
  g_autofree char *e1 =
      parse_error("SELECT 1 WHERE u = :usr", SQL_PLACEHOLDER_DOLLAR);
  g_assert_nonnull(strstr(e1, "unknown parameter :usr"));
  g_autofree char *e2 =
      parse_error("SELECT 1 WHERE u = ?", SQL_PLACEHOLDER_QUESTION);
  g_assert_nonnull(strstr(e2, ":user"));
  g_autofree char *e3 =
      parse_error("SELECT 1 WHERE u = $1", SQL_PLACEHOLDER_DOLLAR);
  g_assert_nonnull(strstr(e3, "'$'"));
  g_autofree char *e4 =
      parse_error("SELECT 'open WHERE u = :user", SQL_PLACEHOLDER_DOLLAR);
  g_assert_nonnull(strstr(e4, "not closed"));
  g_autofree char *e5 =
      parse_error("SELECT 1 /* open", SQL_PLACEHOLDER_NUMBERED);
  g_assert_nonnull(strstr(e5, "not closed"));
}

static void test_truth_values(void)
{
  const char *no[] = {NULL, "", "0", "f", "F", "false", "No", "n", "off"};
  const char *yes[] = {"1", "t", "true", "Y", "yes", "on", "disabled"};
  for (size_t i = 0; i < G_N_ELEMENTS(no); i++)
    g_assert_false(sql_value_is_true(no[i]));
  for (size_t i = 0; i < G_N_ELEMENTS(yes); i++)
    g_assert_true(sql_value_is_true(yes[i]));
}

static void test_connect_split(void)
{
  g_autofree char *error = NULL;
  char **kv = sql_connect_split(
      "  host=db1 host=db2:3307 password='a b\\'c' user=\"x\"", &error);
  g_assert_nonnull(kv);
  g_assert_cmpuint(g_strv_length(kv), ==, 8);
  g_assert_cmpstr(kv[3], ==, "db2:3307");
  g_assert_cmpstr(kv[4], ==, "password");
  g_assert_cmpstr(kv[5], ==, "a b'c");
  g_assert_cmpstr(kv[7], ==, "x");
  g_strfreev(kv);
  g_assert_null(sql_connect_split("host", &error));
  g_assert_nonnull(error);
  g_clear_pointer(&error, g_free);
  g_assert_null(sql_connect_split("password='open", &error));
  g_assert_nonnull(error);
}

/* Columns become fields by name; the password and the nologin columns
 * never do. */
static void test_columns_become_fields(void)
{
  SqlResult *r = sql_result_new(11);
  const char *names[] = {"User", "PASSWORD", "home", "mail", "uid", "gid",
                         "nologin", "proxy", "userdb_quota", "note",
                         "reason"};
  for (unsigned i = 0; i < 11; i++)
    sql_result_set_name(r, i, names[i]);
  const char *row[] = {"Alice@Example.org", "{PLAIN}pw", "/home/alice",
                       "maildir:/srv/alice", "5000", "5001", "0",
                       "backend:110", "2G", "bad\nvalue", "gone"};
  sql_result_add_row(r, row, NULL);
  g_assert_cmpuint(sql_result_rows(r), ==, 1);
  g_assert_cmpstr(sql_result_get(r, 0, "password"), ==, "{PLAIN}pw");
  g_assert_null(sql_result_get(r, 0, "absent"));

  PoplarSession session = {0};
  g_strlcpy(session.id, "s1", sizeof session.id);
  PoplarAuthRequest *req =
      poplarpriv_auth_request_new(&session, "USER", "alice@example.org");
  g_autofree char *skipped = NULL;
  sql_result_apply(r, 0, req, &skipped);
  g_assert_cmpstr(poplar_auth_request_user(req), ==, "Alice@Example.org");
  g_assert_cmpstr(poplar_auth_request_home(req), ==, "/home/alice");
  g_assert_cmpstr(poplar_auth_request_mail(req), ==, "maildir:/srv/alice");
  g_assert_cmpstr(poplar_auth_request_field(req, "uid"), ==, "5000");
  g_assert_cmpstr(poplar_auth_request_field(req, "gid"), ==, "5001");
  g_assert_cmpstr(poplar_auth_request_field(req, "proxy"), ==,
                  "backend:110");
  g_assert_cmpstr(poplar_auth_request_field(req, "quota"), ==, "2G");
  g_assert_null(poplar_auth_request_field(req, "password"));
  g_assert_null(poplar_auth_request_field(req, "nologin"));
  g_assert_null(poplar_auth_request_field(req, "reason"));
  g_assert_null(poplar_auth_request_field(req, "note"));
  g_assert_cmpstr(skipped, ==, "note");
  poplarpriv_auth_request_free(req);

  /* A relative home is not a home. */
  SqlResult *r2 = sql_result_new(1);
  sql_result_set_name(r2, 0, "home");
  const char *rel[] = {"home/alice"};
  sql_result_add_row(r2, rel, NULL);
  req = poplarpriv_auth_request_new(&session, "USER", "alice");
  g_autofree char *skipped2 = NULL;
  sql_result_apply(r2, 0, req, &skipped2);
  g_assert_null(poplar_auth_request_home(req));
  g_assert_cmpstr(skipped2, ==, "home");
  poplarpriv_auth_request_free(req);
  sql_result_free(r2);
  sql_result_free(r);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/auth-sql/query/placeholders", test_placeholders_per_driver);
  g_test_add_func("/auth-sql/query/only-parameters",
                  test_only_parameters_are_replaced);
  g_test_add_func("/auth-sql/query/mistakes", test_mistakes_are_refused);
  g_test_add_func("/auth-sql/result/truth", test_truth_values);
  g_test_add_func("/auth-sql/result/fields", test_columns_become_fields);
  g_test_add_func("/auth-sql/settings/connect-split", test_connect_split);
  return g_test_run();
}
