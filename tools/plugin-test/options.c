/* SPDX-License-Identifier: MIT */
/* The command line of poplar-plugin-test (see poplar-plugin-test(1)). */
#include "kit.h"

#include <string.h>

bool kit_options_parse(KitOptions *opts, int *argc, char ***argv,
                       GError **error)
{
  memset(opts, 0, sizeof *opts);
  opts->threads = 8;
  opts->timing_rounds = 41;
  GOptionEntry entries[] = {
      {"config", 'c', 0, G_OPTION_ARG_FILENAME, &opts->config_path,
       "poplar.conf-style file with the plugin's section", "FILE"},
      {"section", 's', 0, G_OPTION_ARG_STRING, &opts->section,
       "the plugin's section in FILE (default: the plugin's name)", "NAME"},
      {"mailbox", 'm', 0, G_OPTION_ARG_STRING, &opts->mailbox,
       "a mail location of the plugin's store, scheme:path (the kit works "
       "on copies)", "LOCATION"},
      {"deliver", 'd', 0, G_OPTION_ARG_STRING, &opts->deliver,
       "shell command that delivers the message on its stdin into "
       "$POPLAR_KIT_MAILBOX (a path)", "CMD"},
      {"user", 'u', 0, G_OPTION_ARG_STRING, &opts->user,
       "a user the password database knows", "USER"},
      {"password", 'p', 0, G_OPTION_ARG_STRING, &opts->password,
       "that user's password", "PASSWORD"},
      {"wrong-password", 0, 0, G_OPTION_ARG_STRING, &opts->wrong_password,
       "a password that is not that user's", "PASSWORD"},
      {"unknown-user", 0, 0, G_OPTION_ARG_STRING, &opts->unknown_user,
       "a user the password database does not know", "USER"},
      {"backend-down", 0, 0, G_OPTION_ARG_STRING, &opts->backend_down,
       "shell command that stops the password database's backend", "CMD"},
      {"threads", 'j', 0, G_OPTION_ARG_INT, &opts->threads,
       "sessions run at once in the thread checks (default 8)", "N"},
      {"timing-rounds", 0, 0, G_OPTION_ARG_INT, &opts->timing_rounds,
       "attempts of each kind in the timing check, and at most the "
       "attempts per thread in the thread check (default 41)", "N"},
      {"tap", 0, 0, G_OPTION_ARG_NONE, &opts->tap,
       "write TAP instead of PASS/FAIL lines", NULL},
      {"verbose", 'v', 0, G_OPTION_ARG_NONE, &opts->verbose,
       "copy everything the plugin logs to stderr", NULL},
      {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("PLUGIN.so");
  g_option_context_set_summary(
      ctx, "Checks that a Poplar plugin keeps the promises of the plugin "
           "guide: the store, password-database and hook contracts.");
  g_option_context_add_main_entries(ctx, entries, NULL);
  if (!g_option_context_parse(ctx, argc, argv, error))
    return false;
  if (*argc != 2) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                "give exactly one PLUGIN.so (see --help)");
    return false;
  }
  if (opts->threads < 2 || opts->threads > 256) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "--threads must be 2 to 256");
    return false;
  }
  if (opts->timing_rounds < 9 || opts->timing_rounds > 100000) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "--timing-rounds must be 9 to 100000");
    return false;
  }
  opts->plugin_path = g_strdup((*argv)[1]);
  return true;
}

void kit_options_clear(KitOptions *opts)
{
  g_free(opts->config_path);
  g_free(opts->section);
  g_free(opts->mailbox);
  g_free(opts->deliver);
  g_free(opts->user);
  g_free(opts->password);
  g_free(opts->wrong_password);
  g_free(opts->unknown_user);
  g_free(opts->backend_down);
  g_free(opts->plugin_path);
  memset(opts, 0, sizeof *opts);
}
