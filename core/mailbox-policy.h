/* SPDX-License-Identifier: MIT */
/*
 * EXPIRE and LOGIN-DELAY (RFC 2449 sections 6.5 and 6.7), enforced with
 * the mailbox's policy state file (policy-state.h).  The values are the
 * password database's "expire" and "login-delay" fields for the user, else
 * [server] expire and login-delay.  Every function that touches the file
 * runs on the plugin pool, while the mailbox is open and locked.
 */
#ifndef POPLAR_MAILBOX_POLICY_H
#define POPLAR_MAILBOX_POLICY_H

#include <stdbool.h>

#include "client.h"
#include "login.h"

/* The values that apply to @c: the user's once the mailbox of a login is
 * open (c->login.req's fields), else the server's.  *@expire is days or
 * POPLAR_EXPIRE_UNSET/NEVER; *@login_delay seconds or -1. */
void poplard_policy_values(const PoplarClient *c, long long *expire,
                           long long *login_delay);

/* After the mailbox of a login is open: refuses a login that comes too
 * soon after the previous one (-ERR [LOGIN-DELAY] in c->job.reply), else
 * records it.  Keeps the state for the session in c->policy. */
PoplarLoginResult poplard_policy_open(PoplarClient *c);

/* RETR of @msg: records its first retrieval, durably, before the reply.
 * False when that failed (logged): the RETR must fail. */
bool poplard_policy_note_retrieval(PoplarClient *c, PoplarMessage *msg);

/* UPDATE, before the expunge: marks every message retrieved at least
 * EXPIRE days ago deleted.  Returns how many it marked. */
unsigned poplard_policy_mark_expired(PoplarClient *c);

/* UPDATE, after the expunge: rewrites the state without the messages
 * that are gone. */
void poplard_policy_update_done(PoplarClient *c);

/* Frees c->policy (the session ends or its mailbox is closed). */
void poplard_policy_free(PoplarClient *c);

#endif
