/* SPDX-License-Identifier: MIT */
/*
 * poplar-bench: a POP3 load generator.  Worker threads each run an epoll
 * loop over non-blocking connections (plain or implicit TLS through
 * GnuTLS); a scenario decides which commands a connection sends and what
 * to do when a session ends.  It talks to any POP3 server.
 */
#ifndef POPLAR_BENCH_H
#define POPLAR_BENCH_H

#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

/* ---- users ---------------------------------------------------------------- */

typedef struct BenchUser {
  char *name;
  char *password;
} BenchUser;

typedef struct BenchUsers {
  BenchUser *list;
  size_t count;
} BenchUsers;

/* Reads "user:password" (or "user password") lines; '#' starts a comment. */
bool bench_users_load(BenchUsers *users, const char *path, char **error);
/* PREFIX<start> .. PREFIX<start+count-1>, all with @password. */
bool bench_users_make(BenchUsers *users, const char *prefix, size_t start,
                      size_t count, const char *password, char **error);
void bench_users_free(BenchUsers *users);

/* ---- options -------------------------------------------------------------- */

typedef enum BenchScenarioKind {
  BENCH_RATE,      /* connect, USER/PASS, STAT, QUIT in a loop */
  BENCH_HANDSHAKE, /* connect, (TLS), greeting, close: the bare ceiling */
  BENCH_LIST,      /* login, UIDL, LIST, QUIT, N times one after another */
  BENCH_RETR,      /* login, RETR every message */
  BENCH_HOLD,      /* K authenticated sessions held, then served */
} BenchScenarioKind;

typedef struct BenchOptions {
  BenchScenarioKind scenario;
  const char *scenario_name;
  const char *label;      /* free text copied into the results */
  const char *single_user; /* --user */
  const char *host;
  const char *port;
  struct sockaddr_storage addr;
  socklen_t addr_len;
  BenchUsers users;
  unsigned threads;
  unsigned concurrency;   /* rate: clients at once; hold: logins at once */
  double duration_s;      /* rate */
  double warmup_s;        /* rate: sessions ending before this are not counted */
  uint64_t sessions;      /* rate: stop after this many (0: time bound) */
  unsigned repeat;        /* list: sessions one after another */
  unsigned count;         /* hold: sessions to hold */
  double hold_s;          /* hold: seconds to keep them before measuring */
  unsigned pipeline;      /* retr: RETR commands in flight */
  double timeout_s;       /* per session: anything slower is an error */
  bool tls;
  bool resume;            /* TLS: resume each slot's previous session */
  const char *priority;
  const char *ca_file;    /* verify the server against it, if given */
  const char *json_path;  /* append one JSON object per result */
  pid_t *server_pids;     /* memory of these and their descendants */
  size_t n_server_pids;
  const char **server_comms; /* ... and of processes with these names */
  size_t n_server_comms;
  bool quiet;
} BenchOptions;

/* ---- time ----------------------------------------------------------------- */

uint64_t bench_now_ns(void);

/* ---- TLS ------------------------------------------------------------------ */

typedef struct BenchTls {
  gnutls_certificate_credentials_t creds;
  gnutls_priority_t priority;
  bool verify;
} BenchTls;

bool bench_tls_init(BenchTls *tls, const BenchOptions *opt, char **error);
void bench_tls_free(BenchTls *tls);

/* ---- connections ---------------------------------------------------------- */

typedef enum BenchReplyKind {
  BENCH_REPLY_LINE,  /* one status line */
  BENCH_REPLY_MULTI, /* status line, and a body ending in CRLF.CRLF on +OK */
} BenchReplyKind;

typedef enum BenchConnState {
  BENCH_CONN_IDLE,       /* slot not in use */
  BENCH_CONN_CONNECTING,
  BENCH_CONN_HANDSHAKE,
  BENCH_CONN_OPEN,
} BenchConnState;

#define BENCH_PENDING_MAX 64
#define BENCH_STATUS_MAX 512
#define BENCH_OUT_MAX 1024

typedef struct BenchWorker BenchWorker;

typedef struct BenchConn {
  BenchWorker *worker;
  unsigned slot;          /* index in the worker's slot array */
  const BenchUser *user;
  int fd;
  unsigned generation;    /* one more for every session the slot starts */
  BenchConnState state;
  gnutls_session_t tls;
  gnutls_datum_t resume_data; /* from the slot's previous TLS session */
  bool resumed;
  bool would_block;       /* the socket said EAGAIN since the last check */

  /* reply parser */
  BenchReplyKind pending[BENCH_PENDING_MAX];
  unsigned pending_head, pending_count;
  bool in_body;
  bool line_start;       /* body: at the start of a line */
  unsigned term_match;   /* body: octets of ".\r\n" matched at line start */
  uint64_t body_bytes;
  char status[BENCH_STATUS_MAX];
  size_t status_len;

  /* output not yet taken by the socket */
  char out[BENCH_OUT_MAX];
  size_t out_len, out_off;

  uint64_t t_start;      /* connect() */
  uint64_t t_mark;       /* scenario's own timestamp */
  uint64_t deadline;
  unsigned step;         /* scenario's position in its script */
  unsigned next_msg;     /* retr: next message to request */
  unsigned done_msgs;    /* retr: messages received */
  unsigned msg_count;    /* retr: from STAT */
  bool greeted;          /* the greeting was read */
} BenchConn;

/* Starts a session in @c's slot (connect, then the scenario takes over). */
bool bench_conn_start(BenchConn *c);
/* Queues @cmd (without CRLF) expecting a reply of @kind. */
void bench_conn_send(BenchConn *c, BenchReplyKind kind, const char *cmd);
/* Makes whatever progress the socket allows; called on every event. */
void bench_conn_drive(BenchConn *c);
/* Ends the session: @ok false counts it as an error with @why. */
void bench_conn_finish(BenchConn *c, bool ok, const char *why);
bool bench_conn_busy(const BenchConn *c);

/* ---- scenarios ------------------------------------------------------------ */

typedef struct BenchScenario {
  /* The slot is free: start a session in it if the scenario wants one. */
  void (*on_slot)(BenchConn *c);
  /* The greeting arrived (after TLS, if any). */
  void (*on_greeting)(BenchConn *c);
  /* A reply arrived; @ok is true for +OK.  The scenario queues the next
   * command, or finishes the session. */
  void (*on_reply)(BenchConn *c, bool ok, const char *status,
                   uint64_t body_bytes);
  /* The session ended (closed); @ok false when it failed. */
  void (*on_end)(BenchConn *c, bool ok);
  /* What a worker thread does; NULL: offer every slot once, then run
   * until no session is left. */
  void (*worker_body)(BenchWorker *w);
} BenchScenario;

/* ---- workers -------------------------------------------------------------- */

/* Latencies of completed sessions, in nanoseconds. */
typedef struct BenchSamples {
  uint64_t *v;
  size_t len, cap;
} BenchSamples;

void bench_samples_add(BenchSamples *s, uint64_t v);
void bench_samples_merge(BenchSamples *into, const BenchSamples *from);
void bench_samples_sort(BenchSamples *s);
/* @q in [0, 1] of sorted samples; 0 when empty. */
uint64_t bench_samples_quantile(const BenchSamples *s, double q);
void bench_samples_free(BenchSamples *s);

typedef struct BenchRun BenchRun;

struct BenchWorker {
  BenchRun *run;
  unsigned index;
  pthread_t thread;
  int epfd;
  BenchConn *slots;
  unsigned n_slots;
  unsigned first_slot;   /* global index of slots[0] */
  char *rbuf;            /* scratch for reads, shared by the worker's conns */
  size_t rbuf_size;

  /* results, read by the main thread after the run */
  BenchSamples latency;  /* rate, handshake */
  uint64_t completed;
  uint64_t errors;
  uint64_t resumed;
  uint64_t tls_sessions;
  uint64_t bytes;        /* retr: body octets */
  char first_error[256];

  /* hold scenario: counters the phases move */
  unsigned parked;
  unsigned failed;
  unsigned answered;
  unsigned closed;
  unsigned started;
  unsigned next_slot;    /* hold: the next slot to log in */
};

struct BenchRun {
  const BenchOptions *opt;
  const BenchScenario *scenario;
  BenchTls tls;
  BenchWorker *workers;
  unsigned n_workers;
  unsigned n_started;

  uint64_t t_begin;          /* rate: when the clock started */
  uint64_t t_count_from;     /* rate: begin + warm-up */
  uint64_t t_end;            /* rate: no session starts after this */
  uint64_t sessions_started; /* atomic: rate with a session limit */
  volatile int stop;         /* every worker stops at once */

  /* hold: the main thread moves every worker through the phases */
  pthread_barrier_t barrier;
  volatile int phase;
};

/* Starts the worker threads, @total_slots connection slots shared out
 * among them; false (with the threads started so far still running) when
 * one could not be set up. */
bool bench_run_start(BenchRun *run, unsigned total_slots, char **error);
/* Waits for every started worker. */
void bench_run_join(BenchRun *run);
/* Start and join. */
bool bench_run_workers(BenchRun *run, unsigned total_slots, char **error);
/* Frees the workers and the TLS credentials. */
void bench_run_free(BenchRun *run);
/* Counts a failed session and keeps the first reason. */
void bench_worker_note_error(BenchWorker *w, const char *why);
/* Runs the worker's epoll loop until @done says so (checked after every
 * batch of events) or the run is stopped; sessions past their deadline
 * fail with a timeout. */
void bench_worker_loop(BenchWorker *w, bool (*done)(BenchWorker *w));
/* True when none of the worker's slots holds a session. */
bool bench_worker_all_idle(BenchWorker *w);

/* ---- scenarios' entry points ---------------------------------------------- */

int bench_scenario_rate(const BenchOptions *opt);
int bench_scenario_list(const BenchOptions *opt);
int bench_scenario_retr(const BenchOptions *opt);
int bench_scenario_hold(const BenchOptions *opt);

extern const BenchScenario bench_rate_scenario;
extern const BenchScenario bench_handshake_scenario;

/* ---- results -------------------------------------------------------------- */

/* A result is one JSON object, written as one line to the JSON file and
 * as "key: value" lines to standard output. */
typedef struct BenchJson {
  char *buf;
  size_t len, cap;
  bool first;
  FILE *human;
} BenchJson;

void bench_json_begin(BenchJson *j, const BenchOptions *opt);
void bench_json_str(BenchJson *j, const char *key, const char *value);
void bench_json_num(BenchJson *j, const char *key, double value,
                    const char *unit);
void bench_json_int(BenchJson *j, const char *key, uint64_t value);
/* Writes the object; false when the JSON file cannot be written. */
bool bench_json_end(BenchJson *j, const BenchOptions *opt);

/* ---- server memory -------------------------------------------------------- */

/* PSS in KiB summed over the server's processes (the pids and their
 * descendants, and processes named as given); @nprocs gets their number. */
bool bench_server_pss_kib(const BenchOptions *opt, uint64_t *kib,
                          unsigned *nprocs, char **error);

char *bench_strdup_printf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

#endif /* POPLAR_BENCH_H */
