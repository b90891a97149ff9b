/* SPDX-License-Identifier: MIT */
/*
 * A password database for the kit's own tests: one user, "alice" with the
 * password "right".  Checking a password stands for a slow hash (a short
 * sleep, so the test does not burn the CPU other tests need).  Built as
 * it is (kit-passdb-good, which pays the same cost for an unknown user,
 * as a real database must) and with BROKEN_FAST_UNKNOWN, which answers an
 * unknown user at once: the time of the answer tells which names exist.
 */
#define _POSIX_C_SOURCE 200809L

#include <string.h>
#include <time.h>

#include <poplar/plugin.h>

#define HASH_COST_NS (20 * 1000 * 1000)

static void pay_for_hash(void)
{
  struct timespec ts = {0, HASH_COST_NS};
  nanosleep(&ts, NULL);
}

static PoplarPassdbResult kit_verify(void *data, PoplarAuthRequest *req,
                                     const char *password)
{
  (void)data;
  bool known = strcmp(poplar_auth_request_user(req), "alice") == 0;
#ifdef BROKEN_FAST_UNKNOWN
  if (!known)
    return POPLAR_PASSDB_NO_SUCH_USER;
#endif
  pay_for_hash();
  if (!known)
    return POPLAR_PASSDB_NO_SUCH_USER;
  return strcmp(password, "right") == 0 ? POPLAR_PASSDB_OK
                                        : POPLAR_PASSDB_DENIED;
}

static bool kit_init(PoplarPlugin *plugin, PoplarConfig *config)
{
  (void)config;
  PoplarPassdbOps ops = {.verify_plain = kit_verify};
  return poplar_register_passdb(plugin, NULL, &ops, sizeof ops, NULL);
}

/* One more macro level, so that @ident is expanded before
 * POPLAR_PLUGIN_DEFINE pastes and quotes it. */
#define KIT_DEFINE(ident)                                                  \
  POPLAR_PLUGIN_DEFINE(ident, "1.0", "test passdb for the kit", NULL, kit_init, NULL)
KIT_DEFINE(KIT_PASSDB_IDENT)
