/* SPDX-License-Identifier: MIT */
/*
 * The POP3 state machine, driven over a real socket against an in-process
 * server whose passdb and store live in this file: which command is valid
 * in which state, what QUIT commits, what a dropped connection keeps.
 */
#include <arpa/inet.h>
#include <glib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listener.h"
#include "poplar-limits.h"
#include "server.h"

/* ---- an in-memory passdb and store ------------------------------------ */

static const char *const mem_messages[] = {
    "Subject: one\r\n\r\nfirst\r\n",
    "Subject: two\n\n.dotted\n",
    "Subject: three\r\n\r\nthird\r\n",
};
#define N_MEM G_N_ELEMENTS(mem_messages)

static GMutex mem_lock;
static bool mem_expunged[N_MEM];
static unsigned mem_expunge_calls;

static PoplarPassdbResult mem_verify(void *data, PoplarAuthRequest *req,
                                     const char *password)
{
  (void)data;
  if (strcmp(poplar_auth_request_user(req), "alice") != 0)
    return POPLAR_PASSDB_NO_SUCH_USER;
  return strcmp(password, "pw") == 0 ? POPLAR_PASSDB_OK : POPLAR_PASSDB_DENIED;
}

static PoplarStoreResult mem_open(void *data, PoplarMailbox *mbox,
                                  const char *location)
{
  (void)data;
  (void)location;
  for (size_t i = 0; i < N_MEM; i++) {
    if (mem_expunged[i])
      continue;
    PoplarCrlfSize size;
    poplar_crlf_size_init(&size);
    poplar_crlf_size_feed(&size, mem_messages[i], strlen(mem_messages[i]));
    g_autofree char *uidl = g_strdup_printf("mem-%zu", i);
    poplar_mailbox_add_message(mbox, uidl, poplar_crlf_size_finish(&size),
                               GSIZE_TO_POINTER(i + 1));
  }
  return POPLAR_STORE_OK;
}

typedef struct MemStream {
  const char *text;
  size_t pos;
} MemStream;

static PoplarStoreResult mem_msg_open(void *data, PoplarMailbox *mbox,
                                      PoplarMessage *msg, void **stream)
{
  (void)data;
  (void)mbox;
  MemStream *ms = g_new0(MemStream, 1);
  ms->text = mem_messages[GPOINTER_TO_SIZE(poplar_message_get_data(msg)) - 1];
  *stream = ms;
  return POPLAR_STORE_OK;
}

static int64_t mem_msg_read(void *data, void *stream, char *buf, size_t len)
{
  MemStream *ms = stream;
  (void)data;
  size_t n = MIN(len, strlen(ms->text) - ms->pos);
  memcpy(buf, ms->text + ms->pos, n);
  ms->pos += n;
  return (int64_t)n;
}

static void mem_msg_close(void *data, void *stream)
{
  (void)data;
  g_free(stream);
}

static PoplarStoreResult mem_expunge(void *data, PoplarMailbox *mbox)
{
  (void)data;
  g_mutex_lock(&mem_lock);
  mem_expunge_calls++;
  for (size_t i = 0; i < poplar_mailbox_message_count(mbox); i++) {
    PoplarMessage *msg = poplar_mailbox_message(mbox, i);
    if (poplar_message_is_deleted(msg))
      mem_expunged[GPOINTER_TO_SIZE(poplar_message_get_data(msg)) - 1] = true;
  }
  g_mutex_unlock(&mem_lock);
  return POPLAR_STORE_OK;
}

static void mem_close(void *data, PoplarMailbox *mbox)
{
  (void)data;
  (void)mbox;
}

/* ---- the server ------------------------------------------------------- */

static PoplarServer server;
static unsigned port;

static void start_server(void)
{
  static const char conf[] =
      "[server]\n"
      "listen = 127.0.0.1:0\n"
      "mail = mem:%u\n"
      "auth-failure-delay = 0\n"
      "threads = 1\n"
      "log-level = error\n"
      "allow-root = yes\n";
  server.config_file = poplarpriv_config_parse("test.conf", conf,
                                               strlen(conf));
  g_assert_true(poplard_server_config_read(&server.cfg, server.config_file,
                                          "/nonexistent"));
  poplarpriv_set_log_level(server.cfg.log_level);
  server.registry = poplarpriv_registry_new();
  PoplarPlugin *plugin =
      poplarpriv_plugin_new(server.registry, "test-mem", "(built in)");
  plugin->config = poplarpriv_config_section_ensure(server.config_file,
                                                    "test-mem");
  plugin->registering = true;
  static const PoplarPassdbOps passdb = {.verify_plain = mem_verify};
  static const PoplarStoreOps store = {
      .open = mem_open,
      .message_open = mem_msg_open,
      .message_read = mem_msg_read,
      .message_close = mem_msg_close,
      .expunge = mem_expunge,
      .close = mem_close,
  };
  g_assert_true(poplar_register_passdb(plugin, "mem", &passdb, sizeof passdb,
                                       NULL));
  g_assert_true(poplar_register_store(plugin, "mem", &store, sizeof store,
                                      NULL));
  plugin->registering = false;
  g_autoptr(GString) error = g_string_new(NULL);
  g_assert_true(poplard_server_start(&server, error));
  /* The bound port, from the listening socket. */
  struct sockaddr_in sin;
  socklen_t len = sizeof sin;
  PoplarListener *l = g_ptr_array_index(server.listeners, 0);
  g_assert_true(poplard_listener_fd_name(l, (struct sockaddr *)&sin, &len));
  port = ntohs(sin.sin_port);
}

/* ---- a tiny client ---------------------------------------------------- */

typedef struct Conn {
  int fd;
  GString *buf;
} Conn;

static Conn *conn_open(void)
{
  Conn *c = g_new0(Conn, 1);
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sin = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
  g_assert_cmpint(connect(c->fd, (struct sockaddr *)&sin, sizeof sin), ==, 0);
  struct timeval tv = {.tv_sec = 5};
  setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  c->buf = g_string_new(NULL);
  return c;
}

static void conn_close(Conn *c)
{
  close(c->fd);
  g_string_free(c->buf, TRUE);
  g_free(c);
}

/* One line without CRLF, or NULL at EOF. */
static char *conn_line(Conn *c)
{
  for (;;) {
    char *nl = strstr(c->buf->str, "\r\n");
    if (nl) {
      char *line = g_strndup(c->buf->str, (gsize)(nl - c->buf->str));
      g_string_erase(c->buf, 0, nl - c->buf->str + 2);
      return line;
    }
    char tmp[4096];
    ssize_t n = recv(c->fd, tmp, sizeof tmp, 0);
    if (n <= 0)
      return NULL;
    g_string_append_len(c->buf, tmp, n);
  }
}

static char *conn_cmd(Conn *c, const char *cmd)
{
  g_autofree char *line = g_strdup_printf("%s\r\n", cmd);
  g_assert_cmpint(send(c->fd, line, strlen(line), MSG_NOSIGNAL), ==,
                  (ssize_t)strlen(line));
  return conn_line(c);
}

/* Reads a multi-line body up to "."; returns the number of lines. */
static unsigned conn_body(Conn *c)
{
  unsigned n = 0;
  for (;;) {
    g_autofree char *line = conn_line(c);
    g_assert_nonnull(line);
    if (strcmp(line, ".") == 0)
      return n;
    n++;
  }
}

static void expect(Conn *c, const char *cmd, const char *prefix)
{
  g_autofree char *reply = conn_cmd(c, cmd);
  g_assert_nonnull(reply);
  if (!g_str_has_prefix(reply, prefix))
    g_error("%s: expected '%s...', got '%s'", cmd, prefix, reply);
  if (g_str_has_prefix(reply, "+OK") &&
      (strcmp(cmd, "LIST") == 0 || strcmp(cmd, "UIDL") == 0 ||
       g_str_has_prefix(cmd, "RETR") || g_str_has_prefix(cmd, "TOP") ||
       strcmp(cmd, "CAPA") == 0))
    conn_body(c);
}

static Conn *logged_in(void)
{
  Conn *c = conn_open();
  g_free(conn_line(c)); /* greeting */
  expect(c, "USER alice", "+OK");
  expect(c, "PASS pw", "+OK");
  return c;
}

static void reset_store(void)
{
  g_mutex_lock(&mem_lock);
  memset(mem_expunged, 0, sizeof mem_expunged);
  mem_expunge_calls = 0;
  g_mutex_unlock(&mem_lock);
}

/* ---- tests ------------------------------------------------------------ */

typedef struct StateCase {
  const char *cmd;
  bool valid_in_authorization;
  bool valid_in_transaction;
} StateCase;

static const StateCase state_cases[] = {
    {"STAT", false, true},       {"LIST", false, true},
    {"UIDL", false, true},       {"RETR 1", false, true},
    {"TOP 1 0", false, true},    {"DELE 3", false, true},
    {"NOOP", false, true},       {"RSET", false, true},
    {"USER bob", true, false},   {"APOP a b", true, false},
    {"STLS", true, false},       {"AUTH", true, false},
    {"CAPA", true, true},
};

static const char not_valid[] = "-ERR Command not valid in this state";

static void test_commands_per_state(void)
{
  reset_store();
  Conn *c = conn_open();
  g_free(conn_line(c));
  for (size_t i = 0; i < G_N_ELEMENTS(state_cases); i++) {
    g_autofree char *reply = conn_cmd(c, state_cases[i].cmd);
    g_assert_nonnull(reply);
    bool refused = strcmp(reply, not_valid) == 0;
    if (refused == state_cases[i].valid_in_authorization)
      g_error("AUTHORIZATION %s: got '%s'", state_cases[i].cmd, reply);
    if (g_str_has_prefix(reply, "+OK") &&
        (strcmp(state_cases[i].cmd, "CAPA") == 0 ||
         strcmp(state_cases[i].cmd, "AUTH") == 0))
      conn_body(c);
  }
  expect(c, "USER alice", "+OK");
  expect(c, "PASS pw", "+OK");
  for (size_t i = 0; i < G_N_ELEMENTS(state_cases); i++) {
    g_autofree char *reply = conn_cmd(c, state_cases[i].cmd);
    g_assert_nonnull(reply);
    bool refused = strcmp(reply, not_valid) == 0;
    if (refused == state_cases[i].valid_in_transaction)
      g_error("TRANSACTION %s: got '%s'", state_cases[i].cmd, reply);
    if (g_str_has_prefix(reply, "+OK") &&
        (strcmp(state_cases[i].cmd, "CAPA") == 0 ||
         g_str_has_prefix(state_cases[i].cmd, "LIST") ||
         g_str_has_prefix(state_cases[i].cmd, "UIDL") ||
         g_str_has_prefix(state_cases[i].cmd, "RETR") ||
         g_str_has_prefix(state_cases[i].cmd, "TOP")))
      conn_body(c);
  }
  /* DELE 3 above was undone by the RSET after it. */
  expect(c, "QUIT", "+OK");
  g_assert_null(conn_line(c));
  conn_close(c);
  g_assert_false(mem_expunged[2]);
}

static void test_pass_needs_user(void)
{
  Conn *c = conn_open();
  g_free(conn_line(c));
  expect(c, "PASS pw", "-ERR");
  expect(c, "USER alice", "+OK");
  expect(c, "PASS wrong", "-ERR [AUTH]");
  /* A failed PASS leaves the state at AUTHORIZATION, USER needed again. */
  expect(c, "PASS pw", "-ERR");
  expect(c, "USER alice", "+OK");
  expect(c, "PASS pw", "+OK");
  expect(c, "STAT", "+OK 3 ");
  expect(c, "QUIT", "+OK");
  conn_close(c);
}

static void test_quit_commits_marks(void)
{
  reset_store();
  Conn *c = logged_in();
  expect(c, "DELE 1", "+OK");
  expect(c, "DELE 1", "-ERR");       /* already marked */
  expect(c, "RETR 1", "-ERR");       /* marked messages are gone for now */
  expect(c, "STAT", "+OK 2 ");
  expect(c, "DELE 2", "+OK");
  expect(c, "RSET", "+OK");
  expect(c, "STAT", "+OK 3 ");
  expect(c, "DELE 2", "+OK");
  expect(c, "QUIT", "+OK");
  g_assert_null(conn_line(c));
  conn_close(c);
  g_assert_cmpuint(mem_expunge_calls, ==, 1);
  g_assert_false(mem_expunged[0]);
  g_assert_true(mem_expunged[1]);
  g_assert_false(mem_expunged[2]);
}

static void test_drop_keeps_marks(void)
{
  reset_store();
  Conn *c = logged_in();
  expect(c, "DELE 1", "+OK");
  expect(c, "DELE 2", "+OK");
  conn_close(c); /* no QUIT: never enters UPDATE */
  /* The next login sees every message: the session ended without
   * committing. */
  Conn *d = logged_in();
  expect(d, "STAT", "+OK 3 ");
  expect(d, "QUIT", "+OK");
  conn_close(d);
  g_assert_cmpuint(mem_expunge_calls, ==, 0);
}

static void test_quit_in_authorization(void)
{
  Conn *c = conn_open();
  g_free(conn_line(c));
  expect(c, "QUIT", "+OK");
  g_assert_null(conn_line(c));
  conn_close(c);
}

static void test_too_many_errors_disconnect(void)
{
  Conn *c = conn_open();
  g_free(conn_line(c));
  unsigned replies = 0;
  for (unsigned i = 0; i < 100; i++) {
    g_autofree char *reply = conn_cmd(c, "XYZZY");
    if (!reply)
      break;
    g_assert_true(g_str_has_prefix(reply, "-ERR"));
    replies++;
  }
  /* Disconnected at the limit, after one reply per command. */
  g_assert_cmpuint(replies, ==, POPLAR_MAX_BAD_COMMANDS);
  conn_close(c);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  start_server();
  g_test_add_func("/state/commands-per-state", test_commands_per_state);
  g_test_add_func("/state/pass-needs-user", test_pass_needs_user);
  g_test_add_func("/state/quit-commits-marks", test_quit_commits_marks);
  g_test_add_func("/state/drop-keeps-marks", test_drop_keeps_marks);
  g_test_add_func("/state/quit-in-authorization", test_quit_in_authorization);
  g_test_add_func("/state/too-many-errors", test_too_many_errors_disconnect);
  int r = g_test_run();
  poplard_server_stop(&server, 0);
  poplard_server_free(&server);
  return r;
}
