/* SPDX-License-Identifier: MIT */
/*
 * The two-way pump both relays share (a proxied session and a TLS session
 * handed to a user's process): two ends, each a socket with TLS over it or
 * not, and one fixed buffer per direction.  After any event, move what can
 * move in both directions, then ask epoll only for what would let more
 * move, so a side that stops reading stops the other side's reading and a
 * relayed session costs two buffers however much mail passes through it.
 */
#ifndef POPLAR_RELAY_PIPE_H
#define POPLAR_RELAY_PIPE_H

#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event-loop.h"

/* One side: a socket, and TLS over it or not. */
typedef struct PoplarRelayEnd {
  int fd;
  gnutls_session_t tls; /* NULL: plain */
  PoplarWatch watch;
  bool eof;        /* it closed its sending side */
  bool send_retry; /* gnutls_record_send must be called again */
  bool shut;       /* we closed our sending side towards it */
} PoplarRelayEnd;

/* One direction's octets: data[off..len) are still to be sent. */
typedef struct PoplarRelayBuffer {
  char *data;
  size_t cap;
  size_t off, len;
  uint64_t count; /* octets sent on, all told */
} PoplarRelayBuffer;

/* Reads from @from into @buf, then sends @buf on to @to; passes an end of
 * data on once everything before it went.  Returns true when anything
 * moved; on an error sets *@fail (a static string) and returns false. */
bool poplard_relay_move(PoplarRelayEnd *from, PoplarRelayEnd *to,
                        PoplarRelayBuffer *buf, const char **fail);

/* True when everything @buf holds went to @to. */
bool poplard_relay_drained(const PoplarRelayEnd *to,
                           const PoplarRelayBuffer *buf);

/* Watches @a and @b for what would let more move: @ab carries a to b,
 * @ba b to a. */
void poplard_relay_watch(PoplarLoop *loop, PoplarRelayEnd *a,
                         PoplarRelayEnd *b, PoplarRelayBuffer *ab,
                         PoplarRelayBuffer *ba);

/* Stops watching @e, sends a TLS close_notify when it is still owed (best
 * effort, never waits), frees the TLS session and closes the socket. */
void poplard_relay_end_close(PoplarLoop *loop, PoplarRelayEnd *e);

#endif
