/* SPDX-License-Identifier: MIT */
#include "control-sessions.h"

#include "client.h"
#include "control-protocol.h"
#include <string.h>
#include <unistd.h>

/* A loop that does not answer in this time is reported, not waited for. */
#define LOOP_ANSWER_TIMEOUT_US (3 * G_USEC_PER_SEC)

/* A kicked session is gone once its teardown (which unlocks the
 * mailbox) has finished; this long at most. */
#define KICK_TEARDOWN_TIMEOUT_US (10 * G_USEC_PER_SEC)

typedef enum GatherMode {
  GATHER_WHO,
  GATHER_KICK,
  GATHER_COUNT_IDS, /* how many of @ids are still there, closing or not */
} GatherMode;

typedef struct Gather {
  GMutex lock;
  GCond done;
  unsigned pending; /* loops that have not answered */
  GatherMode mode;
  char *match;
  GHashTable *ids; /* session ids kicked, or being waited for */
  unsigned count;
  GString *records;
} Gather;

static void gather_clear(gpointer data)
{
  Gather *g = data;
  g_mutex_clear(&g->lock);
  g_cond_clear(&g->done);
  g_free(g->match);
  g_hash_table_unref(g->ids);
  g_string_free(g->records, TRUE);
}

typedef struct LoopPart {
  Gather *gather; /* a reference */
  PoplarServer *server;
  unsigned loop_index;
} LoopPart;

static const char *state_name(PoplarPop3State s)
{
  switch (s) {
  case POPLAR_STATE_CONNECT:
    return "connect";
  case POPLAR_STATE_AUTHORIZATION:
    return "authorization";
  case POPLAR_STATE_TRANSACTION:
    return "transaction";
  case POPLAR_STATE_UPDATE:
    return "update";
  case POPLAR_STATE_LOGOUT:
    return "logout";
  }
  return "unknown";
}

/* The user of a session, or NULL.  A login job writes session.user on the
 * pool; once the session is in TRANSACTION no job changes it, so the loop
 * may read it while a later job (a RETR) runs. */
static const char *session_user(const PoplarClient *c)
{
  if (c->state == POPLAR_STATE_TRANSACTION || c->state == POPLAR_STATE_UPDATE)
    return c->session.user;
  if (!c->job.pending)
    return c->session.user;
  return NULL;
}

static void describe(const PoplarClient *c, GString *out)
{
  const PoplarSession *s = &c->session;
  GString *rec = poplard_control_record_new();
  const char *user = session_user(c);
  poplard_control_record_add(rec, "id", s->id);
  poplard_control_record_add(rec, "user", user ? user : "");
  poplard_control_record_add(rec, "remote", s->remote_address);
  poplard_control_record_addf(rec, "port", "%u", s->remote_port);
  poplard_control_record_add(rec, "listener", c->conn.listener);
  poplard_control_record_add(rec, "tls", s->tls ? "yes" : "no");
  poplard_control_record_add(rec, "state", state_name(c->state));
  poplard_control_record_addf(rec, "since", "%" G_GINT64_FORMAT,
                              s->start_time / G_USEC_PER_SEC);
  poplard_control_record_addf(rec, "in", "%" G_GUINT64_FORMAT, s->bytes_in);
  poplard_control_record_addf(rec, "out", "%" G_GUINT64_FORMAT, s->bytes_out);
  poplard_control_record_addf(rec, "pid", "%d", (int)getpid());
  poplard_control_record_finish(out, rec);
}

static bool matches(const PoplarClient *c, const char *match)
{
  if (!match)
    return true;
  const char *user = session_user(c);
  return strcmp(c->session.id, match) == 0 ||
         (user && strcmp(user, match) == 0);
}

/* On the loop thread of @data's loop. */
static void loop_part(void *data)
{
  LoopPart *part = data;
  Gather *g = part->gather;
  PoplarLoopClients *list = &part->server->loop_clients[part->loop_index];
  GString *records = g_string_new(NULL);
  GPtrArray *kicked = g_ptr_array_new();
  unsigned count = 0;
  PoplarClient *next;
  for (PoplarClient *c = list->head; c; c = next) {
    next = c->next;
    if (g->mode == GATHER_COUNT_IDS) {
      count += g_hash_table_contains(g->ids, c->session.id);
      continue;
    }
    if (c->closing || !matches(c, g->match))
      continue;
    describe(c, records);
    if (g->mode == GATHER_KICK) {
      poplarpriv_log(c->session.id, POPLAR_LOG_INFO,
                     "ended by poplarctl kick (nothing marked is deleted)");
      g_ptr_array_add(kicked, g_strdup(c->session.id));
      poplard_client_close(c, POPLAR_DISCONNECT_SHUTDOWN);
    }
  }
  g_mutex_lock(&g->lock);
  g->count += count;
  for (guint i = 0; i < kicked->len; i++)
    g_hash_table_add(g->ids, kicked->pdata[i]);
  g_ptr_array_free(kicked, TRUE);
  g_string_append_len(g->records, records->str, (gssize)records->len);
  g->pending--;
  g_cond_signal(&g->done);
  g_mutex_unlock(&g->lock);
  g_string_free(records, TRUE);
  g_atomic_rc_box_release_full(g, gather_clear);
  g_free(part);
}

/* Runs @mode on every loop and waits for their parts.  Returns @g (a
 * reference for the caller), or NULL when a loop did not answer. */
static Gather *gather(PoplarServer *server, GatherMode mode,
                      const char *match, GHashTable *ids)
{
  Gather *g = g_atomic_rc_box_new0(Gather);
  g_mutex_init(&g->lock);
  g_cond_init(&g->done);
  g->mode = mode;
  g->match = g_strdup(match && *match ? match : NULL);
  g->ids = ids ? g_hash_table_ref(ids)
               : g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                       NULL);
  g->records = g_string_new(NULL);
  g->pending = server->n_loops;
  for (unsigned i = 0; i < server->n_loops; i++) {
    LoopPart *part = g_new0(LoopPart, 1);
    part->gather = g_atomic_rc_box_acquire(g);
    part->server = server;
    part->loop_index = i;
    poplard_loop_invoke(server->loops[i], loop_part, part);
  }
  int64_t deadline = g_get_monotonic_time() + LOOP_ANSWER_TIMEOUT_US;
  g_mutex_lock(&g->lock);
  while (g->pending > 0 && g_cond_wait_until(&g->done, &g->lock, deadline))
    ;
  bool complete = g->pending == 0;
  g_mutex_unlock(&g->lock);
  if (complete)
    return g;
  g_atomic_rc_box_release_full(g, gather_clear);
  return NULL;
}

/* Waits until the sessions of @ids are freed: their teardown has run, so
 * their mailboxes are unlocked.  False when that took too long. */
static bool wait_torn_down(PoplarServer *server, GHashTable *ids)
{
  int64_t deadline = g_get_monotonic_time() + KICK_TEARDOWN_TIMEOUT_US;
  while (g_get_monotonic_time() < deadline) {
    Gather *g = gather(server, GATHER_COUNT_IDS, NULL, ids);
    if (!g)
      return false;
    unsigned left = g->count;
    g_atomic_rc_box_release_full(g, gather_clear);
    if (left == 0)
      return true;
    g_usleep(10 * 1000);
  }
  return false;
}

void poplard_control_sessions(PoplarServer *server, const char *match,
                              bool kick, GString *out)
{
  if (!server->loops) {
    g_string_append(out, "OK\n");
    return;
  }
  Gather *g = gather(server, kick ? GATHER_KICK : GATHER_WHO, match, NULL);
  if (!g) {
    g_string_append(out, "ERR a loop thread of this worker did not answer "
                         "in time\n");
    return;
  }
  /* Loop parts are done with the table: no lock needed any more. */
  g_string_append_len(out, g->records->str, (gssize)g->records->len);
  bool gone = !kick || wait_torn_down(server, g->ids);
  g_atomic_rc_box_release_full(g, gather_clear);
  if (gone)
    g_string_append(out, "OK\n");
  else
    g_string_append(out, "ERR the sessions were closed, but their mailboxes "
                         "are not released yet (a plugin call is slow)\n");
}
