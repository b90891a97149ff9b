/* SPDX-License-Identifier: MIT */
/*
 * hook-audit: one structured event per session step, written to one or
 * several sinks (a JSON Lines file, syslog, the systemd journal) by a
 * writer thread fed through a bounded queue.  Hooks only build an event
 * and queue it, so a slow or broken sink never holds up a session.
 */
#ifndef POPLAR_AUDIT_H
#define POPLAR_AUDIT_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include <poplar/plugin.h>

/* ---- events ------------------------------------------------------------ */

typedef enum AuditKind {
  AUDIT_STRING,
  AUDIT_NUMBER, /* text is a JSON number */
  AUDIT_BOOL,
  AUDIT_NULL,
  AUDIT_LIST, /* list of strings */
} AuditKind;

typedef struct AuditField {
  const char *key; /* a string literal */
  AuditKind kind;
  char *text;      /* STRING, NUMBER; "true"/"false" for BOOL */
  GPtrArray *list; /* LIST: char * items */
} AuditField;

/* Syslog severities (RFC 5424), also the journal's PRIORITY. */
enum {
  AUDIT_PRIORITY_WARNING = 4,
  AUDIT_PRIORITY_NOTICE = 5,
  AUDIT_PRIORITY_INFO = 6,
};

typedef struct AuditEvent {
  char *name;      /* "connect", "auth_result", ... */
  int priority;    /* AUDIT_PRIORITY_* */
  int64_t time_us; /* wall clock, microseconds since the epoch */
  GArray *fields;  /* AuditField, in the order added */
} AuditEvent;

/* A new event with its "ts", "event" and "session" fields. */
AuditEvent *audit_event_new(const char *name, const PoplarSession *s);
void audit_event_free(AuditEvent *ev);
/* @value NULL adds a JSON null. */
void audit_event_add_string(AuditEvent *ev, const char *key,
                            const char *value);
void audit_event_add_uint(AuditEvent *ev, const char *key, uint64_t value);
void audit_event_add_int(AuditEvent *ev, const char *key, int64_t value);
void audit_event_add_bool(AuditEvent *ev, const char *key, bool value);
/* Adds a fixed-point number with six decimals (durations in seconds). */
void audit_event_add_seconds(AuditEvent *ev, const char *key, int64_t us);
/* Takes @items (a GPtrArray of char * that frees its items). */
void audit_event_add_list(AuditEvent *ev, const char *key, GPtrArray *items);
/* One JSON object on one line, without the line end. */
char *audit_event_json(const AuditEvent *ev);
/* RFC 3339 UTC with microseconds: 2024-05-01T12:00:00.123456Z. */
void audit_format_time(int64_t time_us, char buf[32]);
/* Appends @s to @out as a JSON string (quotes included); invalid UTF-8
 * becomes U+FFFD. */
void audit_json_string(GString *out, const char *s);

/* ---- sinks ------------------------------------------------------------- */

typedef struct AuditSink AuditSink;

typedef struct AuditSinkOps {
  /* Writes one event; @json is audit_event_json() of it.  On failure
   * returns false with the reason in *@error (allocated). */
  bool (*write)(AuditSink *sink, const AuditEvent *ev, const char *json,
                char **error);
  /* Tries to get a failed sink working again without an event (reopen,
   * reconnect).  May be NULL. */
  bool (*probe)(AuditSink *sink, char **error);
  void (*free)(AuditSink *sink);
} AuditSinkOps;

struct AuditSink {
  const AuditSinkOps *ops;
  char *name; /* for log lines: "file /var/log/poplar/audit.jsonl" */
};

/* A JSON Lines file, reopened when it is renamed or removed (logrotate). */
AuditSink *audit_sink_file_new(const char *path);
/* Datagrams to a syslog socket (/dev/log) in the format of syslog(3). */
AuditSink *audit_sink_syslog_new(const char *socket_path, int facility,
                                 const char *tag);
/* The systemd journal's native protocol; every field its own journal
 * field (POPLAR_AUDIT_*). */
AuditSink *audit_sink_journal_new(const char *socket_path, int facility,
                                  const char *tag);
/* True when the sink's target exists (so that "journald" can be skipped
 * on a host without a journal). */
bool audit_journal_available(const char *socket_path);

/* ---- the writer -------------------------------------------------------- */

typedef struct AuditWriter AuditWriter;

/* Starts the writer thread.  Takes the sinks. */
AuditWriter *audit_writer_new(PoplarPlugin *plugin, GPtrArray *sinks,
                              size_t capacity);
/* Queues @ev (taken).  Returns false when the queue is full: the event is
 * dropped and counted. */
bool audit_writer_submit(AuditWriter *w, AuditEvent *ev);
/* True when every sink wrote its last event and the queue has room. */
bool audit_writer_healthy(AuditWriter *w);
/* Marks sink @index failed before any event (it could not be opened at
 * start-up), so that the refuse policy applies at once. */
void audit_writer_mark_failed(AuditWriter *w, guint index, const char *why);
/* Writes what is queued, stops the thread and frees everything. */
void audit_writer_free(AuditWriter *w);

#endif
