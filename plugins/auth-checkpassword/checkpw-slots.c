/* SPDX-License-Identifier: MIT */
/*
 * The bound on checkpassword programs running at once.  Every login runs
 * one process, so without it a burst of logins (or an attack) would fork
 * as many processes as the plugin pool has threads.  A login beyond the
 * bound waits for a slot, but only for half the timeout: when every slot
 * is held that long, the programs are slow or hung, and a login that
 * waited longer would wait out the timeouts of every login before it.
 */
#include "auth-checkpassword.h"

struct CheckpwSlots {
  GMutex lock;
  GCond freed;
  unsigned max;
  unsigned used;
};

CheckpwSlots *checkpw_slots_new(unsigned max)
{
  g_assert(max > 0);
  CheckpwSlots *slots = g_new0(CheckpwSlots, 1);
  g_mutex_init(&slots->lock);
  g_cond_init(&slots->freed);
  slots->max = max;
  return slots;
}

void checkpw_slots_free(CheckpwSlots *slots)
{
  if (!slots)
    return;
  g_mutex_clear(&slots->lock);
  g_cond_clear(&slots->freed);
  g_free(slots);
}

bool checkpw_slots_acquire(CheckpwSlots *slots, int64_t deadline_us)
{
  bool got = true;
  g_mutex_lock(&slots->lock);
  while (slots->used >= slots->max) {
    if (!g_cond_wait_until(&slots->freed, &slots->lock, deadline_us)) {
      got = slots->used < slots->max;
      break;
    }
  }
  if (got)
    slots->used++;
  g_mutex_unlock(&slots->lock);
  return got;
}

void checkpw_slots_release(CheckpwSlots *slots)
{
  g_mutex_lock(&slots->lock);
  g_assert(slots->used > 0);
  slots->used--;
  g_cond_signal(&slots->freed);
  g_mutex_unlock(&slots->lock);
}

uint64_t checkpw_slot_wait_ms(const CheckpwSettings *s)
{
  return s->timeout_ms / 2;
}
