/* SPDX-License-Identifier: MIT */
/*
 * The PROXY protocol v1/v2 header parser (core/proxy-protocol.c), which
 * reads the first octets of every connection behind a load balancer.
 * Beyond memory safety, checks what the core's incremental reading relies
 * on: a header is never refused because it arrived in pieces (every prefix
 * of an accepted or incomplete input is incomplete, or accepted with the
 * same length), a v1 header ends with CRLF within 107 octets, a v2 header
 * is 16 octets plus its length field, and an accepted proxied connection
 * has IPv4 or IPv6 addresses of one family.
 */
#include <glib.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-check.h"
#include "proxy-protocol.h"

static PoplarProxyResult parse_exact(const uint8_t *data, size_t len,
                                     PoplarProxyInfo *info, const char **why)
{
  /* An exact-size copy, so that any read past @len is caught. */
  uint8_t *copy = g_memdup2(data, len ? len : 1);
  *why = NULL;
  PoplarProxyResult r = poplard_proxy_parse(copy, len, info, why);
  g_free(copy);
  return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  PoplarProxyInfo info;
  const char *why;
  PoplarProxyResult r = parse_exact(data, size, &info, &why);
  if (r == POPLAR_PROXY_INVALID) {
    CHECK(why && why[0]);
    return 0;
  }
  if (r == POPLAR_PROXY_DONE) {
    bool v2 = size >= 12 && data[0] == 0x0d && data[4] == 0x00;
    if (v2) {
      CHECK(info.header_len == 16 + (((size_t)data[14] << 8) | data[15]));
    } else {
      CHECK(info.header_len >= 8 && info.header_len <= POPLAR_PROXY_V1_MAX);
      CHECK(info.header_len <= size);
      CHECK(data[info.header_len - 2] == '\r' &&
            data[info.header_len - 1] == '\n');
      CHECK(memcmp(data, "PROXY ", 6) == 0);
    }
    if (!info.local) {
      int f = info.source.ss_family;
      CHECK(f == AF_INET || f == AF_INET6);
      CHECK(info.destination.ss_family == f);
    }
  }
  /* What arrived in pieces reads the same. */
  size_t limit = MIN(size, (size_t)512);
  for (size_t k = 0; k < limit; k++) {
    PoplarProxyInfo part;
    const char *pwhy;
    PoplarProxyResult pr = parse_exact(data, k, &part, &pwhy);
    CHECK(pr != POPLAR_PROXY_INVALID);
    if (pr == POPLAR_PROXY_DONE) {
      CHECK(r == POPLAR_PROXY_DONE);
      CHECK(part.header_len == info.header_len);
      CHECK(part.local == info.local);
    }
  }
  return 0;
}
