/* SPDX-License-Identifier: MIT */
/*
 * The UIDLs of a mailbox while a store opens it, to refuse a duplicate.
 * A store adds every message of the mailbox one after another, so this
 * runs 10,000 times in the login of a 10,000-message mailbox: an
 * open-addressing table of the mailbox's own copies of the UIDLs, hashed
 * eight octets at a time.
 */
#ifndef POPLAR_UIDL_SET_H
#define POPLAR_UIDL_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct PoplarUidlSet PoplarUidlSet;

/* Where a UIDL that is not in the set goes (poplarpriv_uidl_set_find). */
typedef struct PoplarUidlSlot {
  size_t index;
  uint64_t hash;
} PoplarUidlSlot;

PoplarUidlSet *poplarpriv_uidl_set_new(void);
void poplarpriv_uidl_set_free(PoplarUidlSet *set);

/* True when @uidl (@len octets, NUL-terminated) is in @set.  Otherwise
 * fills @slot for poplarpriv_uidl_set_add(), which must come before any
 * other call on @set. */
bool poplarpriv_uidl_set_find(PoplarUidlSet *set, const char *uidl,
                              size_t len, PoplarUidlSlot *slot);

/* Adds @copy, a string equal to the UIDL just looked up that lives as
 * long as @set (the set keeps the pointer, not a copy). */
void poplarpriv_uidl_set_add(PoplarUidlSet *set, const PoplarUidlSlot *slot,
                             const char *copy);

#endif
