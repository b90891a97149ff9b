/* SPDX-License-Identifier: MIT */
#include "control-worker.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "control-protocol.h"
#include "control-sessions.h"
#include "location.h"
#include "login.h"
#include "stats.h"

struct PoplarControlWorker {
  PoplarServer *server;
  int fd;
  GThread *thread;
};

static void answer_stats(GString *out)
{
  poplard_stats_dump(out);
  g_string_append(out, "OK\n");
}

static void add_penalty(const char *kind, const char *name, unsigned failures,
                        uint64_t delay_ms, void *data)
{
  GString *rec = poplard_control_record_new();
  poplard_control_record_add(rec, "kind", kind);
  poplard_control_record_add(rec, "name", name);
  poplard_control_record_addf(rec, "failures", "%u", failures);
  poplard_control_record_addf(rec, "delay_ms", "%" G_GUINT64_FORMAT,
                              delay_ms);
  poplard_control_record_finish(data, rec);
}

static void answer_penalty(PoplarServer *server, char **request, GString *out)
{
  if (!server->throttle) {
    g_string_append(out, "OK\n");
    return;
  }
  if (g_strcmp0(request[1], "reset") == 0 && request[2]) {
    unsigned n = poplard_throttle_forget(server->throttle, request[2]);
    GString *rec = poplard_control_record_new();
    poplard_control_record_addf(rec, "reset", "%u", n);
    poplard_control_record_finish(out, rec);
  } else {
    poplard_throttle_foreach(server->throttle, g_get_monotonic_time(),
                             add_penalty, out);
  }
  g_string_append(out, "OK\n");
}

static const char *passdb_result_name(PoplarPassdbResult r)
{
  switch (r) {
  case POPLAR_PASSDB_OK:
    return "ok";
  case POPLAR_PASSDB_DENIED:
    return "denied";
  case POPLAR_PASSDB_NO_SUCH_USER:
    return "unknown user";
  case POPLAR_PASSDB_TEMPFAIL:
    return "temporary failure";
  }
  return "invalid";
}

static void add_field(gpointer key, gpointer value, gpointer data)
{
  g_autofree char *k = g_strconcat("field:", (const char *)key, NULL);
  poplard_control_record_add(data, k, value);
}

/* What a login of @req's user would get: home, the mail location after
 * expansion, uid/gid and every other field. */
static void describe_user(PoplarServer *server, PoplarAuthRequest *req,
                          GString *rec)
{
  poplard_control_record_add(rec, "user", req->user);
  if (req->home)
    poplard_control_record_add(rec, "home", req->home);
  const char *tmpl = req->mail ? req->mail : server->cfg.mail;
  if (tmpl) {
    g_autofree char *why = NULL;
    g_autofree char *mail =
        poplard_location_expand(tmpl, req->user, req->home, &why);
    poplard_control_record_add(rec, "mail", mail ? mail : why);
  }
  const char *uid = g_hash_table_lookup(req->fields, "uid");
  const char *gid = g_hash_table_lookup(req->fields, "gid");
  if (uid)
    poplard_control_record_add(rec, "uid", uid);
  if (gid)
    poplard_control_record_add(rec, "gid", gid);
  g_hash_table_foreach(req->fields, add_field, rec);
}

/* Runs the password databases as a login from the control socket would:
 * with @password the verify chain, without it the lookup chain. */
static void answer_auth(PoplarServer *server, const char *user,
                        const char *password, GString *out)
{
  PoplarSession session = {0};
  g_strlcpy(session.id, "control", sizeof session.id);
  g_strlcpy(session.remote_address, "127.0.0.1",
            sizeof session.remote_address);
  session.trusted = true;
  session.start_time = g_get_real_time();
  PoplarAuthRequest *req =
      poplarpriv_auth_request_new(&session, password ? "PLAIN" : "LOOKUP",
                                  user);
  if (!password && !poplard_auth_can_supply_secrets(server->registry)) {
    g_string_append(out, "ERR no password database can look users up "
                         "without their password: use auth test\n");
  } else {
    PoplarPassdbResult r =
        password ? poplard_auth_verify_plain(server->registry, req, password)
                 : poplard_auth_lookup_secret(server->registry, req);
    poplarpriv_auth_request_forget_secret(req);
    if (r == POPLAR_PASSDB_NO_SUCH_USER) {
      g_string_append(out, "ERR unknown user: ");
      poplard_control_escape(out, user);
      g_string_append_c(out, '\n');
      goto done;
    }
    GString *rec = poplard_control_record_new();
    poplard_control_record_add(rec, "result", passdb_result_name(r));
    if (req->reason_text)
      poplard_control_record_add(rec, "reason", req->reason_text);
    if (r == POPLAR_PASSDB_OK)
      describe_user(server, req, rec);
    poplard_control_record_finish(out, rec);
    g_string_append(out, "OK\n");
  }
done:
  poplarpriv_auth_request_free(req);
  poplarpriv_session_clear(&session);
}

void poplard_control_worker_answer(PoplarServer *server, char **request,
                                   GString *out)
{
  const char *cmd = request[0];
  if (strcmp(cmd, "stats") == 0)
    answer_stats(out);
  else if (strcmp(cmd, "who") == 0)
    poplard_control_sessions(server, request[1], false, out);
  else if (strcmp(cmd, "kick") == 0 && request[1] && request[1][0])
    poplard_control_sessions(server, request[1], true, out);
  else if (strcmp(cmd, "kick") == 0)
    /* Never everyone: an empty name is a mistake, not a wildcard. */
    g_string_append(out, "ERR kick needs a user name or a session id\n");
  else if (strcmp(cmd, "penalty") == 0)
    answer_penalty(server, request, out);
  else if (strcmp(cmd, "auth-test") == 0 && request[1] && request[2])
    answer_auth(server, request[1], request[2], out);
  else if (strcmp(cmd, "user") == 0 && request[1])
    answer_auth(server, request[1], NULL, out);
  else
    g_string_append(out, "ERR unknown command\n");
}

static bool write_all(int fd, const char *p, size_t n)
{
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    p += w;
    n -= (size_t)w;
  }
  return true;
}

static gpointer worker_thread(gpointer data)
{
  PoplarControlWorker *w = data;
  GString *in = g_string_new(NULL);
  char buf[4096];
  for (;;) {
    char *nl;
    while (!(nl = memchr(in->str, '\n', in->len))) {
      ssize_t n = read(w->fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0 || in->len > POPLAR_CONTROL_MAX_LINE)
        goto out; /* the master is gone, or this worker stops */
      g_string_append_len(in, buf, n);
    }
    *nl = '\0';
    g_auto(GStrv) request = poplard_control_split(in->str);
    g_string_erase(in, 0, nl - in->str + 1);
    g_autoptr(GString) answer = g_string_new(NULL);
    if (!request || !request[0][0])
      g_string_append(answer, "ERR malformed request\n");
    else
      poplard_control_worker_answer(w->server, request, answer);
    if (!write_all(w->fd, answer->str, answer->len))
      break;
  }
out:
  g_string_free(in, TRUE);
  return NULL;
}

PoplarControlWorker *poplard_control_worker_start(PoplarServer *server,
                                                  int fd)
{
  PoplarControlWorker *w = g_new0(PoplarControlWorker, 1);
  w->server = server;
  w->fd = fd;
  w->thread = g_thread_new("control", worker_thread, w);
  return w;
}

void poplard_control_worker_stop(PoplarControlWorker *w)
{
  if (!w)
    return;
  /* Wakes the thread's read: it sees the end and returns. */
  shutdown(w->fd, SHUT_RDWR);
  g_thread_join(w->thread);
  close(w->fd);
  g_free(w);
}
