/* SPDX-License-Identifier: MIT */
/*
 * Start-up is split around the privilege drop, as Postfix does it: read the
 * config, load plugins and run their preinit as root; bind the listeners;
 * drop to the configured user; run init (which registers what plugins
 * provide); then start the loop threads and the plugin pool.
 */
#include "server.h"

#include <string.h>
#include <unistd.h>

#include "backend-proxy.h"
#include "client.h"
#include "listener.h"
#include "login.h"
#include "master-login.h"
#include "plugin-loader.h"
#include "poplar-limits.h"
#include "privileges.h"

static guint error_count(const PoplarServer *server)
{
  return server->config_file->errors->len;
}

static bool load_plugins(PoplarServer *server)
{
  PoplarConfig *section =
      poplarpriv_config_section_ensure(server->config_file, "plugins");
  bool ok = true;
  for (char **spec = server->cfg.load; *spec; spec++) {
    g_autofree char *error = NULL;
    PoplarPlugin *plugin = poplard_loader_load(
        server->registry, server->cfg.plugin_dir, *spec, &error);
    if (!plugin) {
      poplar_config_error(section, "load", "plugin refused: %s", error);
      ok = false;
      continue;
    }
    plugin->config =
        poplarpriv_config_section_ensure(server->config_file, plugin->name);
  }
  return ok;
}

typedef bool (*PluginStep)(PoplarPlugin *plugin, PoplarConfig *config);

static bool run_step(PoplarServer *server, const char *what, bool init)
{
  bool ok = true;
  for (guint i = 0; i < server->registry->plugins->len; i++) {
    PoplarPlugin *plugin = g_ptr_array_index(server->registry->plugins, i);
    PluginStep step = init ? plugin->desc.init : plugin->desc.preinit;
    guint before = error_count(server);
    bool step_ok = true;
    if (step) {
      plugin->registering = init;
      plugin->init_called |= init;
      step_ok = step(plugin, plugin->config);
      plugin->registering = false;
    }
    if (init)
      step_ok = poplarpriv_plugin_init_done(plugin, step_ok);
    if (!step_ok) {
      ok = false;
      if (error_count(server) == before)
        poplar_config_error(plugin->config, NULL,
                            "plugin %s: %s failed (see the log above)",
                            plugin->name, what);
    }
  }
  return ok;
}

static bool known_section(PoplarServer *server, const char *name)
{
  if (strcmp(name, "server") == 0 || strcmp(name, "plugins") == 0 ||
      strcmp(name, "tls") == 0 || strcmp(name, "control") == 0 ||
      strcmp(name, "metrics") == 0 || strcmp(name, "proxy") == 0)
    return true;
  for (guint i = 0; i < server->registry->plugins->len; i++) {
    PoplarPlugin *plugin = g_ptr_array_index(server->registry->plugins, i);
    if (strcmp(plugin->name, name) == 0)
      return true;
  }
  return false;
}

/* After init: keys nobody read, sections nobody owns, a default mail
 * location no store serves, no store at all. */
static bool check_after_init(PoplarServer *server)
{
  PoplarConfigFile *file = server->config_file;
  guint before = error_count(server);
  for (guint i = 0; i < server->registry->plugins->len; i++) {
    PoplarPlugin *plugin = g_ptr_array_index(server->registry->plugins, i);
    poplarpriv_config_report_unused(plugin->config);
  }
  for (guint i = 0; i < file->sections->len; i++) {
    PoplarConfig *section = g_ptr_array_index(file->sections, i);
    if (!section->synthetic && !known_section(server, section->name))
      poplar_config_error(section, NULL,
                          "unknown section: no loaded plugin is named '%s' "
                          "(is it in [plugins] load?)", section->name);
  }
  g_autofree char *scheme = g_strdup(server->cfg.mail);
  char *colon = scheme ? strchr(scheme, ':') : NULL;
  if (!scheme && server->registry->stores->len == 0)
    /* Not an error: a site may be set up in steps.  But every login
     * would end in -ERR [SYS/PERM]. */
    poplar_config_warning(
        poplarpriv_config_section_ensure(file, "plugins"), "load",
        "no loaded plugin provides a mail store (e.g. store-maildir), so "
        "no login can open a mailbox");
  if (colon) {
    *colon = '\0';
    if (!poplarpriv_registry_store(server->registry, scheme))
      poplar_config_error(
          poplarpriv_config_section_ensure(file, "server"), "mail",
          "no loaded plugin provides the store '%s:' (add it to [plugins] "
          "load, e.g. store-%s)", scheme, scheme);
  }
  if (server->registry->passdbs->len == 0 &&
      server->registry->mechs->len == 0)
    poplar_config_error(poplarpriv_config_section_ensure(file, "plugins"),
                        "load",
                        "no loaded plugin provides a password database, so "
                        "nobody can log in (add auth-passwd-file)");
  server->apop = poplard_auth_can_supply_secrets(server->registry);
  poplard_master_setup(server);
  return error_count(server) == before;
}

bool poplard_server_setup(PoplarServer *server, const char *config_path,
                         const char *plugin_dir, bool check_only)
{
  g_mutex_init(&server->tls_lock);
  g_mutex_init(&server->backend_lock);
  server->broker_fd = -1;
  server->config_file = poplarpriv_config_load(config_path);
  bool ok = error_count(server) == 0;
  ok &= poplard_server_config_read(&server->cfg, server->config_file,
                                  plugin_dir);
  poplarpriv_set_log_level(server->cfg.log_level);
  server->registry = poplarpriv_registry_new();
  if (!poplard_loader_init()) {
    poplar_config_error(
        poplarpriv_config_section_ensure(server->config_file, "plugins"),
        NULL, "cannot initialise the plugin loader (libltdl)");
    return false;
  }
  ok &= load_plugins(server);
  if (!ok && !check_only)
    return false;
  ok &= run_step(server, "preinit", false);
  if (check_only) {
    /* Load the certificates too: a key that does not match, or a file that
     * is not PEM, must fail the check (and so a reload), not the start. */
    if (server->cfg.tls.certificates[0]) {
      char *err = NULL;
      PoplarTls *tls = poplard_tls_new(&server->cfg.tls, &err);
      if (!tls) {
        poplar_config_error(
            poplarpriv_config_section_ensure(server->config_file, "tls"),
            "certificates", "%s", err);
        g_free(err);
        ok = false;
      }
      poplard_tls_unref(tls);
    }
    /* init runs as it would in a worker: files a plugin creates (an audit
     * log) then belong to the server's user, not to root. */
    if (geteuid() == 0 && server->cfg.user) {
      char *err = NULL;
      if (!poplard_drop_privileges(server->cfg.user, server->cfg.group,
                                  server->cfg.allow_root, &err)) {
        poplar_config_error(
            poplarpriv_config_section_ensure(server->config_file, "server"),
            "user", "%s", err);
        g_free(err);
        return false;
      }
    }
    ok &= run_step(server, "init", true);
    ok &= check_after_init(server);
  }
  return ok;
}

static gpointer loop_thread(gpointer data)
{
  poplard_loop_run(data);
  return NULL;
}

void poplard_server_next_session_id(PoplarServer *server, char *out,
                                   size_t size)
{
  unsigned n = (unsigned)g_atomic_int_add((gint *)&server->session_counter,
                                          1);
  g_snprintf(out, size, "%s%06x", server->session_prefix, n & 0xffffffu);
}

PoplarTls *poplard_server_tls(PoplarServer *server)
{
  g_mutex_lock(&server->tls_lock);
  PoplarTls *tls = server->tls ? poplard_tls_ref(server->tls) : NULL;
  g_mutex_unlock(&server->tls_lock);
  return tls;
}

bool poplard_server_reload_tls(PoplarServer *server, char **error)
{
  if (!server->cfg.tls.certificates[0])
    return true;
  PoplarTls *fresh = poplard_tls_new(&server->cfg.tls, error);
  if (!fresh)
    return false;
  g_mutex_lock(&server->tls_lock);
  PoplarTls *old = server->tls;
  server->tls = fresh;
  g_mutex_unlock(&server->tls_lock);
  poplard_tls_unref(old);
  return true;
}

/* Takes an inherited socket bound to @spec, if there is one. */
static PoplarListener *take_inherited(GPtrArray *inherited, const char *spec)
{
  for (guint i = 0; i < inherited->len; i++) {
    PoplarListener *l = g_ptr_array_index(inherited, i);
    if (poplard_listener_matches(l, spec))
      return g_ptr_array_steal_index(inherited, i);
  }
  return NULL;
}

static bool bind_all(PoplarServer *server, GPtrArray *inherited,
                     char **specs, bool tls, GString *error)
{
  for (char **spec = specs; *spec; spec++) {
    PoplarListener *l = take_inherited(inherited, *spec);
    if (l) {
      poplard_listener_set_tls(l, tls);
    } else {
      char *err = NULL;
      l = poplard_listener_bind(*spec, tls, &err);
      if (!l) {
        g_string_append_printf(error, "%s\n", err);
        g_free(err);
        return false;
      }
    }
    g_ptr_array_add(server->listeners, l);
  }
  return true;
}

bool poplard_server_bind(PoplarServer *server, const int *inherited_fds,
                        unsigned n_inherited, GString *error)
{
  PoplarServerConfig *cfg = &server->cfg;
  server->listeners = g_ptr_array_new_with_free_func(
      (GDestroyNotify)poplard_listener_free);
  g_autoptr(GPtrArray) inherited = g_ptr_array_new_with_free_func(
      (GDestroyNotify)poplard_listener_free);
  for (unsigned i = 0; i < n_inherited; i++) {
    PoplarListener *l = poplard_listener_adopt(inherited_fds[i], false);
    if (l)
      g_ptr_array_add(inherited, l);
    else
      poplarpriv_log(NULL, POPLAR_LOG_WARNING,
                     "inherited descriptor %d is not a listening socket: "
                     "ignored", inherited_fds[i]);
  }
  if (!bind_all(server, inherited, cfg->listen, false, error) ||
      !bind_all(server, inherited, cfg->listen_tls, true, error))
    return false;
  for (guint i = 0; i < inherited->len; i++)
    poplarpriv_log(NULL, POPLAR_LOG_WARNING,
                   "inherited socket %s matches no listen or listen-tls "
                   "address: closed",
                   poplard_listener_address(g_ptr_array_index(inherited, i)));
  /* Key files are often readable by root only: load them before the
   * privilege drop. */
  char *tls_err = NULL;
  if (!poplard_server_reload_tls(server, &tls_err)) {
    g_string_append_printf(error, "[tls] %s\n", tls_err);
    g_free(tls_err);
    return false;
  }
  for (guint i = 0; i < server->listeners->len; i++) {
    PoplarListener *l = g_ptr_array_index(server->listeners, i);
    poplarpriv_log(NULL, POPLAR_LOG_INFO, "listening on %s%s",
                   poplard_listener_address(l),
                   poplard_listener_is_tls(l) ? " (TLS)" : "");
  }
  return true;
}

/* Everything but the threads: listeners are watched, but a connection
 * waits in the backlog until poplard_server_start_loops(). */
static bool prepare_loops(PoplarServer *server, GString *error)
{
  PoplarServerConfig *cfg = &server->cfg;
  guint warned = server->config_file->warnings->len;
  bool ok = run_step(server, "init", true);
  ok &= check_after_init(server);
  GPtrArray *warnings = server->config_file->warnings;
  for (guint i = warned; i < warnings->len; i++)
    poplarpriv_log(NULL, POPLAR_LOG_WARNING, "%s",
                   (const char *)warnings->pdata[i]);
  if (!ok) {
    GPtrArray *errors = server->config_file->errors;
    for (guint i = 0; i < errors->len; i++)
      g_string_append_printf(error, "%s\n", (char *)errors->pdata[i]);
    return false;
  }

  /* Session ids: a per-process random prefix keeps them unique across
   * workers, restarts and nodes as far as log correlation needs. */
  g_snprintf(server->session_prefix, sizeof server->session_prefix, "%06x",
             g_random_int() & 0xffffffu);
  server->limits = poplard_conn_limits_new(cfg->max_connections,
                                          cfg->max_connections_per_ip);
  server->throttle = poplard_throttle_new(
      cfg->auth_failure_delay_ms, cfg->auth_failure_delay_max_ms,
      cfg->auth_failure_window_ms, POPLAR_THROTTLE_ENTRIES);
  server->pool = poplard_pool_new(poplard_client_job_thread, server,
                                  cfg->plugin_threads);
  server->n_loops = cfg->threads;
  server->loops = g_new0(PoplarLoop *, server->n_loops);
  server->loop_clients = g_new0(PoplarLoopClients, server->n_loops);
  server->threads = g_new0(GThread *, server->n_loops);
  for (unsigned i = 0; i < server->n_loops; i++) {
    server->loops[i] = poplard_loop_new();
    if (!server->loops[i]) {
      g_string_append(error, "cannot create an event loop (epoll)\n");
      return false;
    }
  }
  for (guint i = 0; i < server->listeners->len; i++) {
    PoplarListener *l = g_ptr_array_index(server->listeners, i);
    if (!poplard_listener_attach(l, server)) {
      g_string_append_printf(error, "cannot watch listener %s\n",
                             poplard_listener_address(l));
      return false;
    }
  }
  server->memory_trim =
      poplard_memory_trim_start(server->loops[0], &server->session_counter);
  return true;
}

void poplard_server_start_loops(PoplarServer *server)
{
  for (unsigned i = 0; i < server->n_loops; i++) {
    g_autofree char *name = g_strdup_printf("loop-%u", i);
    server->threads[i] = g_thread_new(name, loop_thread, server->loops[i]);
  }
}

bool poplard_server_prepare(PoplarServer *server, GString *error)
{
  PoplarServerConfig *cfg = &server->cfg;
  char *err = NULL;
  if (!poplard_drop_privileges(cfg->user, cfg->group, cfg->allow_root, &err)) {
    g_string_append_printf(error, "%s\n", err);
    g_free(err);
    return false;
  }
  return prepare_loops(server, error);
}

bool poplard_server_run(PoplarServer *server, GString *error)
{
  if (!poplard_server_prepare(server, error))
    return false;
  poplard_server_start_loops(server);
  return true;
}

bool poplard_server_serve(PoplarServer *server, GString *error)
{
  if (!prepare_loops(server, error))
    return false;
  poplard_server_start_loops(server);
  return true;
}

bool poplard_server_start(PoplarServer *server, GString *error)
{
  return poplard_server_bind(server, NULL, 0, error) &&
         poplard_server_run(server, error);
}

static void wait_for_sessions(PoplarServer *server, int64_t deadline)
{
  while (g_atomic_int_get(&server->live_sessions) > 0 &&
         g_get_monotonic_time() < deadline)
    g_usleep(10 * 1000);
}

void poplard_server_stop(PoplarServer *server, uint64_t grace_ms)
{
  if (!server->loops)
    return;
  g_atomic_int_set(&server->stopping, 1);
  for (guint i = 0; i < server->listeners->len; i++)
    poplard_listener_detach(g_ptr_array_index(server->listeners, i), server);
  /* Live sessions may finish (a client in the middle of a download is
   * not cut off by a reload) until the grace time is up. */
  wait_for_sessions(server,
                    g_get_monotonic_time() + (int64_t)grace_ms * 1000);
  int left = g_atomic_int_get(&server->live_sessions);
  if (left > 0)
    poplarpriv_log(NULL, POPLAR_LOG_INFO,
                   "closing %d sessions still open (nothing they marked is "
                   "deleted)", left);
  for (unsigned i = 0; i < server->n_loops; i++)
    poplard_loop_invoke(server->loops[i], poplard_client_close_all,
                       &server->loop_clients[i]);
  /* Ending a session calls plugins (unlocking mailboxes): bounded too. */
  wait_for_sessions(server, g_get_monotonic_time() + 10 * G_USEC_PER_SEC);
  for (unsigned i = 0; i < server->n_loops; i++)
    poplard_loop_quit(server->loops[i]);
  for (unsigned i = 0; i < server->n_loops; i++)
    if (server->threads[i])
      g_thread_join(server->threads[i]);
}

void poplard_server_free(PoplarServer *server)
{
  poplard_pool_free(server->pool);
  if (server->listeners)
    g_ptr_array_unref(server->listeners);
  for (unsigned i = 0; i < server->n_loops; i++)
    poplard_loop_free(server->loops[i]);
  g_free(server->loops);
  if (server->memory_trim)
    poplard_memory_trim_free(server->memory_trim);
  g_free(server->loop_clients);
  g_free(server->threads);
  if (server->registry) {
    /* Tables' destroy first, then each plugin's fini, then unmapping. */
    GPtrArray *plugins = g_ptr_array_ref(server->registry->plugins);
    g_ptr_array_set_size(server->registry->passdbs, 0);
    g_ptr_array_set_size(server->registry->stores, 0);
    g_ptr_array_set_size(server->registry->hooks, 0);
    g_ptr_array_set_size(server->registry->mechs, 0);
    for (guint i = plugins->len; i-- > 0;) {
      PoplarPlugin *plugin = g_ptr_array_index(plugins, i);
      if (plugin->desc.fini && plugin->init_called)
        plugin->desc.fini(plugin);
    }
    poplard_loader_unload_all(plugins);
    poplarpriv_registry_free(server->registry);
    g_ptr_array_unref(plugins);
  }
  poplard_loader_shutdown();
  poplard_tls_unref(server->tls);
  g_mutex_clear(&server->tls_lock);
  poplard_backend_proxy_cleanup(server);
  g_mutex_clear(&server->backend_lock);
  poplard_conn_limits_free(server->limits);
  poplard_throttle_free(server->throttle);
  poplard_server_config_clear(&server->cfg);
  poplarpriv_config_free(server->config_file);
}
