/* SPDX-License-Identifier: MIT */
/*
 * What a shared worker tells the process of a user's own uid when it hands
 * a logged-in session over: who logged in, from where, the fields the
 * password database gave, and the octets already read or not yet sent.
 * It travels worker -> master -> user process as one datagram on a
 * SOCK_SEQPACKET socket, with the connection's descriptors attached
 * (SCM_RIGHTS).  The master reads it too, to pick the process by uid.
 */
#ifndef POPLAR_HANDOFF_H
#define POPLAR_HANDOFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <glib.h>

/* The most a hand-off may carry of unsent output and unread input; a
 * session with more queued than this is not moved (it has pipelined far
 * beyond what a client sends before its login is answered). */
#define POPLAR_HANDOFF_DATA_MAX (32 * 1024)
/* Descriptors that travel with one hand-off: the connection (the client's
 * socket, or the worker's end of the TLS relay) and the lifeline. */
#define POPLAR_HANDOFF_FDS 2

typedef struct PoplarHandoff {
  uint32_t uid;
  uint32_t gid;
  bool tls; /* the client speaks TLS to the worker, which relays */
  bool trusted;
  char *session_id;
  char *remote_address;
  uint32_t remote_port;
  char *local_address;
  uint32_t local_port;
  int64_t start_time; /* real time, microseconds */
  uint64_t bytes_in;
  uint64_t bytes_out;
  char *tls_version; /* NULL without TLS */
  char *tls_cipher;
  char *user;
  char *mechanism;
  char *home; /* NULL when the database gave none */
  char *mail;
  GHashTable *fields; /* char* -> char*, owned */
  GBytes *input;      /* read from the client, not yet processed */
  GBytes *output;     /* replies queued, not yet sent */
} PoplarHandoff;

PoplarHandoff *poplard_handoff_new(void);
void poplard_handoff_free(PoplarHandoff *h);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PoplarHandoff, poplard_handoff_free)

/* Sends @h with @fds (@n_fds of them, at most POPLAR_HANDOFF_FDS) on the
 * SOCK_SEQPACKET socket @sock, without blocking.  Returns false with
 * *@error when it could not be sent whole. */
bool poplard_handoff_send(int sock, const PoplarHandoff *h, const int *fds,
                          unsigned n_fds, char **error);

/* Receives one hand-off from @sock into *@out, with its descriptors in
 * @fds (unused ones -1; the caller owns them).  Returns 1 on success, 0 at
 * end of file, -1 on a malformed message or an error (*@error set; any
 * descriptors that came with it are closed) and -2 when nothing is there
 * yet (EAGAIN). */
int poplard_handoff_recv(int sock, PoplarHandoff **out,
                         int fds[POPLAR_HANDOFF_FDS], char **error);

/* Relays one datagram and its descriptors from @from to @to unchanged,
 * after reading its uid and gid into *@uid and *@gid: the master's job.
 * Same return values as poplard_handoff_recv(); on success the datagram
 * is held in *@held (free with g_bytes_unref) with its descriptors in @fds
 * until poplard_handoff_forward() sends them. */
int poplard_handoff_peek(int from, GBytes **held, int fds[POPLAR_HANDOFF_FDS],
                         uint32_t *uid, uint32_t *gid, char **error);
bool poplard_handoff_forward(int to, GBytes *held,
                             const int fds[POPLAR_HANDOFF_FDS], char **error);

/* Closes the descriptors in @fds that are not -1 and sets them to -1. */
void poplard_handoff_close_fds(int fds[POPLAR_HANDOFF_FDS]);

#endif
