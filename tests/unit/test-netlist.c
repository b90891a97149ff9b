/* SPDX-License-Identifier: MIT */
/* Network lists for trusted-networks (core/netlist.c). */
#include <arpa/inet.h>
#include <glib.h>
#include <netinet/in.h>
#include <string.h>

#include "netlist.h"

typedef union Addr {
  struct sockaddr sa;
  struct sockaddr_in in;
  struct sockaddr_in6 in6;
  struct sockaddr_storage ss;
} Addr;

static Addr addr(const char *text)
{
  Addr a;
  memset(&a, 0, sizeof a);
  if (inet_pton(AF_INET, text, &a.in.sin_addr) == 1) {
    a.in.sin_family = AF_INET;
    a.in.sin_port = htons(110);
  } else if (inet_pton(AF_INET6, text, &a.in6.sin6_addr) == 1) {
    a.in6.sin6_family = AF_INET6;
    a.in6.sin6_port = htons(110);
  } else {
    g_error("bad test address %s", text);
  }
  return a;
}

static PoplarNetList *list_of(const char *const *nets)
{
  PoplarNetList *l = poplard_netlist_new();
  for (; *nets; nets++) {
    const char *why = NULL;
    if (!poplard_netlist_add(l, *nets, &why))
      g_error("'%s' refused: %s", *nets, why);
  }
  return l;
}

typedef struct MatchCase {
  const char *net;
  const char *addr;
  bool match;
} MatchCase;

static const MatchCase match_cases[] = {
    {"127.0.0.0/8", "127.0.0.1", true},
    {"127.0.0.0/8", "127.255.255.255", true},
    {"127.0.0.0/8", "128.0.0.1", false},
    {"127.0.0.0/8", "126.255.255.255", false},
    {"10.1.2.3", "10.1.2.3", true}, /* no prefix: one host */
    {"10.1.2.3", "10.1.2.4", false},
    {"10.1.2.3/32", "10.1.2.3", true},
    {"10.1.2.3/32", "10.1.2.2", false},
    {"0.0.0.0/0", "203.0.113.9", true},
    {"0.0.0.0/0", "::1", false}, /* IPv4 networks hold no IPv6 address */
    {"192.168.0.0/23", "192.168.1.200", true},
    {"192.168.0.0/23", "192.168.2.1", false},
    {"192.168.0.0/17", "192.168.127.1", true},
    {"192.168.0.0/17", "192.168.128.1", false},
    {"172.16.0.0/12", "172.31.255.255", true},
    {"172.16.0.0/12", "172.32.0.0", false},
    {"10.0.0.0/1", "127.0.0.1", true},
    {"10.0.0.0/1", "128.0.0.1", false},
    {"10.9.9.9/8", "10.0.0.1", true}, /* host bits in the network ignored */
    {"::1/128", "::1", true},
    {"::1", "::1", true},
    {"::1/128", "::2", false},
    {"::1/128", "127.0.0.1", false},
    {"2001:db8::/32", "2001:db8:ffff::1", true},
    {"2001:db8::/32", "2001:db9::1", false},
    {"2001:db8::/33", "2001:db8:7fff::1", true},
    {"2001:db8::/33", "2001:db8:8000::1", false},
    {"fe80::/10", "febf::1", true},
    {"fe80::/10", "fec0::1", false},
    {"::/0", "2001:db8::1", true},
    {"::/0", "::ffff:10.0.0.1", true},
    {"::/0", "10.0.0.1", false}, /* IPv6 networks hold no IPv4 address */
    /* an IPv4-mapped IPv6 client matches IPv4 networks */
    {"10.0.0.0/8", "::ffff:10.1.2.3", true},
    {"10.0.0.0/8", "::ffff:11.1.2.3", false},
    {"127.0.0.1", "::ffff:127.0.0.1", true},
    {"0.0.0.0/0", "::ffff:1.2.3.4", true},
    /* ...and IPv4-compatible or NAT64 addresses do not */
    {"10.0.0.0/8", "::10.1.2.3", false},
    {"10.0.0.0/8", "64:ff9b::10.1.2.3", false},
    /* a mapped network matches mapped clients */
    {"::ffff:10.0.0.0/104", "::ffff:10.1.2.3", true},
};

static void test_match(void)
{
  for (size_t i = 0; i < G_N_ELEMENTS(match_cases); i++) {
    const MatchCase *c = &match_cases[i];
    g_test_message("%s contains %s: %d", c->net, c->addr, c->match);
    PoplarNetList *l = list_of((const char *const[]){c->net, NULL});
    Addr a = addr(c->addr);
    g_assert_cmpint(poplard_netlist_contains(l, &a.sa), ==, c->match);
    poplard_netlist_free(l);
  }
}

static void test_several(void)
{
  PoplarNetList *l = list_of((const char *const[]){
      "127.0.0.0/8", "::1/128", "192.0.2.0/24", "2001:db8::/48", NULL});
  static const char *const in[] = {"127.0.0.1", "::1", "192.0.2.77",
                                   "2001:db8:0:1::5", "::ffff:192.0.2.1"};
  static const char *const out[] = {"192.0.3.1", "2001:db8:1::1", "::",
                                    "0.0.0.0", "::ffff:192.0.3.1"};
  for (size_t i = 0; i < G_N_ELEMENTS(in); i++) {
    Addr a = addr(in[i]);
    g_assert_true(poplard_netlist_contains(l, &a.sa));
  }
  for (size_t i = 0; i < G_N_ELEMENTS(out); i++) {
    Addr a = addr(out[i]);
    g_assert_false(poplard_netlist_contains(l, &a.sa));
  }
  poplard_netlist_free(l);

  /* an empty list holds nothing; another address family neither */
  l = poplard_netlist_new();
  Addr a = addr("127.0.0.1");
  g_assert_false(poplard_netlist_contains(l, &a.sa));
  poplard_netlist_free(l);
  l = list_of((const char *const[]){"0.0.0.0/0", "::/0", NULL});
  struct sockaddr_un_like {
    sa_family_t family;
    char path[108];
  } un = {AF_UNIX, "/tmp/x"};
  g_assert_false(poplard_netlist_contains(l, (struct sockaddr *)&un));
  poplard_netlist_free(l);
  poplard_netlist_free(NULL);
}

static void test_bad(void)
{
  static const struct {
    const char *text;
    const char *why;
  } cases[] = {
      {"", "not an IPv4 or IPv6 address"},
      {"localhost", "not an IPv4"},
      {"300.1.1.1", "not an IPv4"},
      {"1.2.3", "not an IPv4"},
      {"1.2.3.4.5", "not an IPv4"},
      {"10.0.0.0 /8", "not an IPv4"},
      {"/8", "not an IPv4"},
      {"::g", "not an IPv4"},
      {"[::1]", "not an IPv4"},
      {"10.0.0.0/", "prefix"},
      {"10.0.0.0/33", "prefix"},
      {"10.0.0.0/-1", "prefix"},
      {"10.0.0.0/8x", "prefix"},
      {"10.0.0.0/8/8", "prefix"},
      {"10.0.0.0/0x8", "prefix"},
      {"10.0.0.0/99999999999999999999", "prefix"},
      {"10.0.0.0/255.0.0.0", "prefix"}, /* netmasks are not prefixes */
      {"::1/129", "prefix"},
      {"::/", "prefix"},
      {"::/1000", "prefix"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    PoplarNetList *l = poplard_netlist_new();
    const char *why = NULL;
    g_test_message("'%s'", cases[i].text);
    g_assert_false(poplard_netlist_add(l, cases[i].text, &why));
    g_assert_nonnull(why);
    g_assert_nonnull(strstr(why, cases[i].why));
    /* nothing added */
    Addr a = addr("10.0.0.1");
    g_assert_false(poplard_netlist_contains(l, &a.sa));
    poplard_netlist_free(l);
  }
}

/* Prefix matching against a bit-by-bit reference, for every length. */
static void test_prefix_lengths(void)
{
  for (unsigned prefix = 0; prefix <= 128; prefix++) {
    g_autofree char *net = g_strdup_printf("2001:db8:aaaa:5555::/%u", prefix);
    PoplarNetList *l = list_of((const char *const[]){net, NULL});
    Addr base = addr("2001:db8:aaaa:5555::");
    for (unsigned bit = 0; bit < 128; bit++) {
      Addr a = base;
      a.in6.sin6_addr.s6_addr[bit / 8] ^= (unsigned char)(0x80 >> (bit % 8));
      g_assert_cmpint(poplard_netlist_contains(l, &a.sa), ==, bit >= prefix);
    }
    g_assert_true(poplard_netlist_contains(l, &base.sa));
    poplard_netlist_free(l);
  }
  for (unsigned prefix = 0; prefix <= 32; prefix++) {
    g_autofree char *net = g_strdup_printf("170.85.170.85/%u", prefix);
    PoplarNetList *l = list_of((const char *const[]){net, NULL});
    for (unsigned bit = 0; bit < 32; bit++) {
      Addr a = addr("170.85.170.85");
      a.in.sin_addr.s_addr ^= htonl(0x80000000u >> bit);
      g_assert_cmpint(poplard_netlist_contains(l, &a.sa), ==, bit >= prefix);
    }
    poplard_netlist_free(l);
  }
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/netlist/match", test_match);
  g_test_add_func("/netlist/several", test_several);
  g_test_add_func("/netlist/bad", test_bad);
  g_test_add_func("/netlist/prefix-lengths", test_prefix_lengths);
  return g_test_run();
}
