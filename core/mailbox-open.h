/* SPDX-License-Identifier: MIT */
/* Opening the mailbox of a user who just logged in. */
#ifndef POPLAR_MAILBOX_OPEN_H
#define POPLAR_MAILBOX_OPEN_H

#include "login.h"

/* On the pool: expands the user's mail location, opens it with the store
 * of its scheme, runs the mailbox_open hooks and numbers the messages.
 * On failure the reply is in c->job.reply and nothing stays open. */
PoplarLoginResult poplard_mailbox_open_for_login(PoplarClient *c);

#endif
