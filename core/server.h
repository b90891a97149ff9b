/* SPDX-License-Identifier: MIT */
/* The running server: configuration, plugins, loops, plugin thread pool. */
#ifndef POPLAR_SERVER_H
#define POPLAR_SERVER_H

#include <stdbool.h>

#include "auth-throttle.h"
#include "conn-limits.h"
#include "event-loop.h"
#include "memory-trim.h"
#include "plugin-pool.h"
#include "poplar-private.h"
#include "server-config.h"
#include "tls.h"

typedef struct PoplarListener PoplarListener;
typedef struct PoplarClient PoplarClient;

/* The clients of one loop, touched only by that loop's thread. */
typedef struct PoplarLoopClients {
  PoplarClient *head;
  struct PoplarRelay *relays; /* sessions handed to a user process */
  struct PoplarBackendRelay *backend_relays; /* proxied to a backend */
} PoplarLoopClients;

typedef struct PoplarServer {
  PoplarServerConfig cfg;
  PoplarConfigFile *config_file;
  PoplarRegistry *registry;
  GPtrArray *listeners; /* PoplarListener* */
  PoplarLoop **loops;
  PoplarLoopClients *loop_clients; /* one per loop */
  GThread **threads;
  unsigned n_loops;
  PoplarPool *pool; /* plugin calls */
  PoplarConnLimits *limits;
  PoplarThrottle *throttle; /* growing delays after failed logins */
  bool apop; /* some passdb can supply secrets */
  GMutex tls_lock;
  PoplarTls *tls; /* NULL without [tls] certificates */
  char session_prefix[8];
  unsigned session_counter; /* atomic */
  gint live_sessions;       /* atomic */
  volatile gint stopping;   /* atomic */
  /* The worker's end of its channel to the master, for sessions that go
   * to the process of their user's uid; -1 when the master cannot start
   * such processes (not root) or in a user process itself. */
  int broker_fd;
  PoplarMemoryTrim *memory_trim; /* on loops[0] */
  /* Proxy mode: the CAs that backends' certificates are checked against,
   * loaded at the first TLS login to a backend (backend-proxy.c). */
  GMutex backend_lock;
  gnutls_certificate_credentials_t backend_cred;
} PoplarServer;

/* Parses the config and loads and initialises the plugins.  In @check_only
 * mode nothing is bound and privileges stay.  Every problem goes to
 * server->config_file->errors.  Returns false on any problem. */
bool poplard_server_setup(PoplarServer *server, const char *config_path,
                         const char *plugin_dir, bool check_only);
/* Binds the listeners, taking over @inherited_fds (systemd socket
 * activation, or the previous master image after a reload) where they
 * match a configured address, and loads the TLS certificates.  Runs in
 * the master, as root. */
bool poplard_server_bind(PoplarServer *server, const int *inherited_fds,
                        unsigned n_inherited, GString *error);
/* Drops privileges, runs the plugins' init and starts the loop threads
 * and the plugin pool.  Runs in a worker. */
bool poplard_server_run(PoplarServer *server, GString *error);
/* poplard_server_run() in two steps, for a worker that must report
 * itself ready before any session can run (a session that crashes it
 * must find it started, so that it is restarted):
 * poplard_server_prepare() does all that can fail, and
 * poplard_server_start_loops() starts the threads that accept. */
bool poplard_server_prepare(PoplarServer *server, GString *error);
void poplard_server_start_loops(PoplarServer *server);
/* The part of poplard_server_run() after the privilege drop, for a
 * process that has dropped them its own way (a user process). */
bool poplard_server_serve(PoplarServer *server, GString *error);
/* Both, in this process (tests). */
bool poplard_server_start(PoplarServer *server, GString *error);
/* Stops accepting, lets live sessions finish for up to @grace_ms, then
 * ends the rest (nothing is deleted: no UPDATE) and joins the threads. */
void poplard_server_stop(PoplarServer *server, uint64_t grace_ms);
void poplard_server_free(PoplarServer *server);

/* A reference to the current TLS credentials, or NULL without TLS. */
PoplarTls *poplard_server_tls(PoplarServer *server);
/* Loads the certificates again for new sessions (SIGHUP); live sessions
 * keep theirs.  On failure the old ones stay and *@error says why. */
bool poplard_server_reload_tls(PoplarServer *server, char **error);

/* Next session id, unique for this process's lifetime. */
void poplard_server_next_session_id(PoplarServer *server, char *out,
                                   size_t size);

#endif
