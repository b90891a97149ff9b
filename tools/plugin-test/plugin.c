/* SPDX-License-Identifier: MIT */
/*
 * Loading the plugin under test exactly as poplard does (core/server.c):
 * the core's loader checks the file and its descriptor, preinit and init
 * run with the plugin's section, and at the end every table's destroy runs
 * before fini, then the shared object is unloaded.
 */
#include "kit.h"

#include "plugin-loader.h"

static void report_config_messages(KitReport *report, const char *name,
                                   GPtrArray *lines, guint from)
{
  for (guint i = from; i < lines->len; i++)
    kit_fail(report, name, "%s", (const char *)g_ptr_array_index(lines, i));
}

static bool run_step(KitPlugin *kp, bool init, KitReport *report)
{
  PoplarPlugin *plugin = kp->plugin;
  const char *name = init ? "plugin.init" : "plugin.preinit";
  PoplarPluginInitFunc step = init ? plugin->desc.init : plugin->desc.preinit;
  guint errors_before = kp->config->errors->len;
  bool ok = true;
  if (step) {
    plugin->registering = init;
    plugin->init_called |= init;
    ok = step(plugin, plugin->config);
    plugin->registering = false;
  }
  if (init)
    ok = poplarpriv_plugin_init_done(plugin, ok);
  if (init && ok) {
    /* What poplard reports after init: keys nobody read. */
    poplarpriv_config_report_unused(plugin->config);
  }
  if (kp->config->errors->len > errors_before) {
    report_config_messages(report, name, kp->config->errors, errors_before);
    return false;
  }
  kit_check(report, ok, name, "returned false (see the log: --verbose)");
  return ok;
}

bool kit_plugin_load(KitPlugin *kp, const KitOptions *opts,
                     KitReport *report)
{
  memset(kp, 0, sizeof *kp);
  if (opts->config_path)
    kp->config = poplarpriv_config_load(opts->config_path);
  else
    kp->config = poplarpriv_config_parse("(no configuration)", "", 0);
  if (kp->config->errors->len > 0) {
    report_config_messages(report, "plugin.config", kp->config->errors, 0);
    return false;
  }
  kp->registry = poplarpriv_registry_new();
  if (!poplard_loader_init()) {
    kit_fail(report, "plugin.load", "cannot initialise libltdl");
    return false;
  }

  g_autofree char *error = NULL;
  kp->plugin = poplard_loader_load(kp->registry, NULL, opts->plugin_path,
                                   &error);
  if (!kp->plugin) {
    kit_fail(report, "plugin.load", "%s", error);
    return false;
  }
  const char *section = opts->section ? opts->section : kp->plugin->name;
  if (opts->section && !poplarpriv_config_section(kp->config, section)) {
    kit_fail(report, "plugin.load", "%s has no section [%s]",
             opts->config_path ? opts->config_path : "the configuration",
             section);
    return false;
  }
  kp->plugin->config = poplarpriv_config_section_ensure(kp->config, section);
  kit_pass(report, "plugin.load", "%s %s, ABI %u.%u", kp->plugin->name,
           kp->plugin->desc.version, kp->plugin->desc.abi_major,
           kp->plugin->desc.abi_minor);
  if (!run_step(kp, false, report) || !run_step(kp, true, report))
    return false;
  return true;
}

/* How long a plugin's own threads get to show they outlive fini. */
#define AFTER_FINI_WAIT_US (300 * 1000)

void kit_plugin_unload(KitPlugin *kp, KitReport *report)
{
  if (kp->registry) {
    GPtrArray *plugins = g_ptr_array_ref(kp->registry->plugins);
    /* Tables' destroy first, then fini, then unmapping: core/server.c. */
    g_ptr_array_set_size(kp->registry->passdbs, 0);
    g_ptr_array_set_size(kp->registry->stores, 0);
    g_ptr_array_set_size(kp->registry->hooks, 0);
    g_ptr_array_set_size(kp->registry->mechs, 0);
    for (guint i = plugins->len; i-- > 0;) {
      PoplarPlugin *plugin = g_ptr_array_index(plugins, i);
      if (plugin->desc.fini && plugin->init_called)
        plugin->desc.fini(plugin);
    }
    if (kp->plugin && kp->plugin->init_called) {
      unsigned before = kit_log_count();
      g_usleep(AFTER_FINI_WAIT_US);
      unsigned after = kit_log_count();
      kit_check(report, after == before, "plugin.quiet-after-fini",
                "%u messages logged after fini returned: a thread of the "
                "plugin still runs", after - before);
    }
    /* The shared objects stay mapped until the kit exits (no
     * poplard_loader_unload_all(), no lt_dlexit()): a leak report at exit
     * then names the plugin's functions, and what its libraries keep for
     * the life of the process (libldap's global options) is still
     * reachable rather than a leak of a library already gone. */
    poplarpriv_registry_free(kp->registry);
    g_ptr_array_unref(plugins);
    kp->registry = NULL;
  }
  if (kp->config)
    poplarpriv_config_free(kp->config);
  kp->config = NULL;
}
