/* SPDX-License-Identifier: MIT */
/* Calling the hooks of one hook point and turning verdicts into replies. */
#ifndef POPLAR_HOOKS_H
#define POPLAR_HOOKS_H

#include <stdbool.h>

#include "poplar-private.h"

typedef enum PoplarHookPoint {
  POPLAR_HOOK_CONNECT,
  POPLAR_HOOK_TLS,
  POPLAR_HOOK_AUTH_BEFORE,
  POPLAR_HOOK_AUTH_AFTER,
  POPLAR_HOOK_MAILBOX_OPEN,
  POPLAR_HOOK_MESSAGE_RETRIEVE,
  POPLAR_HOOK_MESSAGE_DELETE,
  POPLAR_HOOK_UPDATE_BEFORE,
  POPLAR_HOOK_UPDATE_AFTER,
  POPLAR_HOOK_DISCONNECT,
  POPLAR_HOOK_MESSAGE_SENT,
  POPLAR_HOOK_RSET,
  POPLAR_HOOK_N_POINTS
} PoplarHookPoint;

typedef struct PoplarHookArgs {
  PoplarAuthRequest *req;
  PoplarAuthOutcome outcome;
  PoplarMailbox *mbox;
  PoplarMessage *msg;
  long top_lines;
  uint64_t octets;
  bool complete;
  bool committed;
  PoplarDisconnectReason reason;
} PoplarHookArgs;

/* True when any registered hook implements @point (so the caller can skip
 * a trip to the plugin pool). */
bool poplard_hooks_present(const PoplarRegistry *registry,
                          PoplarHookPoint point);

/* Runs the hooks of @point in load order.  Returns CONTINUE when every hook
 * continued or one accepted; otherwise the refusing verdict, with the -ERR
 * line to send in *@reply (newly allocated). */
PoplarVerdict poplard_hooks_run(const PoplarRegistry *registry,
                               PoplarSession *s, PoplarHookPoint point,
                               const PoplarHookArgs *args, char **reply);

const char *poplard_hook_point_name(PoplarHookPoint point);

#endif
