/* SPDX-License-Identifier: MIT */
#include "proxy-header.h"

#include <arpa/inet.h>
#include <string.h>

static const unsigned char v2_signature[12] = {
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

enum {
  V2_LOCAL = 0x20, /* version 2, command LOCAL */
  V2_PROXY = 0x21, /* version 2, command PROXY */
  V2_TCP4 = 0x11,
  V2_TCP6 = 0x21,
};

static size_t local_header(unsigned char *out)
{
  memcpy(out, v2_signature, sizeof v2_signature);
  out[12] = V2_LOCAL;
  out[13] = 0x00; /* AF_UNSPEC */
  out[14] = out[15] = 0;
  return 16;
}

static void put_port(unsigned char *p, unsigned port)
{
  p[0] = (unsigned char)((port >> 8) & 0xff);
  p[1] = (unsigned char)(port & 0xff);
}

size_t poplard_proxy_v2_header(const char *src_addr, unsigned src_port,
                               const char *dst_addr, unsigned dst_port,
                               unsigned char out[POPLAR_PROXY_V2_HEADER_MAX])
{
  unsigned char src[16], dst[16];
  size_t alen;
  unsigned char family;
  if (!src_addr || !dst_addr || src_port > 65535 || dst_port > 65535)
    return local_header(out);
  if (inet_pton(AF_INET, src_addr, src) == 1 &&
      inet_pton(AF_INET, dst_addr, dst) == 1) {
    alen = 4;
    family = V2_TCP4;
  } else if (inet_pton(AF_INET6, src_addr, src) == 1 &&
             inet_pton(AF_INET6, dst_addr, dst) == 1) {
    alen = 16;
    family = V2_TCP6;
  } else {
    return local_header(out);
  }
  size_t body = 2 * alen + 4;
  memcpy(out, v2_signature, sizeof v2_signature);
  out[12] = V2_PROXY;
  out[13] = family;
  out[14] = 0;
  out[15] = (unsigned char)body;
  memcpy(out + 16, src, alen);
  memcpy(out + 16 + alen, dst, alen);
  put_port(out + 16 + 2 * alen, src_port);
  put_port(out + 18 + 2 * alen, dst_port);
  return 16 + body;
}
