/* SPDX-License-Identifier: MIT */
/* The PROXY v2 header a proxying poplard sends to its backends
 * (core/proxy-header.c), read back by the listeners' own parser
 * (core/proxy-protocol.c). */
#include <arpa/inet.h>
#include <glib.h>
#include <netinet/in.h>
#include <string.h>

#include "proxy-header.h"
#include "proxy-protocol.h"

static void check_round_trip(const char *src, unsigned sport, const char *dst,
                             unsigned dport)
{
  unsigned char buf[POPLAR_PROXY_V2_HEADER_MAX];
  size_t len = poplard_proxy_v2_header(src, sport, dst, dport, buf);
  PoplarProxyInfo info;
  const char *why = NULL;
  g_assert_cmpint(poplard_proxy_parse(buf, len, &info, &why), ==,
                  POPLAR_PROXY_DONE);
  g_assert_cmpuint(info.header_len, ==, len);
  g_assert_false(info.local);
  char text[INET6_ADDRSTRLEN];
  const struct sockaddr *s = (const struct sockaddr *)&info.source;
  const struct sockaddr *d = (const struct sockaddr *)&info.destination;
  g_assert_cmpint(s->sa_family, ==, d->sa_family);
  if (s->sa_family == AF_INET) {
    const struct sockaddr_in *s4 = (const void *)s, *d4 = (const void *)d;
    g_assert_nonnull(inet_ntop(AF_INET, &s4->sin_addr, text, sizeof text));
    g_assert_cmpstr(text, ==, src);
    g_assert_cmpuint(ntohs(s4->sin_port), ==, sport);
    g_assert_nonnull(inet_ntop(AF_INET, &d4->sin_addr, text, sizeof text));
    g_assert_cmpstr(text, ==, dst);
    g_assert_cmpuint(ntohs(d4->sin_port), ==, dport);
  } else {
    g_assert_cmpint(s->sa_family, ==, AF_INET6);
    const struct sockaddr_in6 *s6 = (const void *)s, *d6 = (const void *)d;
    g_assert_nonnull(inet_ntop(AF_INET6, &s6->sin6_addr, text, sizeof text));
    g_assert_cmpstr(text, ==, src);
    g_assert_cmpuint(ntohs(s6->sin6_port), ==, sport);
    g_assert_nonnull(inet_ntop(AF_INET6, &d6->sin6_addr, text, sizeof text));
    g_assert_cmpstr(text, ==, dst);
    g_assert_cmpuint(ntohs(d6->sin6_port), ==, dport);
  }
}

static void test_ipv4(void)
{
  check_round_trip("192.0.2.7", 51234, "198.51.100.1", 110);
  check_round_trip("127.0.0.2", 1, "127.0.0.1", 65535);
}

static void test_ipv6(void)
{
  check_round_trip("2001:db8::7", 40000, "2001:db8::1", 995);
}

static void check_local(const char *src, const char *dst)
{
  unsigned char buf[POPLAR_PROXY_V2_HEADER_MAX];
  size_t len = poplard_proxy_v2_header(src, 1000, dst, 110, buf);
  g_assert_cmpuint(len, ==, 16);
  PoplarProxyInfo info;
  const char *why = NULL;
  g_assert_cmpint(poplard_proxy_parse(buf, len, &info, &why), ==,
                  POPLAR_PROXY_DONE);
  g_assert_true(info.local);
}

/* Addresses the header cannot carry as one connection give LOCAL, so the
 * backend keeps its own view rather than a wrong one. */
static void test_local_when_unusable(void)
{
  check_local("192.0.2.7", "2001:db8::1");
  check_local("not an address", "127.0.0.1");
  check_local(NULL, "127.0.0.1");
  check_local("", "");
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/proxy-header/ipv4", test_ipv4);
  g_test_add_func("/proxy-header/ipv6", test_ipv6);
  g_test_add_func("/proxy-header/local", test_local_when_unusable);
  return g_test_run();
}
