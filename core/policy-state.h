/* SPDX-License-Identifier: MIT */
/*
 * The policy state file of one mailbox ("poplar-retrieved"): when each
 * message was first retrieved (for EXPIRE) and when the user last logged
 * in (for LOGIN-DELAY).  It lives with the mailbox, so every server
 * sharing the mail storage reads and writes the same one, always under
 * the mailbox's session lock.
 *
 *   poplar-retrieved 1
 *   login 1765100000
 *   retrieved 1765100000 UIDL
 *
 * Times are seconds since the epoch.  New facts are appended (one write,
 * then fsync) before the reply that depends on them; a QUIT rewrites the
 * file whole (temporary file, fsync, rename) without the messages that
 * are gone.  Repeated lines are expected: the earliest retrieval and the
 * latest login win.  A damaged line is reported with the file and line
 * number and skipped; the other lines still count.
 */
#ifndef POPLAR_POLICY_STATE_H
#define POPLAR_POLICY_STATE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define POPLAR_POLICY_STATE_HEADER "poplar-retrieved 1"

typedef struct PoplarPolicyState {
  int64_t last_login;    /* 0: none recorded */
  GHashTable *retrieved; /* UIDL (char*) -> first retrieval (int64_t*) */
} PoplarPolicyState;

PoplarPolicyState *poplard_policy_state_new(void);
void poplard_policy_state_free(PoplarPolicyState *state);

/* Adds the lines of @text (@len octets, the content of @file) to @state.
 * Each bad line adds "FILE:LINE: why" to @problems (g_free'd strings,
 * owned by the array) and is skipped. */
void poplard_policy_state_parse(PoplarPolicyState *state, const char *file,
                                const char *text, size_t len,
                                GPtrArray *problems);

/* Records a retrieval of @uidl at @when unless an earlier one is known.
 * Returns true when the record changed (it must then be written). */
bool poplard_policy_state_note_retrieved(PoplarPolicyState *state,
                                         const char *uidl, int64_t when);
/* The first retrieval of @uidl, or 0 when it was never retrieved. */
int64_t poplard_policy_state_retrieved(const PoplarPolicyState *state,
                                       const char *uidl);

/* The whole file for @state, header first (g_free). */
char *poplard_policy_state_format(const PoplarPolicyState *state,
                                  size_t *len);

/* Reads @path into @state; a missing file is an empty state.  Bad lines
 * go to @problems as for parse.  False (with @error) when the file exists
 * but cannot be read. */
bool poplard_policy_state_load(PoplarPolicyState *state, const char *path,
                               GPtrArray *problems, GError **error);
/* Appends @line (without its LF) to @path, creating it with its header
 * when missing, and fsyncs it. */
bool poplard_policy_state_append(const char *path, const char *line,
                                 GError **error);
/* Replaces @path with @state (temporary file, fsync, rename). */
bool poplard_policy_state_save(const PoplarPolicyState *state,
                               const char *path, GError **error);

#endif
