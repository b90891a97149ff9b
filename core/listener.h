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
bool poplar_listener_check(const char *spec, char **error);
/* @tls: implicit TLS (the handshake comes before the greeting).
 * Binds "host:port" ("[v6]:port" for IPv6).  Returns NULL with *@error. */
PoplarListener *poplar_listener_bind(const char *spec, bool tls,
                                     char **error);
/* Starts accepting on every loop of @server. */
bool poplar_listener_attach(PoplarListener *l, PoplarServer *server);
/* Closes the socket.  Call after the loop threads have stopped. */
void poplar_listener_free(PoplarListener *l);
/* "127.0.0.1:1110" as actually bound (port 0 resolved). */
const char *poplar_listener_address(const PoplarListener *l);
bool poplar_listener_is_tls(const PoplarListener *l);
/* getsockname() of the listening socket. */
bool poplar_listener_fd_name(const PoplarListener *l, struct sockaddr *sa,
                             socklen_t *len);

#endif
