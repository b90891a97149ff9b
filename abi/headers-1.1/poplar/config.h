/* SPDX-License-Identifier: MIT */
/**
 * poplar/config.h - reading a plugin's own section of poplar.conf.
 *
 * Each plugin reads only its own section (named like the plugin, e.g.
 * [store-maildir]).  Every accessor marks the key as known; after a plugin's
 * init returns, any key of its section that no accessor asked for is
 * reported as an unknown key with its file and line, so a typo never goes
 * unnoticed.
 *
 * Values are parsed and checked by the accessors.  A bad value is recorded
 * as an error naming file, line, section and key, and the accessor returns
 * false; the plugin should then return false from its init (after reading
 * its other keys, so that every problem is reported in one run).
 *
 * Ownership: strings and lists returned by these functions are owned by
 * the configuration: never free or modify them.  They stay valid, in each
 * process, until the plugin's fini returns, so a plugin may keep them
 * without copying (a string read in preinit is still valid in init, in the
 * worker the master forked).  Keys and formats are read during the call
 * only.  Call the accessors from preinit and init (the main thread); what
 * they returned may then be read from any thread.
 */
#ifndef POPLAR_CONFIG_H
#define POPLAR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <poplar/version.h>

POPLAR_BEGIN_DECLS

/** One section of poplar.conf.  Opaque.  Since: 1.0 */
typedef struct PoplarConfig PoplarConfig;

/**
 * poplar_config_section_name:
 * Returns: the section's name, e.g. "store-maildir"; owned by the
 * configuration, valid until the plugin's fini returns.
 * Since: 1.0
 */
POPLAR_API const char *poplar_config_section_name(const PoplarConfig *config);

/**
 * poplar_config_has_key:
 * Returns: true when the section sets @key.  Marks @key as known.
 * Since: 1.0
 */
POPLAR_API bool poplar_config_has_key(PoplarConfig *config, const char *key);

/**
 * poplar_config_get_string:
 * @def: returned when the key is absent; may be NULL
 *
 * Returns: the value with escapes (\s \n \t \r \\) resolved, owned by
 * the configuration and valid until the plugin's fini returns; or @def
 * itself (the caller's pointer, not a copy) when the key is absent.
 * Since: 1.0
 */
POPLAR_API const char *poplar_config_get_string(PoplarConfig *config,
                                                const char *key,
                                                const char *def);

/**
 * poplar_config_get_int:
 * @out: receives the value, or @def when the key is absent
 *
 * Parses a decimal integer and checks @min <= value <= @max.
 * Returns: false (with an error recorded) when the value is not a number or
 * is out of range.
 * Since: 1.0
 */
POPLAR_API bool poplar_config_get_int(PoplarConfig *config, const char *key,
                                      long long def, long long min,
                                      long long max, long long *out);

/**
 * poplar_config_get_bool:
 * Accepts yes/no, true/false, on/off, 1/0 (any case).
 * Returns: false (with an error recorded) on any other value.
 * Since: 1.0
 */
POPLAR_API bool poplar_config_get_bool(PoplarConfig *config, const char *key,
                                       bool def, bool *out);

/**
 * poplar_config_get_duration:
 * @out_ms: receives the duration in milliseconds
 *
 * Accepts a number followed by a unit: ms, s, m, h, d ("90s", "10m",
 * "500ms").  A bare number means seconds.
 * Returns: false (with an error recorded) on a malformed duration.
 * Since: 1.0
 */
POPLAR_API bool poplar_config_get_duration(PoplarConfig *config,
                                           const char *key, uint64_t def_ms,
                                           uint64_t *out_ms);

/**
 * poplar_config_get_size:
 * @out: receives the size in octets
 *
 * Accepts a number with an optional binary unit: k, M, G (1024-based).
 * Returns: false (with an error recorded) on a malformed size.
 * Since: 1.0
 */
POPLAR_API bool poplar_config_get_size(PoplarConfig *config, const char *key,
                                       uint64_t def, uint64_t *out);

/**
 * poplar_config_get_list:
 * @n_items: (out) (optional): number of items
 *
 * Splits the value at ';' (a trailing ';' is allowed) and trims blanks
 * around each item; empty items are dropped.
 * Returns: a NULL-terminated array, empty (never NULL) when the key is
 * absent.  The array and its items are owned by the configuration and
 * valid until the plugin's fini returns; asking again for the same key
 * returns the same array.
 * Since: 1.0
 */
POPLAR_API const char *const *poplar_config_get_list(PoplarConfig *config,
                                                     const char *key,
                                                     size_t *n_items);

/**
 * poplar_config_error:
 * @key: the key at fault, or NULL for the section as a whole
 *
 * Records an error about @key, reported with the file and line where the
 * key (or the section) was set.  Use it for checks the typed accessors
 * cannot make (a path that does not exist, two keys that contradict).
 * The message is formatted and copied during the call.
 * Since: 1.0
 */
POPLAR_API void poplar_config_error(PoplarConfig *config, const char *key,
                                    const char *fmt, ...) POPLAR_PRINTF(3, 4);

/**
 * poplar_config_warning:
 * @key: the key concerned, or NULL for the section as a whole
 *
 * Records a warning, reported with file and line like an error (by
 * poplard --check-config and at start-up) but not fatal: for settings that
 * work but are unsafe or deprecated.  The message is formatted and copied
 * during the call.
 * Since: 1.0
 */
POPLAR_API void poplar_config_warning(PoplarConfig *config, const char *key,
                                      const char *fmt, ...)
    POPLAR_PRINTF(3, 4);

POPLAR_END_DECLS

#endif /* POPLAR_CONFIG_H */
