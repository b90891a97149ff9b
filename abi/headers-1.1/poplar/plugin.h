/* SPDX-License-Identifier: MIT */
/**
 * poplar/plugin.h - the one header a Poplar plugin includes.
 *
 * A plugin is a shared object named after itself (store-maildir.so) that
 * defines its descriptor with POPLAR_PLUGIN_DEFINE():
 *
 *   static bool my_init(PoplarPlugin *plugin, PoplarConfig *config)
 *   {
 *     ... read config, poplar_register_store(plugin, "maildir", ...) ...
 *   }
 *   POPLAR_PLUGIN_DEFINE(store_maildir, "1.0.0", "Maildir storage",
 *                        NULL, my_init, NULL)
 *
 * Life cycle, all on the main thread:
 *  1. preinit(plugin, config): before the server drops root privileges.
 *     Open what needs privileges (a key readable by root only); register
 *     nothing.
 *  2. init(plugin, config): after the privilege drop.  Read the section,
 *     register passdbs, SASL mechanisms, stores and hooks.
 *  3. fini(plugin): at shutdown, after the last session and after every
 *     registered table's destroy.
 * preinit and init return false to refuse to start; they explain why with
 * poplar_config_error() or poplar_log().  Any of the three may be NULL.
 * preinit runs in the master process; init, the sessions and fini run in
 * each worker process, so init runs once per worker, again when a worker
 * is restarted, and at every reload (docs/plugin-guide.md, "Reload").
 * fini runs when a process whose init was called shuts down (also after
 * an init that failed, e.g. under --check-config), but processes that end
 * at once skip destroy and fini: a worker whose init failed, and the
 * throw-away process that checks a reload.  So fini frees; nothing that
 * must happen may depend on it.
 *
 * Build with `pkg-config --cflags --libs poplar-plugin`; link only to
 * libpoplar (never to symbols of the poplard executable).
 *
 * Ownership (each declaration states the details for its pointers):
 *  - In: what a plugin passes to the core is copied before the call
 *    returns (names, schemes, ops tables, UIDLs, user, home, mail, field
 *    values, secrets, reasons, hook replies, header lines, log and error
 *    text); the plugin may free or reuse its buffer right after the call.
 *  - Data pointers (the `void *data` of a registration, a session slot,
 *    a mailbox, a message; poplar_plugin_set_data()) are borrowed: the
 *    core keeps them as given and never frees them.  It hands each back
 *    to the plugin's own function: a table's destroy (at shutdown, and
 *    only when the registration succeeded), a slot's free_func, the
 *    store's close, the plugin's fini.  The core never calls free() on a
 *    plugin's memory, so a plugin may use any allocator.
 *  - Out: everything the core returns is the core's: never free it, never
 *    write through it.  It stays valid as long as the object it came
 *    from: a PoplarConfig's strings and lists and the PoplarPlugin until
 *    the plugin's fini returns; a PoplarSession and its strings until the
 *    session ends (its disconnect hooks and slot free functions are the
 *    last calls that see it); a PoplarAuthRequest and its strings for one
 *    login attempt (a value replaced with a set function stays readable
 *    until then); a PoplarMailbox, its PoplarMessages and their strings
 *    until the store's close returns.  Copy what you need for longer.
 *  - Arguments of a callback that belong to no handle (a password, a
 *    SASL message, a read buffer) are valid during that call only.
 *  - What a plugin hands back through an out-parameter (a SASL state or
 *    challenge, a message stream) stays the plugin's; the core returns
 *    it to the plugin's matching callback (finish, message_close).
 */
#ifndef POPLAR_PLUGIN_H
#define POPLAR_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <poplar/auth.h>
#include <poplar/config.h>
#include <poplar/expand.h>
#include <poplar/hook.h>
#include <poplar/password.h>
#include <poplar/session.h>
#include <poplar/store.h>
#include <poplar/version.h>

POPLAR_BEGIN_DECLS

/** First member of every descriptor: "POPL".  Since: 1.0 */
#define POPLAR_PLUGIN_MAGIC 0x504f504cu

/** Runs before the privilege drop.  Since: 1.0 */
typedef bool (*PoplarPluginPreinitFunc)(PoplarPlugin *plugin,
                                        PoplarConfig *config);
/** Runs after the privilege drop; registers what the plugin provides.
 * Since: 1.0 */
typedef bool (*PoplarPluginInitFunc)(PoplarPlugin *plugin,
                                     PoplarConfig *config);
/** Runs at shutdown.  Since: 1.0 */
typedef void (*PoplarPluginFiniFunc)(PoplarPlugin *plugin);

/**
 * PoplarPluginDescriptor:
 * What a plugin's getter returns.  The first five members never move: the
 * loader reads magic, ABI and size before anything else, and only reads
 * members that @struct_size covers.  Fill it with POPLAR_PLUGIN_DEFINE().
 * Since: 1.0
 */
typedef struct PoplarPluginDescriptor {
  uint32_t magic;       /* POPLAR_PLUGIN_MAGIC */
  uint16_t abi_major;   /* POPLAR_ABI_MAJOR the plugin was built with */
  uint16_t abi_minor;   /* POPLAR_TARGET_ABI_MINOR the plugin needs */
  uint32_t struct_size; /* sizeof(PoplarPluginDescriptor) at build time */
  /* The three strings are read while the plugin is loaded, never copied
   * or freed: string literals, as POPLAR_PLUGIN_DEFINE() makes them. */
  const char *name;     /* e.g. "store_maildir" ('_' reads as '-') */
  const char *version;  /* the plugin's own version */
  const char *description;
  PoplarPluginPreinitFunc preinit;
  PoplarPluginInitFunc init;
  PoplarPluginFiniFunc fini;
} PoplarPluginDescriptor;

/** Builds the getter's name: poplar_plugin_<ident>.  Since: 1.0 */
#define POPLAR_PLUGIN_GETTER(ident) poplar_plugin_##ident

/**
 * POPLAR_PLUGIN_C_LINKAGE:
 * extern "C" in C++, nothing in C: the loader looks the getter up by its C
 * name, which a C++ compiler would otherwise mangle.  A header macro
 * only: plugins using it still load in 1.0 cores.
 * Since: 1.1
 */
#ifdef __cplusplus
#define POPLAR_PLUGIN_C_LINKAGE extern "C"
#else
#define POPLAR_PLUGIN_C_LINKAGE
#endif

/* Used by POPLAR_PLUGIN_DEFINE only: the descriptor's size, without an
 * old-style cast in C++ (which -Wold-style-cast rejects). */
#ifdef __cplusplus
#define POPLAR_PLUGIN_DESCRIPTOR_SIZE_ \
  static_cast<uint32_t>(sizeof(PoplarPluginDescriptor))
#else
#define POPLAR_PLUGIN_DESCRIPTOR_SIZE_ \
  ((uint32_t)sizeof(PoplarPluginDescriptor))
#endif

/**
 * POPLAR_PLUGIN_DEFINE:
 * @ident: the plugin's name with '-' written as '_' (store_maildir for
 * store-maildir.so); the getter's name is made from it so that no two
 * plugins export the same symbol
 * @version, @description: string literals
 * @preinit, @init, @fini: functions or NULL
 *
 * Defines and exports the plugin's descriptor getter, with C linkage also
 * when compiled as C++ (since 1.1; use it at file or namespace scope).
 * The descriptor is static and constant: the loader copies it and keeps
 * the string pointers as long as the plugin is loaded.
 * Since: 1.0
 */
#define POPLAR_PLUGIN_DEFINE(ident, version, description, preinit, init, fini) \
  POPLAR_PLUGIN_C_LINKAGE POPLAR_API const PoplarPluginDescriptor            \
      *POPLAR_PLUGIN_GETTER(ident)(void);                                     \
  const PoplarPluginDescriptor *POPLAR_PLUGIN_GETTER(ident)(void)             \
  {                                                                           \
    static const PoplarPluginDescriptor poplar_descriptor_ = {                \
        POPLAR_PLUGIN_MAGIC,                                                  \
        POPLAR_ABI_MAJOR,                                                     \
        POPLAR_TARGET_ABI_MINOR,                                              \
        POPLAR_PLUGIN_DESCRIPTOR_SIZE_,                                       \
        #ident,                                                               \
        (version),                                                            \
        (description),                                                        \
        (preinit),                                                            \
        (init),                                                               \
        (fini),                                                               \
    };                                                                        \
    return &poplar_descriptor_;                                               \
  }

POPLAR_END_DECLS

#endif /* POPLAR_PLUGIN_H */
