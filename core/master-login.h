/* SPDX-License-Identifier: MIT */
/*
 * Master users: the users of the password database named by [server]
 * master-passdb may log in as any user, with "USER target*master" and
 * their own password, or with SASL PLAIN and the target as authorization
 * identity.  The master database is left out of the ordinary chain, so a
 * master user is never an ordinary account, and the target is looked up
 * (lookup_user) in the ordinary chain, so a master login reaches exactly
 * the account, routing and mailbox the user would.
 */
#ifndef POPLAR_MASTER_LOGIN_H
#define POPLAR_MASTER_LOGIN_H

#include <stdbool.h>

#include "client.h"

/* Separates the target from the master in the USER argument. */
#define POPLAR_MASTER_SEPARATOR '*'

/* Marks the master database's entries; a master-passdb that names no
 * loaded password database is an error in the config file.  After the
 * plugins' init. */
bool poplard_master_setup(PoplarServer *server);

/* True when master users are configured. */
bool poplard_master_enabled(const PoplarServer *server);

/* Splits "target*master" into its two names (both non-empty), when master
 * users are configured; false otherwise. */
bool poplard_master_split(const PoplarServer *server, const char *arg,
                          char **target, char **master);

/* The credential check of a master login (runs in the login job): the
 * master's password in c->login.password against the master database,
 * then the target (req's user) in the ordinary chain.  req carries the
 * master with poplar_auth_request_master_user(). */
PoplarPassdbResult poplard_master_check(PoplarClient *c,
                                        PoplarAuthRequest *req);

#endif
