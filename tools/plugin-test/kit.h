/* SPDX-License-Identifier: MIT */
/*
 * poplar-plugin-test: the conformance kit for plugins.  It loads one plugin
 * with the core's own loader and libpoplar, then calls what the plugin
 * registered the way poplard does (through the poplarpriv_* call sites
 * that check and log every answer) and reports each promise of the plugin
 * guide as one check.
 */
#ifndef POPLAR_KIT_H
#define POPLAR_KIT_H

#include <glib.h>
#include <stdbool.h>

#include "poplar-private.h"

/* ---- options ----------------------------------------------------------- */

typedef struct KitOptions {
  char *config_path;    /* --config */
  char *section;        /* --section (default: the plugin's name) */
  char *mailbox;        /* --mailbox LOCATION (scheme:path) */
  char *deliver;        /* --deliver CMD: writes a message from stdin */
  char *user;           /* --user */
  char *password;       /* --password */
  char *wrong_password; /* --wrong-password */
  char *unknown_user;   /* --unknown-user */
  char *backend_down;   /* --backend-down CMD: stops the passdb backend */
  int threads;          /* --threads */
  int timing_rounds;    /* --timing-rounds */
  bool tap;             /* --tap */
  bool verbose;         /* --verbose: the plugin's log on stderr */
  char *plugin_path;    /* PLUGIN.so */
} KitOptions;

/* Parses the command line; on a usage error returns false with *@error. */
bool kit_options_parse(KitOptions *opts, int *argc, char ***argv,
                       GError **error);
void kit_options_clear(KitOptions *opts);

/* ---- the report --------------------------------------------------------- */

typedef struct KitReport KitReport;

KitReport *kit_report_new(bool tap);
void kit_report_free(KitReport *report);
/* One line per check: PASS name, or FAIL name: reason. */
void kit_pass(KitReport *report, const char *name, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
void kit_fail(KitReport *report, const char *name, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
/* A check that does not apply (or lacks an option to run): not a
 * failure. */
void kit_skip(KitReport *report, const char *name, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
/* PASS when @ok, FAIL with the reason otherwise. */
void kit_check(KitReport *report, bool ok, const char *name,
               const char *fmt, ...) G_GNUC_PRINTF(4, 5);
/* Prints the closing line ("N passed, N failed", or the TAP plan).
 * Returns the number of failures. */
unsigned kit_report_finish(KitReport *report);

/* ---- the plugin --------------------------------------------------------- */

typedef struct KitPlugin {
  PoplarConfigFile *config;
  PoplarRegistry *registry;
  PoplarPlugin *plugin;
} KitPlugin;

/* Loads @opts->plugin_path with its section, runs preinit and init as
 * poplard does.  The load, preinit and init are reported as checks. */
bool kit_plugin_load(KitPlugin *kp, const KitOptions *opts,
                     KitReport *report);
/* Calls the tables' destroy and the plugin's fini (as poplard's shutdown
 * does) and checks that nothing is logged after fini.  The shared object
 * stays mapped until the process exits. */
void kit_plugin_unload(KitPlugin *kp, KitReport *report);

/* ---- the log -------------------------------------------------------------
 * Everything libpoplar logs goes through one handler, which files it under
 * its session id so that a check can ask what was logged for its own
 * session, from any thread. */

void kit_log_init(bool verbose);
/* Returns the messages logged for @session_id at @level or worse, joined
 * with "; " (empty string when none).  Free with g_free. */
char *kit_log_take(const char *session_id, PoplarLogLevel level);
/* How many messages were logged so far (all sessions). */
unsigned kit_log_count(void);
void kit_log_shutdown(void);

/* ---- sessions ------------------------------------------------------------ */

/* A session as the core makes one: an id of its own, loopback addresses. */
PoplarSession *kit_session_new(const char *user);
void kit_session_free(PoplarSession *s);

/* ---- the contracts -------------------------------------------------------- */

void kit_check_stores(KitPlugin *kp, const KitOptions *opts,
                      KitReport *report);
void kit_check_passdbs(KitPlugin *kp, const KitOptions *opts,
                       KitReport *report);
void kit_check_hooks(KitPlugin *kp, const KitOptions *opts,
                     KitReport *report);

/* Runs @func(i, @data) for i in 0..@n-1 at once on a GThreadPool of @n
 * threads, as poplard's plugin pool runs sessions, and waits for all. */
typedef void (*KitParallelFunc)(unsigned index, void *data);
bool kit_run_parallel(unsigned n, KitParallelFunc func, void *data,
                      GError **error);

#endif
