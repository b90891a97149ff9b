/* SPDX-License-Identifier: MIT */
/*
 * What plugins register.  Every ops table is copied into zeroed memory of
 * the size this library knows, taking no more than the plugin's sizeof: a
 * plugin built against an older minor leaves the newer members NULL.
 */
#include "poplar-private.h"

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#define COPY_OPS(dst, src, size) \
  memcpy(&(dst), (src), MIN((size), sizeof(dst)))

/* The size of an ops table in ABI 1.0: up to and including its last 1.0
 * member, so that members appended in later minors do not change it.  A
 * smaller size is a mistake (often sizeof a pointer to the table), never
 * an older plugin. */
#define OPS_1_0_SIZE(type, last_member) \
  (offsetof(type, last_member) + sizeof(((type *)NULL)->last_member))

static const size_t passdb_ops_1_0 = OPS_1_0_SIZE(PoplarPassdbOps, destroy);
static const size_t store_ops_1_0 = OPS_1_0_SIZE(PoplarStoreOps, destroy);
static const size_t hook_ops_1_0 = OPS_1_0_SIZE(PoplarHookOps, destroy);
static const size_t sasl_ops_1_0 = OPS_1_0_SIZE(PoplarSaslMechOps, destroy);

/* Refuses a registration made inside init.  It is a configuration error
 * of the plugin's section, so --check-config and start-up fail with it
 * even when the plugin ignores the false it gets back (a plugin driven
 * without a configuration, as in unit tests, gets a log line). */
POPLAR_PRINTF(2, 3)
static bool refuse(PoplarPlugin *plugin, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  plugin->refused++;
  if (plugin->config)
    poplar_config_error(plugin->config, NULL, "plugin %s: %s", plugin->name,
                        msg);
  else
    poplar_log(plugin, POPLAR_LOG_ERROR, "%s", msg);
  return false;
}

static bool check_registration(PoplarPlugin *plugin, const void *ops,
                               size_t ops_size, size_t size_1_0,
                               const char *what, const char *type)
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
  if (!ops || ops_size == 0)
    return refuse(plugin, "%s registered without ops", what);
  if (ops_size < size_1_0)
    return refuse(plugin,
                  "%s registered with ops_size %zu, smaller than ABI 1.0's "
                  "%s (%zu bytes): refused; pass sizeof the table "
                  "(sizeof(%s)), not of a pointer to it",
                  what, ops_size, type, size_1_0, type);
  return true;
}

/* Names the required members of a table that are NULL, comma-separated;
 * NULL when none is. */
static char *null_required(const char *const *names, const bool *present,
                           size_t n)
{
  GString *missing = g_string_new(NULL);
  for (size_t i = 0; i < n; i++)
    if (!present[i])
      g_string_append_printf(missing, "%s%s", missing->len ? ", " : "",
                             names[i]);
  if (!missing->len) {
    g_string_free(missing, TRUE);
    return NULL;
  }
  return g_string_free(missing, FALSE);
}

static void registered(PoplarPlugin *plugin)
{
  plugin->registered++;
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
  if (!check_registration(plugin, ops, ops_size, passdb_ops_1_0, "passdb",
                          "PoplarPassdbOps"))
    return false;
  PoplarPassdbEntry *e = g_new0(PoplarPassdbEntry, 1);
  e->plugin = plugin;
  e->name = g_strdup(name ? name : plugin->name);
  COPY_OPS(e->ops, ops, ops_size);
  e->data = data;
  g_ptr_array_add(plugin->registry->passdbs, e);
  registered(plugin);
  return true;
}

bool poplar_register_store(PoplarPlugin *plugin, const char *scheme,
                           const PoplarStoreOps *ops, size_t ops_size,
                           void *data)
{
  if (!check_registration(plugin, ops, ops_size, store_ops_1_0, "store",
                          "PoplarStoreOps"))
    return false;
  if (!valid_token(scheme, STORE_SCHEME_MAX, false))
    return refuse(plugin,
                  "store scheme '%s' is not a short word of letters, digits, "
                  "'-' or '_'", scheme ? scheme : "(null)");
  const PoplarStoreEntry *prev =
      poplarpriv_registry_store(plugin->registry, scheme);
  if (prev)
    return refuse(plugin,
                  "store scheme '%s:' is already provided by plugin %s",
                  scheme, prev->plugin->name);
  PoplarStoreEntry *e = g_new0(PoplarStoreEntry, 1);
  e->plugin = plugin;
  e->scheme = g_strdup(scheme);
  COPY_OPS(e->ops, ops, ops_size);
  e->data = data;
  static const char *const required[] = {
      "open", "message_open", "message_read", "message_close", "expunge",
      "close",
  };
  const bool present[G_N_ELEMENTS(required)] = {
      e->ops.open != NULL,          e->ops.message_open != NULL,
      e->ops.message_read != NULL,  e->ops.message_close != NULL,
      e->ops.expunge != NULL,       e->ops.close != NULL,
  };
  g_autofree char *missing =
      null_required(required, present, G_N_ELEMENTS(required));
  if (missing) {
    g_free(e->scheme);
    g_free(e);
    return refuse(plugin,
                  "store '%s:' leaves a required operation NULL: %s", scheme,
                  missing);
  }
  g_ptr_array_add(plugin->registry->stores, e);
  registered(plugin);
  return true;
}

bool poplar_register_hook(PoplarPlugin *plugin, const PoplarHookOps *ops,
                          size_t ops_size, void *data)
{
  if (!check_registration(plugin, ops, ops_size, hook_ops_1_0, "hook",
                          "PoplarHookOps"))
    return false;
  PoplarHookEntry *e = g_new0(PoplarHookEntry, 1);
  e->plugin = plugin;
  COPY_OPS(e->ops, ops, ops_size);
  e->data = data;
  g_ptr_array_add(plugin->registry->hooks, e);
  registered(plugin);
  return true;
}

bool poplar_register_sasl_mechanism(PoplarPlugin *plugin, const char *name,
                                    unsigned flags,
                                    const PoplarSaslMechOps *ops,
                                    size_t ops_size, void *data)
{
  if (!check_registration(plugin, ops, ops_size, sasl_ops_1_0,
                          "SASL mechanism", "PoplarSaslMechOps"))
    return false;
  if (!valid_token(name, SASL_MECH_NAME_MAX, true))
    return refuse(plugin,
                  "SASL mechanism name '%s' is not 1-20 upper-case letters, "
                  "digits, '-' or '_'", name ? name : "(null)");
  const PoplarSaslEntry *prev = poplarpriv_registry_mech(plugin->registry,
                                                         name);
  if (prev)
    return refuse(plugin,
                  "SASL mechanism %s is already provided by plugin %s", name,
                  prev->plugin->name);
  PoplarSaslEntry *e = g_new0(PoplarSaslEntry, 1);
  e->plugin = plugin;
  e->name = g_strdup(name);
  e->flags = flags;
  COPY_OPS(e->ops, ops, ops_size);
  e->data = data;
  static const char *const required[] = {"start", "step", "finish"};
  const bool present[G_N_ELEMENTS(required)] = {
      e->ops.start != NULL, e->ops.step != NULL, e->ops.finish != NULL,
  };
  g_autofree char *missing =
      null_required(required, present, G_N_ELEMENTS(required));
  if (missing) {
    g_free(e->name);
    g_free(e);
    return refuse(plugin,
                  "SASL mechanism %s leaves a required operation NULL: %s",
                  name, missing);
  }
  g_ptr_array_add(plugin->registry->mechs, e);
  registered(plugin);
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

bool poplarpriv_plugin_init_done(PoplarPlugin *plugin, bool init_ok)
{
  if (plugin->refused)
    return false;
  if (init_ok && plugin->registered == 0) {
    static const char what[] =
        "registered nothing in init (no password database, SASL "
        "mechanism, store or hook), so poplard never calls it: does its "
        "init call poplar_register_*()?";
    if (plugin->config)
      poplar_config_warning(plugin->config, NULL, "plugin %s %s",
                            plugin->name, what);
    else
      poplar_log(plugin, POPLAR_LOG_WARNING, "plugin %s %s", plugin->name,
                 what);
  }
  return init_ok;
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
