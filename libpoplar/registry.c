/* SPDX-License-Identifier: MIT */
/*
 * What plugins register.  Every ops table is copied into zeroed memory of
 * the size this library knows, taking no more than the plugin's sizeof: a
 * plugin built against an older minor leaves the newer members NULL.
 */
#include "poplar-private.h"

#include <string.h>

#define COPY_OPS(dst, src, size) \
  memcpy(&(dst), (src), MIN((size), sizeof(dst)))

static bool check_registration(PoplarPlugin *plugin, const void *ops,
                               size_t ops_size, const char *what)
{
  if (!plugin) {
    poplarpriv_log(NULL, POPLAR_LOG_ERROR, "%s registered without a plugin",
                   what);
    return false;
  }
  if (!plugin->registering) {
    poplar_log(plugin, POPLAR_LOG_ERROR,
               "%s registered outside init: ignored", what);
    return false;
  }
  if (!ops || ops_size == 0) {
    poplar_log(plugin, POPLAR_LOG_ERROR, "%s registered without ops", what);
    return false;
  }
  return true;
}

/* RFC 4422 3.1: a mechanism name is 1 to 20 characters. */
#define SASL_MECH_NAME_MAX 20
#define STORE_SCHEME_MAX 40

static bool valid_token(const char *s, size_t max_len, bool upper)
{
  if (!s || !s[0] || strlen(s) > max_len)
    return false;
  for (const char *p = s; *p; p++) {
    bool ok = g_ascii_isalnum(*p) || *p == '-' || *p == '_';
    if (!ok || (upper && g_ascii_islower(*p)))
      return false;
  }
  return true;
}

bool poplar_register_passdb(PoplarPlugin *plugin, const char *name,
                            const PoplarPassdbOps *ops, size_t ops_size,
                            void *data)
{
  if (!check_registration(plugin, ops, ops_size, "passdb"))
    return false;
  PoplarPassdbEntry *e = g_new0(PoplarPassdbEntry, 1);
  e->plugin = plugin;
  e->name = g_strdup(name ? name : plugin->name);
  COPY_OPS(e->ops, ops, ops_size);
  e->data = data;
  g_ptr_array_add(plugin->registry->passdbs, e);
  return true;
}

bool poplar_register_store(PoplarPlugin *plugin, const char *scheme,
                           const PoplarStoreOps *ops, size_t ops_size,
                           void *data)
{
  if (!check_registration(plugin, ops, ops_size, "store"))
    return false;
  if (!valid_token(scheme, STORE_SCHEME_MAX, false)) {
    poplar_log(plugin, POPLAR_LOG_ERROR,
               "store scheme '%s' is not a short word of letters, digits, "
               "'-' or '_'", scheme ? scheme : "(null)");
    return false;
  }
  const PoplarStoreEntry *prev =
      poplarpriv_registry_store(plugin->registry, scheme);
  if (prev) {
    poplar_log(plugin, POPLAR_LOG_ERROR,
               "store scheme '%s:' is already provided by plugin %s", scheme,
               prev->plugin->name);
    return false;
  }
  PoplarStoreEntry *e = g_new0(PoplarStoreEntry, 1);
  e->plugin = plugin;
  e->scheme = g_strdup(scheme);
  COPY_OPS(e->ops, ops, ops_size);
  e->data = data;
  if (!e->ops.open || !e->ops.message_open || !e->ops.message_read ||
      !e->ops.message_close || !e->ops.expunge || !e->ops.close) {
    poplar_log(plugin, POPLAR_LOG_ERROR,
               "store '%s:' leaves a required operation NULL", scheme);
    g_free(e->scheme);
    g_free(e);
    return false;
  }
  g_ptr_array_add(plugin->registry->stores, e);
  return true;
}

bool poplar_register_hook(PoplarPlugin *plugin, const PoplarHookOps *ops,
                          size_t ops_size, void *data)
{
  if (!check_registration(plugin, ops, ops_size, "hook"))
    return false;
  PoplarHookEntry *e = g_new0(PoplarHookEntry, 1);
  e->plugin = plugin;
  COPY_OPS(e->ops, ops, ops_size);
  e->data = data;
  g_ptr_array_add(plugin->registry->hooks, e);
  return true;
}

bool poplar_register_sasl_mechanism(PoplarPlugin *plugin, const char *name,
                                    unsigned flags,
                                    const PoplarSaslMechOps *ops,
                                    size_t ops_size, void *data)
{
  if (!check_registration(plugin, ops, ops_size, "SASL mechanism"))
    return false;
  if (!valid_token(name, SASL_MECH_NAME_MAX, true)) {
    poplar_log(plugin, POPLAR_LOG_ERROR,
               "SASL mechanism name '%s' is not 1-20 upper-case letters, "
               "digits, '-' or '_'", name ? name : "(null)");
    return false;
  }
  const PoplarSaslEntry *prev = poplarpriv_registry_mech(plugin->registry,
                                                         name);
  if (prev) {
    poplar_log(plugin, POPLAR_LOG_ERROR,
               "SASL mechanism %s is already provided by plugin %s", name,
               prev->plugin->name);
    return false;
  }
  PoplarSaslEntry *e = g_new0(PoplarSaslEntry, 1);
  e->plugin = plugin;
  e->name = g_strdup(name);
  e->flags = flags;
  COPY_OPS(e->ops, ops, ops_size);
  e->data = data;
  if (!e->ops.start || !e->ops.step || !e->ops.finish) {
    poplar_log(plugin, POPLAR_LOG_ERROR,
               "SASL mechanism %s leaves a required operation NULL", name);
    g_free(e->name);
    g_free(e);
    return false;
  }
  g_ptr_array_add(plugin->registry->mechs, e);
  return true;
}

static void passdb_entry_free(gpointer p)
{
  PoplarPassdbEntry *e = p;
  if (e->ops.destroy)
    e->ops.destroy(e->data);
  g_free(e->name);
  g_free(e);
}

static void store_entry_free(gpointer p)
{
  PoplarStoreEntry *e = p;
  if (e->ops.destroy)
    e->ops.destroy(e->data);
  g_free(e->scheme);
  g_free(e);
}

static void hook_entry_free(gpointer p)
{
  PoplarHookEntry *e = p;
  if (e->ops.destroy)
    e->ops.destroy(e->data);
  g_free(e);
}

static void mech_entry_free(gpointer p)
{
  PoplarSaslEntry *e = p;
  if (e->ops.destroy)
    e->ops.destroy(e->data);
  g_free(e->name);
  g_free(e);
}

static void plugin_free(gpointer p)
{
  PoplarPlugin *plugin = p;
  g_free(plugin->name);
  g_free(plugin->path);
  g_free(plugin);
}

PoplarRegistry *poplarpriv_registry_new(void)
{
  PoplarRegistry *r = g_new0(PoplarRegistry, 1);
  r->plugins = g_ptr_array_new_with_free_func(plugin_free);
  r->passdbs = g_ptr_array_new_with_free_func(passdb_entry_free);
  r->stores = g_ptr_array_new_with_free_func(store_entry_free);
  r->hooks = g_ptr_array_new_with_free_func(hook_entry_free);
  r->mechs = g_ptr_array_new_with_free_func(mech_entry_free);
  return r;
}

void poplarpriv_registry_free(PoplarRegistry *r)
{
  if (!r)
    return;
  g_ptr_array_unref(r->mechs);
  g_ptr_array_unref(r->hooks);
  g_ptr_array_unref(r->stores);
  g_ptr_array_unref(r->passdbs);
  g_ptr_array_unref(r->plugins);
  g_free(r);
}

PoplarPlugin *poplarpriv_plugin_new(PoplarRegistry *registry, const char *name,
                                    const char *path)
{
  PoplarPlugin *plugin = g_new0(PoplarPlugin, 1);
  plugin->name = g_strdup(name);
  plugin->path = g_strdup(path);
  plugin->registry = registry;
  plugin->index = registry->plugins->len;
  g_ptr_array_add(registry->plugins, plugin);
  return plugin;
}

const char *poplar_plugin_name(const PoplarPlugin *plugin)
{
  return plugin->name;
}

void poplar_plugin_set_data(PoplarPlugin *plugin, void *data)
{
  plugin->data = data;
}

void *poplar_plugin_get_data(const PoplarPlugin *plugin)
{
  return plugin->data;
}

const PoplarStoreEntry *poplarpriv_registry_store(const PoplarRegistry *r,
                                                  const char *scheme)
{
  for (guint i = 0; i < r->stores->len; i++) {
    const PoplarStoreEntry *e = g_ptr_array_index(r->stores, i);
    if (strcmp(e->scheme, scheme) == 0)
      return e;
  }
  return NULL;
}

const PoplarSaslEntry *poplarpriv_registry_mech(const PoplarRegistry *r,
                                                const char *name)
{
  for (guint i = 0; i < r->mechs->len; i++) {
    const PoplarSaslEntry *e = g_ptr_array_index(r->mechs, i);
    if (g_ascii_strcasecmp(e->name, name) == 0)
      return e;
  }
  return NULL;
}

bool poplarpriv_registry_has_hook(const PoplarRegistry *r, size_t offset)
{
  for (guint i = 0; i < r->hooks->len; i++) {
    const PoplarHookEntry *e = g_ptr_array_index(r->hooks, i);
    void *fn;
    memcpy(&fn, (const char *)&e->ops + offset, sizeof fn);
    if (fn)
      return true;
  }
  return false;
}
