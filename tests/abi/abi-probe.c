/* SPDX-License-Identifier: MIT */
/*
 * The types of the plugin ABI 1.0 that libpoplar's own functions do not
 * show.  abidiff of libpoplar.so.1 sees only the types its exported
 * functions take or return; the plugin descriptor, for one, is returned by
 * the plugin and never passed to libpoplar.  This file is compiled twice,
 * against abi/headers-1.0/ and against today's include/poplar/, and the
 * ABI test compares the two objects with abidiff: a type changed in a way a
 * 1.0 plugin would notice fails the test.
 *
 * One exported function per type, taking it (or a pointer to it).  The list
 * is the types of ABI 1.0 and never changes: types added by later minors
 * are new, so there is nothing older to compare them with.
 */
#include <poplar/plugin.h>

typedef const PoplarPluginDescriptor *(*AbiProbeGetter)(void);

/* Every body differs, so that the compiler cannot fold the functions into
 * one (identical code folding would leave one set of debug information). */
static volatile unsigned abi_probe_calls;

#define PROBE(name, type)                                                   \
  POPLAR_API void abi_probe_##name(type value);                             \
  void abi_probe_##name(type value)                                         \
  {                                                                         \
    (void)value;                                                            \
    abi_probe_calls += __LINE__;                                            \
  }

PROBE(plugin_descriptor, const PoplarPluginDescriptor *)
PROBE(plugin_getter, AbiProbeGetter)
PROBE(preinit_func, PoplarPluginPreinitFunc)
PROBE(init_func, PoplarPluginInitFunc)
PROBE(fini_func, PoplarPluginFiniFunc)
PROBE(passdb_ops, const PoplarPassdbOps *)
PROBE(sasl_mech_ops, const PoplarSaslMechOps *)
PROBE(store_ops, const PoplarStoreOps *)
PROBE(hook_ops, const PoplarHookOps *)
PROBE(crlf_size, const PoplarCrlfSize *)
PROBE(passdb_result, PoplarPassdbResult)
PROBE(sasl_status, PoplarSaslStatus)
PROBE(store_result, PoplarStoreResult)
PROBE(verdict, PoplarVerdict)
PROBE(disconnect_reason, PoplarDisconnectReason)
PROBE(auth_outcome, PoplarAuthOutcome)
PROBE(log_level, PoplarLogLevel)
