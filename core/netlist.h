/* SPDX-License-Identifier: MIT */
/* Lists of networks ("127.0.0.0/8; ::1/128") and address matching. */
#ifndef POPLAR_NETLIST_H
#define POPLAR_NETLIST_H

#include <stdbool.h>
#include <sys/socket.h>

typedef struct PoplarNetList PoplarNetList;

/* Parses one network; returns false with a reason in *@why. */
bool poplard_netlist_add(PoplarNetList *list, const char *text,
                        const char **why);
PoplarNetList *poplard_netlist_new(void);
void poplard_netlist_free(PoplarNetList *list);
/* IPv4-mapped IPv6 addresses match IPv4 networks. */
bool poplard_netlist_contains(const PoplarNetList *list,
                             const struct sockaddr *sa);

#endif
