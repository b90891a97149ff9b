/* SPDX-License-Identifier: MIT */
#include "proxy-protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char v2_signature[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00,
                                               0x0d, 0x0a, 0x51, 0x55, 0x49,
                                               0x54, 0x0a};

static PoplarProxyResult invalid(const char **why, const char *text)
{
  *why = text;
  return POPLAR_PROXY_INVALID;
}

static bool parse_port(const char *s, in_port_t *out)
{
  if (!*s || strlen(s) > 5 || (s[0] == '0' && s[1]))
    return false;
  unsigned long v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9')
      return false;
    v = v * 10 + (unsigned long)(*p - '0');
  }
  if (v > 65535)
    return false;
  *out = htons((in_port_t)v);
  return true;
}

static bool set_address(struct sockaddr_storage *ss, int family,
                        const char *addr, const char *port)
{
  memset(ss, 0, sizeof *ss);
  if (family == AF_INET) {
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    in->sin_family = AF_INET;
    return inet_pton(AF_INET, addr, &in->sin_addr) == 1 &&
           parse_port(port, &in->sin_port);
  }
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
  in6->sin6_family = AF_INET6;
  return inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1 &&
         parse_port(port, &in6->sin6_port);
}

/* "PROXY TCP4 src dst sport dport\r\n" or "PROXY UNKNOWN...\r\n". */
static PoplarProxyResult parse_v1(const unsigned char *buf, size_t len,
                                  PoplarProxyInfo *out, const char **why)
{
  size_t n = len < POPLAR_PROXY_V1_MAX ? len : POPLAR_PROXY_V1_MAX;
  const unsigned char *cr = NULL;
  for (size_t i = 0; i + 1 < n; i++) {
    if (buf[i] == '\r' && buf[i + 1] == '\n') {
      cr = buf + i;
      break;
    }
    if (buf[i] < 0x20 || buf[i] > 0x7e)
      return invalid(why, "PROXY v1 header has a control character");
  }
  if (!cr)
    return len >= POPLAR_PROXY_V1_MAX
               ? invalid(why, "PROXY v1 header longer than 107 octets")
               : POPLAR_PROXY_INCOMPLETE;
  char line[POPLAR_PROXY_V1_MAX + 1];
  size_t line_len = (size_t)(cr - buf);
  memcpy(line, buf, line_len);
  line[line_len] = '\0';
  out->header_len = line_len + 2;

  char *fields[7];
  unsigned nf = 0;
  char *save = NULL;
  for (char *tok = strtok_r(line, " ", &save); tok && nf < 7;
       tok = strtok_r(NULL, " ", &save))
    fields[nf++] = tok;
  if (nf >= 2 && strcmp(fields[1], "UNKNOWN") == 0) {
    out->local = true;
    return POPLAR_PROXY_DONE;
  }
  if (nf != 6)
    return invalid(why, "PROXY v1 header does not have 6 fields");
  int family;
  if (strcmp(fields[1], "TCP4") == 0)
    family = AF_INET;
  else if (strcmp(fields[1], "TCP6") == 0)
    family = AF_INET6;
  else
    return invalid(why, "PROXY v1 protocol is not TCP4, TCP6 or UNKNOWN");
  if (!set_address(&out->source, family, fields[2], fields[4]) ||
      !set_address(&out->destination, family, fields[3], fields[5]))
    return invalid(why, "PROXY v1 header has a bad address or port");
  out->local = false;
  return POPLAR_PROXY_DONE;
}

static PoplarProxyResult parse_v2(const unsigned char *buf, size_t len,
                                  PoplarProxyInfo *out, const char **why)
{
  if (len < POPLAR_PROXY_V2_FIXED)
    return POPLAR_PROXY_INCOMPLETE;
  unsigned version = buf[12] >> 4, command = buf[12] & 0x0f;
  unsigned family = buf[13] >> 4, transport = buf[13] & 0x0f;
  size_t body = ((size_t)buf[14] << 8) | buf[15];
  if (version != 2)
    return invalid(why, "PROXY v2 header with another version");
  if (command > 1)
    return invalid(why, "PROXY v2 header with an unknown command");
  out->header_len = POPLAR_PROXY_V2_FIXED + body;
  if (command == 0 || family == 0 || transport != 1) {
    /* LOCAL (a health check), or a protocol we do not take: keep the
     * socket's own addresses. */
    out->local = true;
    return POPLAR_PROXY_DONE;
  }
  size_t need = family == 1 ? 12 : family == 2 ? 36 : 0;
  if (need == 0)
    return invalid(why, "PROXY v2 header for an address family other than "
                        "IPv4 or IPv6");
  if (body < need)
    return invalid(why, "PROXY v2 address block too short");
  if (len < POPLAR_PROXY_V2_FIXED + need)
    return POPLAR_PROXY_INCOMPLETE;
  const unsigned char *a = buf + POPLAR_PROXY_V2_FIXED;
  memset(&out->source, 0, sizeof out->source);
  memset(&out->destination, 0, sizeof out->destination);
  if (family == 1) {
    struct sockaddr_in *src = (struct sockaddr_in *)&out->source;
    struct sockaddr_in *dst = (struct sockaddr_in *)&out->destination;
    src->sin_family = dst->sin_family = AF_INET;
    memcpy(&src->sin_addr, a, 4);
    memcpy(&dst->sin_addr, a + 4, 4);
    memcpy(&src->sin_port, a + 8, 2);
    memcpy(&dst->sin_port, a + 10, 2);
  } else {
    struct sockaddr_in6 *src = (struct sockaddr_in6 *)&out->source;
    struct sockaddr_in6 *dst = (struct sockaddr_in6 *)&out->destination;
    src->sin6_family = dst->sin6_family = AF_INET6;
    memcpy(&src->sin6_addr, a, 16);
    memcpy(&dst->sin6_addr, a + 16, 16);
    memcpy(&src->sin6_port, a + 32, 2);
    memcpy(&dst->sin6_port, a + 34, 2);
  }
  out->local = false;
  return POPLAR_PROXY_DONE;
}

PoplarProxyResult poplard_proxy_parse(const unsigned char *buf, size_t len,
                                     PoplarProxyInfo *out, const char **why)
{
  static const char v1_prefix[] = "PROXY ";
  memset(out, 0, sizeof *out);
  size_t cmp = len < sizeof v2_signature ? len : sizeof v2_signature;
  if (memcmp(buf, v2_signature, cmp) == 0)
    return cmp < sizeof v2_signature ? POPLAR_PROXY_INCOMPLETE
                                     : parse_v2(buf, len, out, why);
  cmp = len < 6 ? len : 6;
  if (memcmp(buf, v1_prefix, cmp) == 0)
    return cmp < 6 ? POPLAR_PROXY_INCOMPLETE : parse_v1(buf, len, out, why);
  return invalid(why, "the connection does not start with a PROXY header");
}
