/* SPDX-License-Identifier: MIT */
/*
 * poplar-plugin-test PLUGIN.so: loads one plugin as poplard does and runs
 * the contract of everything it registers.  Exit status: 0 when every
 * check passed, 1 when one failed, 2 on a usage error.
 */
#include "kit.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>

static void check_registrations(KitPlugin *kp, KitReport *report)
{
  const PoplarRegistry *r = kp->registry;
  unsigned total = r->stores->len + r->passdbs->len + r->hooks->len +
                   r->mechs->len;
  kit_check(report, total > 0, "plugin.registers",
            "init registered nothing, so poplard would never call it");
  if (r->mechs->len > 0)
    kit_skip(report, "sasl", "%u SASL mechanism(s) registered: the kit has "
             "no SASL contract yet; test them with a POP3 client",
             r->mechs->len);
}

int main(int argc, char **argv)
{
  setlocale(LC_ALL, "");
  KitOptions opts;
  GError *error = NULL;
  if (!kit_options_parse(&opts, &argc, &argv, &error)) {
    fprintf(stderr, "poplar-plugin-test: %s\n", error->message);
    g_error_free(error);
    kit_options_clear(&opts);
    return 2;
  }
  /* The loader takes a name without '/' for one in the plugin directory;
   * the kit always means a file. */
  if (!strchr(opts.plugin_path, '/')) {
    char *path = g_strconcat("./", opts.plugin_path, NULL);
    g_free(opts.plugin_path);
    opts.plugin_path = path;
  }

  kit_log_init(opts.verbose);
  KitReport *report = kit_report_new(opts.tap);
  KitPlugin kp;
  if (kit_plugin_load(&kp, &opts, report)) {
    check_registrations(&kp, report);
    kit_check_stores(&kp, &opts, report);
    kit_check_passdbs(&kp, &opts, report);
    kit_check_hooks(&kp, &opts, report);
  }
  kit_plugin_unload(&kp, report);
  unsigned failed = kit_report_finish(report);
  kit_report_free(report);
  kit_log_shutdown();
  kit_options_clear(&opts);
  return failed ? 1 : 0;
}
