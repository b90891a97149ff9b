/* SPDX-License-Identifier: MIT */
/* The [server] and [plugins] sections of poplar.conf. */
#ifndef POPLAR_SERVER_CONFIG_H
#define POPLAR_SERVER_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "netlist.h"
#include "tls.h"
#include "poplar-private.h"

#define POPLAR_EXPIRE_UNSET (-2)
#define POPLAR_EXPIRE_NEVER (-1)

typedef struct PoplarServerConfig {
  char **listen;        /* "host:port", plain (STLS when TLS is set up) */
  char **listen_tls;    /* "host:port", implicit TLS (RFC 8314) */
  PoplarTlsConfig tls;  /* [tls]; no certificates: no TLS at all */
  char *plugin_dir;
  char **load;          /* plugin names or paths, in order */
  char *mail;           /* default mail location template, or NULL */
  char *user;           /* drop to this user after preinit, when root */
  char *group;
  char *hostname;       /* in the greeting's APOP timestamp */
  char *greeting;
  char *implementation; /* CAPA IMPLEMENTATION, empty to omit */
  uint64_t idle_timeout_ms;
  uint64_t auth_failure_delay_ms;     /* first failure's delay */
  uint64_t auth_failure_delay_max_ms; /* ceiling of the growing delay */
  uint64_t auth_failure_window_ms;    /* how long failures count */
  unsigned max_connections;
  unsigned max_connections_per_ip;
  unsigned threads;        /* loop threads per worker */
  unsigned workers;        /* worker processes */
  uint64_t shutdown_timeout_ms; /* grace for live sessions at stop/reload */
  bool allow_root;         /* sessions may run as root */
  unsigned first_valid_uid; /* lowest uid a session may be served as */
  uint64_t user_process_idle_ms; /* a user process without sessions ends */
  char *mail_privileged_group;   /* user processes get it too (dotlocks) */
  uint32_t mail_privileged_gid;  /* resolved; 0 when unset */
  unsigned plugin_threads; /* plugin call pool */
  long long login_delay;   /* seconds, -1 when not advertised */
  long long expire;        /* days, POPLAR_EXPIRE_UNSET/NEVER */
  PoplarDeleteMode delete_mode; /* [server] delete */
  char *trash_folder;      /* for POPLAR_DELETE_TRASH, e.g. ".Trash" */
  PoplarLogLevel log_level;
  PoplarNetList *trusted;
  bool proxy_protocol;            /* every connection starts with a header */
  PoplarNetList *trusted_proxies; /* who may send one */
  /* [control] and [metrics]: operations, in the master. */
  char *control_socket; /* empty: no control socket */
  char *control_group;  /* may use it besides root */
  char *metrics_listen; /* "host:port", or NULL: no metrics endpoint */
  /* Proxy mode and master users (backend-proxy.h, master-login.h). */
  char *proxy_ca_file;       /* [proxy] ca-file; NULL: the system's CAs */
  uint64_t proxy_timeout_ms; /* [proxy] timeout, each backend login step */
  char *master_passdb;       /* [server] master-passdb: a plugin name */
} PoplarServerConfig;

/* Reads [server] and [plugins] from @file; problems are added to
 * file->errors.  @plugin_dir_override (from the command line) wins over
 * the file.  Returns false when any problem was found. */
bool poplard_server_config_read(PoplarServerConfig *cfg, PoplarConfigFile *file,
                               const char *plugin_dir_override);
void poplard_server_config_clear(PoplarServerConfig *cfg);

#endif
