/* SPDX-License-Identifier: MIT */
#include "netlist.h"

#include <arpa/inet.h>
#include <glib.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

typedef struct Network {
  int family;
  unsigned char addr[16];
  unsigned prefix;
} Network;

struct PoplarNetList {
  GArray *nets; /* Network */
};

PoplarNetList *poplard_netlist_new(void)
{
  PoplarNetList *l = g_new0(PoplarNetList, 1);
  l->nets = g_array_new(FALSE, TRUE, sizeof(Network));
  return l;
}

void poplard_netlist_free(PoplarNetList *list)
{
  if (!list)
    return;
  g_array_unref(list->nets);
  g_free(list);
}

bool poplard_netlist_add(PoplarNetList *list, const char *text,
                        const char **why)
{
  Network net = {0};
  g_autofree char *copy = g_strdup(text);
  char *slash = strchr(copy, '/');
  if (slash)
    *slash++ = '\0';
  if (inet_pton(AF_INET, copy, net.addr) == 1) {
    net.family = AF_INET;
    net.prefix = 32;
  } else if (inet_pton(AF_INET6, copy, net.addr) == 1) {
    net.family = AF_INET6;
    net.prefix = 128;
  } else {
    *why = "not an IPv4 or IPv6 address";
    return false;
  }
  if (slash) {
    char *end;
    long p = strtol(slash, &end, 10);
    if (!g_ascii_isdigit(*slash) || *end || p < 0 || p > (long)net.prefix) {
      *why = "bad prefix length after '/'";
      return false;
    }
    net.prefix = (unsigned)p;
  }
  g_array_append_val(list->nets, net);
  return true;
}

static bool prefix_match(const unsigned char *a, const unsigned char *b,
                         unsigned prefix)
{
  unsigned full = prefix / 8, rest = prefix % 8;
  if (memcmp(a, b, full) != 0)
    return false;
  if (rest == 0)
    return true;
  unsigned char mask = (unsigned char)(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

bool poplard_netlist_contains(const PoplarNetList *list,
                             const struct sockaddr *sa)
{
  const unsigned char *addr4 = NULL, *addr6 = NULL;
  if (sa->sa_family == AF_INET) {
    addr4 = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
  } else if (sa->sa_family == AF_INET6) {
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    addr6 = a6->s6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a6))
      addr4 = a6->s6_addr + 12;
  }
  for (guint i = 0; i < list->nets->len; i++) {
    const Network *n = &g_array_index(list->nets, Network, i);
    if (n->family == AF_INET && addr4 && prefix_match(addr4, n->addr,
                                                      n->prefix))
      return true;
    if (n->family == AF_INET6 && addr6 && prefix_match(addr6, n->addr,
                                                       n->prefix))
      return true;
  }
  return false;
}
