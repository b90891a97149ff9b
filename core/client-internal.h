/* SPDX-License-Identifier: MIT */
/*
 * What the three parts of a client connection share: client.c (life
 * cycle, input, output, timers, plugin jobs), client-tls.c (TLS, and the
 * transport that hides whether it is on) and client-proxy.c (the PROXY
 * header of a load balancer).  Nothing outside them includes this.
 */
#ifndef POPLAR_CLIENT_INTERNAL_H
#define POPLAR_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "client.h"

/* ---- client.c ---------------------------------------------------------- */

/* Sets the socket events the client waits for from what it is doing. */
void poplard_client_update_watch(PoplarClient *c);
/* Restarts the idle timeout from the client's last activity. */
void poplard_client_arm_idle_timer(PoplarClient *c);
/* True when the client may read more commands now. */
bool poplard_client_wants_input(const PoplarClient *c);
/* Reads what the transport has.  Returns false on EOF or error. */
bool poplard_client_read(PoplarClient *c);
/* The numeric text of @sa's address into @buf, its port into *@port
 * (empty and 0 for a family that has neither). */
void poplard_address_text(const struct sockaddr *sa, char *buf, size_t size,
                          unsigned *port);

/* ---- client-tls.c: plain socket or TLS, with send()/recv() conventions
 * (-1 and errno EAGAIN, EINTR or a real error) --------------------------- */

ssize_t poplard_transport_recv(PoplarClient *c, void *buf, size_t len);
/* Sends as much of the output queue as the socket takes.  Returns the
 * octets sent, or -1 (errno set) when nothing could be. */
ssize_t poplard_transport_send_queue(PoplarClient *c);
/* True when GnuTLS holds decrypted input that the socket no longer
 * signals. */
bool poplard_transport_input_buffered(const PoplarClient *c);
/* The socket event the TLS handshake waits for. */
uint32_t poplard_client_tls_handshake_events(const PoplarClient *c);
/* Starts the TLS handshake on the connection (implicit TLS, or STLS once
 * its +OK is sent). */
void poplard_client_tls_begin(PoplarClient *c);
/* Goes on with the handshake after a socket event. */
void poplard_client_tls_handshake_step(PoplarClient *c);

/* ---- client-proxy.c ---------------------------------------------------- */

/* Reads more of the PROXY header after a socket event; once it is whole,
 * the session starts with the addresses it carries. */
void poplard_client_proxy_step(PoplarClient *c);

#endif
