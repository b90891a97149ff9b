/* SPDX-License-Identifier: MIT */
/*
 * The HAProxy PROXY protocol header, versions 1 (text) and 2 (binary),
 * which a load balancer sends first on each connection to tell the real
 * client's address.  Pure parsing, no I/O.
 */
#ifndef POPLAR_PROXY_PROTOCOL_H
#define POPLAR_PROXY_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* v1: 107 octets at most; v2: 16 octets of fixed header. */
#define POPLAR_PROXY_V1_MAX 107
#define POPLAR_PROXY_V2_FIXED 16

typedef enum PoplarProxyResult {
  POPLAR_PROXY_INCOMPLETE, /* a valid beginning: read more */
  POPLAR_PROXY_DONE,
  POPLAR_PROXY_INVALID,
} PoplarProxyResult;

typedef struct PoplarProxyInfo {
  size_t header_len; /* octets the whole header takes on the wire */
  bool local;        /* LOCAL / UNKNOWN: keep the socket's own addresses */
  struct sockaddr_storage source;
  struct sockaddr_storage destination;
} PoplarProxyInfo;

/* Parses the start of a connection.  For v2, DONE only needs the fixed part
 * and the addresses: header_len may exceed @len (TLVs still to come, to be
 * skipped by the caller).  On INVALID, *@why says what is wrong. */
PoplarProxyResult poplard_proxy_parse(const unsigned char *buf, size_t len,
                                     PoplarProxyInfo *out, const char **why);

#endif
