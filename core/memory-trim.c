/* SPDX-License-Identifier: MIT */
#include "memory-trim.h"

#include <glib.h>
#include <malloc.h>

#define TRIM_CHECK_USEC (10 * G_USEC_PER_SEC)
/* Below this much free heap a trim would return next to nothing. */
#define TRIM_MIN_FREE (1024 * 1024)

struct PoplarMemoryTrim {
  PoplarLoop *loop;
  PoplarTimer timer;
  const unsigned *sessions_started;
  unsigned seen; /* sessions_started at the last trim */
};

static void check(void *ctx)
{
  PoplarMemoryTrim *trim = ctx;
  unsigned now = (unsigned)g_atomic_int_get((const gint *)trim->sessions_started);
  /* Only after activity: an idle worker has nothing new to give back, and
   * walking the arenas again would be wasted. */
  if (now != trim->seen) {
    struct mallinfo2 info = mallinfo2();
    if (info.fordblks >= TRIM_MIN_FREE) {
      malloc_trim(0);
      trim->seen = now;
    }
  }
  poplard_loop_timer_arm(trim->loop, &trim->timer,
                         poplard_loop_now(trim->loop) + TRIM_CHECK_USEC);
}

PoplarMemoryTrim *poplard_memory_trim_start(PoplarLoop *loop,
                                            const unsigned *sessions_started)
{
  PoplarMemoryTrim *trim = g_new0(PoplarMemoryTrim, 1);
  trim->loop = loop;
  trim->sessions_started = sessions_started;
  trim->seen = (unsigned)g_atomic_int_get((const gint *)sessions_started);
  poplard_timer_init(&trim->timer, check, trim);
  poplard_loop_timer_arm(loop, &trim->timer,
                         g_get_monotonic_time() + TRIM_CHECK_USEC);
  return trim;
}

void poplard_memory_trim_free(PoplarMemoryTrim *trim)
{
  g_free(trim);
}
