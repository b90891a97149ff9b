/* SPDX-License-Identifier: MIT */
/*
 * Writing a PROXY protocol v2 header: what a proxying poplard sends first
 * to a backend that trusts it, so the backend sees and logs the real
 * client's address (the reading side is proxy-protocol.h).
 */
#ifndef POPLAR_PROXY_HEADER_H
#define POPLAR_PROXY_HEADER_H

#include <stddef.h>

/* 16 octets of fixed header and 36 of IPv6 addresses and ports. */
#define POPLAR_PROXY_V2_HEADER_MAX 52

/* Writes a v2 PROXY header for a TCP connection from @src_addr:@src_port
 * to @dst_addr:@dst_port (numeric IPv4 or IPv6 text) into @out and
 * returns its length.  Addresses that do not parse, or of two families,
 * give a LOCAL header, which tells the backend to keep its own view. */
size_t poplard_proxy_v2_header(const char *src_addr, unsigned src_port,
                               const char *dst_addr, unsigned dst_port,
                               unsigned char out[POPLAR_PROXY_V2_HEADER_MAX]);

#endif
