/* SPDX-License-Identifier: MIT */
/*
 * An in-process poplard for the session fuzz targets: the real core (loop
 * thread, plugin pool, state machine, SASL, streaming) with a password
 * database, a store, hooks and a SASL mechanism defined in fuzz-world.c,
 * all in memory.  One session at a time runs over a socketpair: the
 * client's octets go in, then EOF, and everything the server sends comes
 * back.  Nothing survives from one session to the next but the failure
 * counters of the login throttle (with no delay configured), so a session
 * depends only on its input.
 *
 * Users (password "pw"; APOP works through the same secret):
 *   alice  seven messages: CRLF, bare LF, leading dots, no final line end,
 *          a bare CR, an empty one, NUL and 8-bit octets, 200 KB of lines
 *   bob    the same, with faults: message 2 is gone, message 4 cannot be
 *          opened, reading message 3 fails after the first chunk, and the
 *          expunge fails
 *   carol  mailbox in use          dave   mailbox fails for good (PERM)
 *   erin   update_before refuses   frank  hooks hide messages 1 and 3, add
 *          a header to the others, refuse RETR of message 2 (the visible
 *          numbering), disconnect on RETR of message 4, refuse DELE of 1
 *   mallory auth_after disconnects  trudy  auth_before refuses
 * SASL: PLAIN and LOGIN (built in, on trusted connections) and X-FUZZ, a
 * plugin mechanism allowed everywhere; see x_fuzz_step().
 */
#ifndef POPLAR_FUZZ_WORLD_H
#define POPLAR_FUZZ_WORLD_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Starts the server once; later calls do nothing. */
void fuzz_world_init(void);

/* Runs one session from a loopback address (@trusted: plaintext logins
 * allowed) or from a documentation address (not trusted).  @in is what
 * the client sends; the server's whole output is appended to @out.
 * Aborts when the session does not end after the client's EOF, or when
 * an invariant of the world breaks (a plaintext password checked on an
 * untrusted connection, an expunge without QUIT, a bare LF sent). */
void fuzz_world_session(const uint8_t *in, size_t len, bool trusted,
                        GByteArray *out);

#endif
