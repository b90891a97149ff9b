/* SPDX-License-Identifier: MIT */
/*
 * poplar-uidl-import: the options, then the driver.  See
 * poplar-uidl-import(1).  Exit status: 0 when every user was imported
 * (unmatched or ambiguous messages are reported, not failures), 1 when
 * any user failed, 2 for a usage error.
 */
#include "uidl-import.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_PARALLEL 4
#define MAX_PARALLEL 256
#define DEFAULT_TIMEOUT_S 60
#define DEFAULT_LOCK_WAIT_S 30

static int usage_error(const char *fmt, const char *arg)
{
  g_printerr("poplar-uidl-import: ");
  g_printerr(fmt, arg);
  g_printerr("\n(poplar-uidl-import --help tells the options)\n");
  return 2;
}

static bool parse_server(const char *text, Pop3TlsMode tls, char **host,
                         char **port)
{
  const char *colon = strrchr(text, ':');
  if (text[0] == '[') {
    const char *close = strchr(text, ']');
    if (!close || (close[1] && close[1] != ':'))
      return false;
    *host = g_strndup(text + 1, (size_t)(close - text - 1));
    colon = close[1] ? close + 1 : NULL;
  } else if (colon && strchr(text, ':') != colon) {
    colon = NULL; /* a bare IPv6 address */
    *host = g_strdup(text);
  } else {
    *host = g_strndup(text, colon ? (size_t)(colon - text) : strlen(text));
  }
  *port = g_strdup(colon ? colon + 1
                         : tls == POP3_TLS_IMPLICIT ? "995" : "110");
  return **host && **port;
}

int main(int argc, char **argv)
{
  setlocale(LC_ALL, "");
  g_autofree char *users_file = NULL, *server = NULL, *tls = NULL,
                  *ca_file = NULL, *master_user = NULL,
                  *master_password_file = NULL, *mail_location = NULL,
                  *home = NULL;
  gboolean insecure = FALSE, dry_run = FALSE, force = FALSE,
           require_size = FALSE, verbose = FALSE;
  gint parallel = DEFAULT_PARALLEL, timeout = DEFAULT_TIMEOUT_S,
       lock_wait = DEFAULT_LOCK_WAIT_S;
  GOptionEntry entries[] = {
    {"users", 'u', 0, G_OPTION_ARG_FILENAME, &users_file,
     "Users to import: user:password[:maildir] lines", "FILE"},
    {"server", 's', 0, G_OPTION_ARG_STRING, &server,
     "The old POP3 server", "HOST[:PORT]"},
    {"tls", 0, 0, G_OPTION_ARG_STRING, &tls,
     "implicit (POP3S), starttls (STLS) or no; default starttls", "MODE"},
    {"ca-file", 0, 0, G_OPTION_ARG_FILENAME, &ca_file,
     "CA certificates to trust (PEM) instead of the system's", "FILE"},
    {"insecure", 0, 0, G_OPTION_ARG_NONE, &insecure,
     "Do not check the server's certificate (tests only)", NULL},
    {"master-user", 0, 0, G_OPTION_ARG_STRING, &master_user,
     "Log in as this user with AUTH PLAIN for each user", "USER"},
    {"master-password-file", 0, 0, G_OPTION_ARG_FILENAME,
     &master_password_file, "The master user's password", "FILE"},
    {"mail-location", 'm', 0, G_OPTION_ARG_STRING, &mail_location,
     "Where Poplar keeps mail (default maildir:%h/Maildir)", "TEMPLATE"},
    {"home", 0, 0, G_OPTION_ARG_STRING, &home,
     "The home directory (%h) of a user, e.g. /home/%u", "TEMPLATE"},
    {"parallel", 'j', 0, G_OPTION_ARG_INT, &parallel,
     "Users imported at the same time (default 4)", "N"},
    {"dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry_run,
     "Match and report, but write nothing", NULL},
    {"force", 0, 0, G_OPTION_ARG_NONE, &force,
     "Replace entries that disagree with the old server", NULL},
    {"require-size", 0, 0, G_OPTION_ARG_NONE, &require_size,
     "Pair messages only when their sizes agree too", NULL},
    {"timeout", 0, 0, G_OPTION_ARG_INT, &timeout,
     "Seconds to wait for the old server (default 60)", "S"},
    {"lock-wait", 0, 0, G_OPTION_ARG_INT, &lock_wait,
     "Seconds to wait for a POP3 session to leave a Maildir (default 30)",
     "S"},
    {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose,
     "Also list each unmatched, ambiguous or conflicting message", NULL},
    G_OPTION_ENTRY_NULL,
  };
  g_autoptr(GOptionContext) context =
      g_option_context_new("- carry an old POP3 server's UIDLs over to "
                           "Poplar Maildirs");
  g_option_context_add_main_entries(context, entries, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(context, &argc, &argv, &error))
    return usage_error("%s", error->message);
  if (argc > 1)
    return usage_error("unexpected argument %s", argv[1]);
  if (!users_file || !server)
    return usage_error("%s", "--users and --server are required");

  ImportOptions o = {
    .dry_run = dry_run,
    .force = force,
    .require_size = require_size,
    .verbose = verbose,
    .mail_location = mail_location ? mail_location : "maildir:%h/Maildir",
    .home = home,
    .master_user = master_user,
  };
  if (!tls || strcmp(tls, "starttls") == 0)
    o.server.tls = POP3_TLS_STARTTLS;
  else if (strcmp(tls, "implicit") == 0)
    o.server.tls = POP3_TLS_IMPLICIT;
  else if (strcmp(tls, "no") == 0)
    o.server.tls = POP3_TLS_NO;
  else
    return usage_error("--tls %s: implicit, starttls or no", tls);
  if (!parse_server(server, o.server.tls, &o.server.host, &o.server.port))
    return usage_error("--server %s: HOST[:PORT]", server);
  o.server.ca_file = ca_file;
  o.server.insecure = insecure;
  if (timeout < 1 || timeout > 3600)
    return usage_error("%s", "--timeout: 1 to 3600 seconds");
  if (lock_wait < 0 || lock_wait > 3600)
    return usage_error("%s", "--lock-wait: 0 to 3600 seconds");
  if (parallel < 1 || parallel > MAX_PARALLEL)
    return usage_error("%s", "--parallel: 1 to 256");
  o.server.timeout_s = (unsigned)timeout;
  o.lock_wait_s = (unsigned)lock_wait;
  if (!master_user != !master_password_file)
    return usage_error("%s", "--master-user and --master-password-file go "
                             "together");
  if (master_password_file &&
      !(o.master_password = credentials_load_password(master_password_file,
                                                      &error)))
    return usage_error("%s", error->message);
  g_autoptr(GPtrArray) users = credentials_load(users_file,
                                                master_user != NULL, &error);
  if (!users)
    return usage_error("%s", error->message);
  if (!pop3_client_global_init(&error))
    return usage_error("%s", error->message);

  unsigned peak = 0;
  unsigned failed = driver_import_all(&o, users, (unsigned)parallel, &peak);
  printf("%u users, %u failed; at most %u at a time%s\n", users->len, failed,
         peak, dry_run ? "; dry run: nothing written" : "");
  g_free(o.server.host);
  g_free(o.server.port);
  if (o.master_password) {
    memset(o.master_password, 0, strlen(o.master_password));
    g_free(o.master_password);
  }
  return failed ? 1 : 0;
}
