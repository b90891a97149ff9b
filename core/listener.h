/* SPDX-License-Identifier: MIT */
/* Listening sockets, shared by every loop thread. */
#ifndef POPLAR_LISTENER_H
#define POPLAR_LISTENER_H

#include <glib.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "server.h"

/* Checks that @spec is a numeric "host:port", "[v6]:port" or "*:port";
 * returns false with *@error otherwise.  Binds nothing. */
bool poplard_listener_check(const char *spec, char **error);
/* @tls: implicit TLS (the handshake comes before the greeting).
 * Binds "host:port" ("[v6]:port" for IPv6).  Returns NULL with *@error. */
PoplarListener *poplard_listener_bind(const char *spec, bool tls,
                                     char **error);
/* Starts accepting on every loop of @server. */
bool poplard_listener_attach(PoplarListener *l, PoplarServer *server);
/* Wraps a listening socket passed by systemd or by the previous master
 * image (reload).  Returns NULL when @fd is not a listening TCP socket. */
PoplarListener *poplard_listener_adopt(int fd, bool tls);
/* True when @l is bound to the address @spec names (a port 0 in @spec
 * matches any port: an ephemeral listener kept across a reload). */
bool poplard_listener_matches(const PoplarListener *l, const char *spec);
int poplard_listener_fd(const PoplarListener *l);
void poplard_listener_set_tls(PoplarListener *l, bool tls);
/* Stops the loops of this process from accepting on @l and closes this
 * process's copy of the socket (graceful stop); the socket itself lives on
 * in the master and other workers. */
void poplard_listener_detach(PoplarListener *l, PoplarServer *server);
/* Closes the socket.  Call after the loop threads have stopped. */
void poplard_listener_free(PoplarListener *l);
/* "127.0.0.1:1110" as actually bound (port 0 resolved). */
const char *poplard_listener_address(const PoplarListener *l);
bool poplard_listener_is_tls(const PoplarListener *l);
/* getsockname() of the listening socket. */
bool poplard_listener_fd_name(const PoplarListener *l, struct sockaddr *sa,
                             socklen_t *len);

#endif
