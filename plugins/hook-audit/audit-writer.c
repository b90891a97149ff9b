/* SPDX-License-Identifier: MIT */
/*
 * The writer: a bounded queue that hooks fill and one thread that empties
 * it into the sinks.  A hook never waits for a disk, a syslog daemon or the
 * journal; when the queue is full the event is dropped and counted, and
 * the on-error policy sees the writer as unhealthy.
 *
 * A failed sink is logged once when it fails and once when it works again
 * (with the number of events it lost), not once per event.  While a sink
 * is failed the thread probes it every second even without events, so that
 * the refuse policy lets logins in again as soon as the sink is back.
 */
#include "audit.h"

#define AUDIT_PROBE_INTERVAL_US G_USEC_PER_SEC

typedef struct SinkState {
  bool failed;
  uint64_t lost; /* events not written since it failed */
} SinkState;

struct AuditWriter {
  PoplarPlugin *plugin;
  GPtrArray *sinks;   /* AuditSink *, owned */
  SinkState *states;  /* one per sink; writer thread only (after start) */
  gint failed_sinks;  /* atomic: how many sinks are failed */
  GMutex lock;
  GCond cond;
  GQueue queue;       /* AuditEvent *, under lock */
  /* Under lock: an event taken from the queue and not yet written still
   * takes its place, so that the health check never sees room that only
   * exists because the writer is busy with the event. */
  bool writing;
  size_t capacity;
  uint64_t dropped;   /* under lock: events refused by a full queue */
  bool stopping;      /* under lock */
  GThread *thread;
};

static void sink_failed(AuditWriter *w, guint i, const char *why)
{
  AuditSink *sink = g_ptr_array_index(w->sinks, i);
  SinkState *st = &w->states[i];
  st->lost++;
  if (st->failed)
    return;
  st->failed = true;
  g_atomic_int_inc(&w->failed_sinks);
  poplar_log(w->plugin, POPLAR_LOG_ERROR,
             "audit sink %s failed: %s; audit events are being lost",
             sink->name, why);
}

static void sink_ok(AuditWriter *w, guint i)
{
  AuditSink *sink = g_ptr_array_index(w->sinks, i);
  SinkState *st = &w->states[i];
  if (!st->failed)
    return;
  st->failed = false;
  g_atomic_int_dec_and_test(&w->failed_sinks);
  poplar_log(w->plugin, POPLAR_LOG_WARNING,
             "audit sink %s works again; %" G_GUINT64_FORMAT
             " audit events were lost",
             sink->name, st->lost);
  st->lost = 0;
}

static void write_event(AuditWriter *w, AuditEvent *ev)
{
  g_autofree char *json = audit_event_json(ev);
  for (guint i = 0; i < w->sinks->len; i++) {
    AuditSink *sink = g_ptr_array_index(w->sinks, i);
    char *error = NULL;
    if (sink->ops->write(sink, ev, json, &error))
      sink_ok(w, i);
    else
      sink_failed(w, i, error ? error : "write failed");
    g_free(error);
  }
}

static void probe_failed_sinks(AuditWriter *w)
{
  for (guint i = 0; i < w->sinks->len; i++) {
    AuditSink *sink = g_ptr_array_index(w->sinks, i);
    if (!w->states[i].failed || !sink->ops->probe)
      continue;
    char *error = NULL;
    if (sink->ops->probe(sink, &error))
      sink_ok(w, i);
    g_free(error);
  }
}

static gpointer writer_thread(gpointer data)
{
  AuditWriter *w = data;
  g_mutex_lock(&w->lock);
  for (;;) {
    bool timed_out = false;
    while (g_queue_is_empty(&w->queue) && !w->stopping && !timed_out) {
      if (g_atomic_int_get(&w->failed_sinks) > 0)
        timed_out = !g_cond_wait_until(
            &w->cond, &w->lock,
            g_get_monotonic_time() + AUDIT_PROBE_INTERVAL_US);
      else
        g_cond_wait(&w->cond, &w->lock);
    }
    AuditEvent *ev = g_queue_pop_head(&w->queue);
    w->writing = ev != NULL;
    uint64_t dropped = w->dropped;
    w->dropped = 0;
    bool stop = w->stopping && !ev;
    g_mutex_unlock(&w->lock);

    if (dropped > 0)
      poplar_log(w->plugin, POPLAR_LOG_ERROR,
                 "audit queue full (%zu events): %" G_GUINT64_FORMAT
                 " audit events were lost",
                 w->capacity, dropped);
    if (ev) {
      write_event(w, ev);
      audit_event_free(ev);
    } else if (timed_out) {
      probe_failed_sinks(w);
    }
    if (stop)
      return NULL;
    g_mutex_lock(&w->lock);
    w->writing = false;
  }
}

AuditWriter *audit_writer_new(PoplarPlugin *plugin, GPtrArray *sinks,
                              size_t capacity)
{
  AuditWriter *w = g_new0(AuditWriter, 1);
  w->plugin = plugin;
  w->sinks = sinks;
  w->states = g_new0(SinkState, sinks->len);
  w->capacity = capacity;
  g_mutex_init(&w->lock);
  g_cond_init(&w->cond);
  g_queue_init(&w->queue);
  w->thread = g_thread_new("audit-writer", writer_thread, w);
  return w;
}

void audit_writer_mark_failed(AuditWriter *w, guint index, const char *why)
{
  /* Before any event reaches the thread: set under the lock so that the
   * thread sees it when it wakes. */
  g_mutex_lock(&w->lock);
  sink_failed(w, index, why);
  w->states[index].lost = 0;
  g_cond_signal(&w->cond);
  g_mutex_unlock(&w->lock);
}

bool audit_writer_submit(AuditWriter *w, AuditEvent *ev)
{
  g_mutex_lock(&w->lock);
  if (g_queue_get_length(&w->queue) >= w->capacity) {
    w->dropped++;
    g_cond_signal(&w->cond);
    g_mutex_unlock(&w->lock);
    audit_event_free(ev);
    return false;
  }
  g_queue_push_tail(&w->queue, ev);
  g_cond_signal(&w->cond);
  g_mutex_unlock(&w->lock);
  return true;
}

bool audit_writer_healthy(AuditWriter *w)
{
  if (g_atomic_int_get(&w->failed_sinks) > 0)
    return false;
  g_mutex_lock(&w->lock);
  bool room = g_queue_get_length(&w->queue) + (w->writing ? 1 : 0) <
              w->capacity;
  g_mutex_unlock(&w->lock);
  return room;
}

void audit_writer_free(AuditWriter *w)
{
  if (!w)
    return;
  g_mutex_lock(&w->lock);
  w->stopping = true;
  g_cond_signal(&w->cond);
  g_mutex_unlock(&w->lock);
  g_thread_join(w->thread);
  for (guint i = 0; i < w->sinks->len; i++) {
    AuditSink *sink = g_ptr_array_index(w->sinks, i);
    sink->ops->free(sink);
  }
  g_ptr_array_unref(w->sinks);
  g_free(w->states);
  g_queue_clear_full(&w->queue, (GDestroyNotify)audit_event_free);
  g_cond_clear(&w->cond);
  g_mutex_clear(&w->lock);
  g_free(w);
}
