/* SPDX-License-Identifier: MIT */
/* poplard: command line, start-up, signals, shutdown. */
#include <errno.h>
#include <glib.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "fd-limit.h"
#include "libpoplar-build.h"
#include "log-sink.h"
#include "master.h"
#include "systemd.h"
#include "plugin-loader.h"
#include "server.h"

typedef struct Options {
  char *config;
  char *plugin_dir;
  gboolean check_config;
  gboolean list_plugins;
  gboolean version;
  gboolean debug;
} Options;

static bool parse_options(int *argc, char ***argv, Options *o)
{
  GOptionEntry entries[] = {
      {"config", 'c', 0, G_OPTION_ARG_FILENAME, &o->config,
       "Configuration file (default " POPLAR_CONFIG_FILE ")", "FILE"},
      {"plugin-dir", 0, 0, G_OPTION_ARG_FILENAME, &o->plugin_dir,
       "Load plugins from DIR instead of [server] plugin-dir", "DIR"},
      {"check-config", 0, 0, G_OPTION_ARG_NONE, &o->check_config,
       "Check the configuration and plugins, report every problem, exit",
       NULL},
      {"list-plugins", 0, 0, G_OPTION_ARG_NONE, &o->list_plugins,
       "List the plugins in the plugin directory and exit", NULL},
      {"version", 0, 0, G_OPTION_ARG_NONE, &o->version,
       "Print the version and exit", NULL},
      {"debug", 'd', 0, G_OPTION_ARG_NONE, &o->debug, "Log debug messages",
       NULL},
      {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
  g_option_context_set_summary(ctx, "Poplar POP3 server.");
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, argc, argv, &error)) {
    fprintf(stderr, "poplard: %s (see poplard --help)\n", error->message);
    return false;
  }
  if (*argc > 1) {
    fprintf(stderr, "poplard: unexpected argument '%s'\n", (*argv)[1]);
    return false;
  }
  if (!o->config)
    o->config = g_strdup(POPLAR_CONFIG_FILE);
  return true;
}

static void print_errors(const PoplarServer *server)
{
  GPtrArray *warnings = server->config_file->warnings;
  for (guint i = 0; i < warnings->len; i++)
    fprintf(stderr, "warning: %s\n", (const char *)warnings->pdata[i]);
  GPtrArray *errors = server->config_file->errors;
  for (guint i = 0; i < errors->len; i++)
    fprintf(stderr, "%s\n", (const char *)errors->pdata[i]);
}

static int list_plugins(const Options *o)
{
  /* The directory: the command line's, else the config file's when it can
   * be read, else the built-in one. */
  g_autofree char *dir = g_strdup(o->plugin_dir);
  if (!dir) {
    PoplarServer probe = {0};
    probe.config_file = poplarpriv_config_load(o->config);
    poplard_server_config_read(&probe.cfg, probe.config_file, NULL);
    dir = g_strdup(probe.cfg.plugin_dir);
    poplard_server_config_clear(&probe.cfg);
    poplarpriv_config_free(probe.config_file);
  }
  if (!poplard_loader_init()) {
    fprintf(stderr, "poplard: cannot initialise libltdl\n");
    return 1;
  }
  g_autoptr(GString) out = g_string_new(NULL);
  printf("Plugins in %s (this poplard provides plugin ABI %d.%d):\n", dir,
         POPLAR_ABI_MAJOR, POPLAR_ABI_MINOR);
  poplard_loader_list(dir, out);
  fputs(out->str, stdout);
  poplard_loader_shutdown();
  return 0;
}

int main(int argc, char **argv)
{
  /* First of all: everything below reads libpoplar's objects. */
  g_autoptr(GString) mismatch = g_string_new(NULL);
  if (!poplard_libpoplar_build_matches(mismatch)) {
    fprintf(stderr, "poplard: not started: %s\n", mismatch->str);
    return 1;
  }
  Options o = {0};
  int status = 0;
  /* Kept whole for the re-execution at reload (option parsing edits
   * argv). */
  char **saved_argv = g_strdupv(argv);
  setlocale(LC_ALL, "");
  if (!parse_options(&argc, &argv, &o)) {
    g_strfreev(saved_argv);
    return 2;
  }
  if (o.version) {
    printf("poplard %s (plugin ABI %d.%d, build %s)\n", POPLAR_VERSION,
           POPLAR_ABI_MAJOR, POPLAR_ABI_MINOR, poplard_build_id());
    goto out;
  }
  poplard_log_sink_install();
  if (o.list_plugins) {
    status = list_plugins(&o);
    goto out;
  }

  if (!o.check_config)
    poplard_master_block_signals();
  PoplarServer server = {0};
  bool ok = poplard_server_setup(&server, o.config, o.plugin_dir,
                                o.check_config);
  if (o.debug)
    poplarpriv_set_log_level(POPLAR_LOG_DEBUG);
  if (o.check_config) {
    print_errors(&server);
    if (ok)
      printf("%s: configuration OK\n", o.config);
    else
      fprintf(stderr, "%s: %u problem(s) found\n", o.config,
              server.config_file->errors->len);
    poplard_server_free(&server);
    status = ok ? 0 : 1;
    goto out;
  }
  if (!ok) {
    print_errors(&server);
    fprintf(stderr, "poplard: not started: fix the configuration (poplard "
                    "--check-config -c %s)\n", o.config);
    poplard_server_free(&server);
    status = 1;
    goto out;
  }
  /* Before the workers are forked: they inherit it.  Not fatal: the
   * server runs with the limit it has, which the warning names. */
  if (!poplard_fd_limit_raise(&server.cfg))
    poplarpriv_log(NULL, POPLAR_LOG_DEBUG,
                   "serving with the open files limit as it was");
  PoplarInheritedFd inherited[64];
  unsigned n_inherited =
      poplard_sd_listen_fds(inherited, G_N_ELEMENTS(inherited));
  int fds[G_N_ELEMENTS(inherited)];
  for (unsigned i = 0; i < n_inherited; i++)
    fds[i] = inherited[i].fd;
  GString *error = g_string_new(NULL);
  if (!poplard_server_bind(&server, fds, n_inherited, error)) {
    fprintf(stderr, "poplard: not started: %s", error->str);
    status = 1;
  } else {
    GPtrArray *warnings = server.config_file->warnings;
    for (guint i = 0; i < warnings->len; i++)
      poplarpriv_log(NULL, POPLAR_LOG_WARNING, "%s",
                     (const char *)warnings->pdata[i]);
    PoplarMasterOptions mo = {.config_path = o.config,
                              .plugin_dir = o.plugin_dir,
                              .argv = saved_argv};
    status = poplard_master_run(&server, &mo);
  }
  g_string_free(error, TRUE);
  poplard_server_free(&server);
out:
  g_strfreev(saved_argv);
  g_free(o.config);
  g_free(o.plugin_dir);
  return status;
}
