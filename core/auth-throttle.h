/* SPDX-License-Identifier: MIT */
/*
 * Slowing down password guessing: each failed login from an address, or
 * for a user name, doubles the delay before the next failure's reply, up
 * to a maximum; a success resets both.
 *
 * An address with failures also waits that delay before its next password
 * is even checked: otherwise a client that hangs up when the immediate
 * +OK of a right guess does not come would guess at connection speed.
 * Only the address counts there, so a user whose name an attacker is
 * guessing from elsewhere still logs in at once with the right password.
 * Thread-safe; bounded in memory.
 */
#ifndef POPLAR_AUTH_THROTTLE_H
#define POPLAR_AUTH_THROTTLE_H

#include <stdint.h>

typedef struct PoplarThrottle PoplarThrottle;

/* @base_ms: the first failure's delay; @max_ms: the ceiling; @window_ms:
 * how long a failure is remembered; @max_entries: table size bound. */
PoplarThrottle *poplard_throttle_new(uint64_t base_ms, uint64_t max_ms,
                                    uint64_t window_ms, unsigned max_entries);
void poplard_throttle_free(PoplarThrottle *t);

/* Records a failure at @now_us and returns the delay for its reply. */
uint64_t poplard_throttle_failure(PoplarThrottle *t, const char *address,
                                 const char *user, int64_t now_us);
/* The delay @address has earned by its recent failures at @now_us (0 if
 * none): how long its next password waits before it is checked. */
uint64_t poplard_throttle_penalty(PoplarThrottle *t, const char *address,
                                 int64_t now_us);
/* Forgets the failures of @address and @user. */
void poplard_throttle_success(PoplarThrottle *t, const char *address,
                             const char *user);

/* What poplarctl penalty lists: each remembered address ("address") or
 * user name ("user") with its failures and the delay they earn at
 * @now_us. */
typedef void (*PoplarThrottleVisit)(const char *kind, const char *name,
                                    unsigned failures, uint64_t delay_ms,
                                    void *data);
void poplard_throttle_foreach(PoplarThrottle *t, int64_t now_us,
                              PoplarThrottleVisit visit, void *data);
/* Forgets the failures of @name as an address and as a user name (an
 * administrator's reset).  Returns how many entries went. */
unsigned poplard_throttle_forget(PoplarThrottle *t, const char *name);

#endif
