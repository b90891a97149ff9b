/* SPDX-License-Identifier: MIT */
/*
 * auth-checkpassword internals, shared by the plugin's files and its tests.
 *
 *   checkpw-settings.c  the [auth-checkpassword] section
 *   checkpw-slots.c     the bound on programs running at once
 *   checkpw-spawn.c     starting the program: descriptors 0-4, the
 *                       environment, its own process group
 *   checkpw-run.c       one run: credentials out on descriptor 3, the reply
 *                       in on descriptor 4, the deadline, the exit status
 *   checkpw-reply.c     the reply's format (Dovecot's checkpassword-reply)
 *   checkpw-plugin.c    what a run means for the login, the log lines,
 *                       registration
 *   checkpassword-reply.c  the reply program itself (a separate executable)
 */
#ifndef POPLAR_AUTH_CHECKPASSWORD_H
#define POPLAR_AUTH_CHECKPASSWORD_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <poplar/plugin.h>

G_BEGIN_DECLS

/* The checkpassword interface (cr.yp.to/checkpwd/interface.html): user,
 * password and timestamp, each ended by NUL, "at most 512 bytes". */
#define CHECKPW_REQUEST_MAX 512
/* The reply of Dovecot's checkpassword-reply is a few hundred octets; a
 * reply this long is something else writing to descriptor 4. */
#define CHECKPW_REPLY_MAX (16 * 1024)
/* What the program writes on stdout and stderr is read to the end (so it
 * never blocks on a full pipe) but only this much is kept for the log. */
#define CHECKPW_DIAG_KEEP 1024
/* Text from the program or a client is cut to this in log lines. */
#define CHECKPW_LOG_TEXT_MAX 200
/* Descriptors the program finds open, as qmail and Dovecot set them up. */
#define CHECKPW_CREDENTIALS_FD 3
#define CHECKPW_REPLY_FD 4

#define CHECKPW_DEFAULT_TIMEOUT_MS 5000
#define CHECKPW_DEFAULT_MAX_PROCESSES 16

/* ---- settings (checkpw-settings.c) ------------------------------------ */

typedef struct CheckpwSlots CheckpwSlots;

typedef struct CheckpwSettings {
  PoplarPlugin *plugin;
  char *program;          /* absolute path */
  char **args;            /* the program's own arguments (may be empty) */
  char *reply_program;    /* absolute path, handed on as the last argument */
  uint64_t timeout_ms;    /* per run, from the program's start */
  unsigned max_processes;
  CheckpwSlots *slots;
} CheckpwSettings;

/* Reads every key of the section, recording each mistake on @config.
 * Returns NULL when one was found. */
CheckpwSettings *checkpw_settings_read(PoplarPlugin *plugin,
                                       PoplarConfig *config);
void checkpw_settings_free(CheckpwSettings *s);

/* ---- the process bound (checkpw-slots.c) ------------------------------ */

CheckpwSlots *checkpw_slots_new(unsigned max);
void checkpw_slots_free(CheckpwSlots *slots);
/* Takes a slot, waiting until @deadline_us (g_get_monotonic_time());
 * false when none came free by then. */
bool checkpw_slots_acquire(CheckpwSlots *slots, int64_t deadline_us);
void checkpw_slots_release(CheckpwSlots *slots);
/* How long a login waits for a slot: half the timeout. */
uint64_t checkpw_slot_wait_ms(const CheckpwSettings *s);

/* ---- starting the program (checkpw-spawn.c) --------------------------- */

typedef struct CheckpwChild {
  pid_t pid;              /* also its process group */
  int credentials_fd;     /* ours: write the request, then close */
  int reply_fd;           /* ours: the reply program's output */
  int diag_fd;            /* ours: the program's stdout and stderr */
} CheckpwChild;

/* What the program learns besides the credentials, as environment
 * variables (never the password). */
typedef struct CheckpwContext {
  const char *user;
  const char *mechanism;
  const char *session_id;
  const char *local_address;
  unsigned local_port;
  const char *remote_address;
  unsigned remote_port;
} CheckpwContext;

/* The environment the program gets: a short fixed list, nothing of the
 * server's own but PATH.  Free with g_strfreev. */
char **checkpw_child_environment(const CheckpwContext *ctx);

/* Starts the program with descriptor 3 (credentials) and 4 (reply), stdin
 * from /dev/null, stdout and stderr to a pipe of ours, every other
 * descriptor closed, signals at their defaults, in a process group of its
 * own.  On failure returns false with errno set (ENOENT, EACCES... from
 * the exec) and *@error a description (g_free). */
bool checkpw_spawn(const CheckpwSettings *s, char **envp, CheckpwChild *out,
                   char **error);
void checkpw_child_close(CheckpwChild *c);

/* ---- one run (checkpw-run.c) ------------------------------------------ */

typedef enum CheckpwEnd {
  CHECKPW_END_EXITED,     /* exit_status is valid */
  CHECKPW_END_SIGNALED,   /* signal is valid */
  CHECKPW_END_TIMEOUT,    /* killed at the deadline */
  CHECKPW_END_REPLY_TOO_LONG, /* killed: more than CHECKPW_REPLY_MAX */
  CHECKPW_END_SPAWN_FAILED,   /* never ran: error, spawn_errno */
  CHECKPW_END_BUSY,       /* never ran: no slot before the deadline */
  CHECKPW_END_IO_ERROR,   /* our side of a descriptor failed: error */
} CheckpwEnd;

typedef struct CheckpwRun {
  CheckpwEnd end;
  int exit_status;
  int signal;
  int spawn_errno;
  GString *reply;         /* what came on descriptor 4 */
  GString *diag;          /* the first CHECKPW_DIAG_KEEP octets of output */
  bool diag_cut;          /* there was more */
  char *error;            /* for SPAWN_FAILED and IO_ERROR */
} CheckpwRun;

/* Runs the program once for @ctx->user and @password: waits for a slot
 * (checkpw_slot_wait_ms()), then gives the program the settings' timeout.
 * Blocks. */
void checkpw_run(const CheckpwSettings *s, const CheckpwContext *ctx,
                 const char *password, CheckpwRun *out);
void checkpw_run_clear(CheckpwRun *r);

/* The request written to descriptor 3: "user\0password\0timestamp\0".
 * Returns false when it would exceed CHECKPW_REQUEST_MAX. */
bool checkpw_request_build(const char *user, const char *password,
                           GByteArray *out);

/* ---- the reply (checkpw-reply.c) -------------------------------------- */

typedef struct CheckpwField {
  char *key;              /* lower case, "userdb_" taken off */
  char *value;
} CheckpwField;

typedef struct CheckpwReply {
  GPtrArray *fields;      /* of CheckpwField, in reply order */
} CheckpwReply;

/* Parses a reply in the format of Dovecot's checkpassword-reply: fields
 * "key=value" separated by TAB, with TAB, CR, LF and \001 escaped as
 * \001t, \001r, \001n, \001 1.  Keys lose a "userdb_" prefix.  Refuses
 * NUL, LF, control characters in keys or values, keys that are not
 * [a-z0-9_.-], items without '=', and more than CHECKPW_REPLY_MAX octets,
 * with *@error saying which (g_free). */
bool checkpw_reply_parse(const char *data, size_t len, CheckpwReply *out,
                         char **error);
void checkpw_reply_clear(CheckpwReply *r);

/* A string from the program or a client, fit for one log line: control
 * characters escaped, cut to @max octets.  Free with g_free. */
char *checkpw_loggable(const char *text, size_t len, size_t max);

G_END_DECLS

#endif /* POPLAR_AUTH_CHECKPASSWORD_H */
