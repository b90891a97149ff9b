/* SPDX-License-Identifier: MIT */
/*
 * poplarctl(8): asks a running poplard through its control socket.  One
 * request per connection, in the protocol of core/control-protocol.h; the
 * answer is printed for a person, or as JSON with -j.
 */
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "control-client.h"

#define EXIT_USAGE 2

static void usage(FILE *f)
{
  fprintf(f,
          "usage: poplarctl [-c CONFIG] [-s SOCKET] [-j] COMMAND\n"
          "commands:\n"
          "  who [USER]                  sessions, of USER or of everyone\n"
          "  kick USER|SESSION           end sessions (no UPDATE)\n"
          "  auth test USER [PASSWORD]   run the password databases\n"
          "  user USER                   look a user up\n"
          "  penalty [list|reset ADDRESS|USER]\n"
          "                              login-failure delays in force\n"
          "  stats                       counters of all workers\n"
          "  reload                      check the configuration, reload\n"
          "  stop                        stop poplard\n");
}

static char *read_password(void)
{
  bool tty = isatty(STDIN_FILENO);
  struct termios old, quiet;
  if (tty) {
    fprintf(stderr, "Password: ");
    tcgetattr(STDIN_FILENO, &old);
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  char buf[1024];
  char *line = fgets(buf, sizeof buf, stdin);
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    fprintf(stderr, "\n");
  }
  if (!line)
    return NULL;
  buf[strcspn(buf, "\r\n")] = '\0';
  char *password = g_strdup(buf);
  explicit_bzero(buf, sizeof buf);
  return password;
}

/* The request for the command line, or NULL (usage printed). */
static GPtrArray *build_request(int argc, char **argv, bool *needs_password)
{
  GPtrArray *req = g_ptr_array_new_with_free_func(g_free);
  const char *cmd = argv[0];
  *needs_password = false;
  if (strcmp(cmd, "who") == 0 && argc <= 2) {
    g_ptr_array_add(req, g_strdup("who"));
    if (argc == 2)
      g_ptr_array_add(req, g_strdup(argv[1]));
  } else if (strcmp(cmd, "kick") == 0 && argc == 2) {
    g_ptr_array_add(req, g_strdup("kick"));
    g_ptr_array_add(req, g_strdup(argv[1]));
  } else if (strcmp(cmd, "auth") == 0 && argc >= 3 && argc <= 4 &&
             strcmp(argv[1], "test") == 0) {
    g_ptr_array_add(req, g_strdup("auth-test"));
    g_ptr_array_add(req, g_strdup(argv[2]));
    if (argc == 4)
      g_ptr_array_add(req, g_strdup(argv[3]));
    else
      *needs_password = true;
  } else if (strcmp(cmd, "user") == 0 && argc == 2) {
    g_ptr_array_add(req, g_strdup("user"));
    g_ptr_array_add(req, g_strdup(argv[1]));
  } else if (strcmp(cmd, "penalty") == 0 &&
             (argc == 1 || (argc == 2 && strcmp(argv[1], "list") == 0))) {
    g_ptr_array_add(req, g_strdup("penalty"));
  } else if (strcmp(cmd, "penalty") == 0 && argc == 3 &&
             strcmp(argv[1], "reset") == 0) {
    g_ptr_array_add(req, g_strdup("penalty"));
    g_ptr_array_add(req, g_strdup("reset"));
    g_ptr_array_add(req, g_strdup(argv[2]));
  } else if ((strcmp(cmd, "reload") == 0 || strcmp(cmd, "stop") == 0 ||
              strcmp(cmd, "stats") == 0) &&
             argc == 1) {
    g_ptr_array_add(req, g_strdup(cmd));
  } else {
    g_ptr_array_unref(req);
    return NULL;
  }
  return req;
}

int main(int argc, char **argv)
{
  const char *config = NULL;
  const char *socket_path = NULL;
  bool json = false;
  int opt;
  while ((opt = getopt(argc, argv, "+c:s:jh")) != -1) {
    switch (opt) {
    case 'c':
      config = optarg;
      break;
    case 's':
      socket_path = optarg;
      break;
    case 'j':
      json = true;
      break;
    case 'h':
      usage(stdout);
      return 0;
    default:
      usage(stderr);
      return EXIT_USAGE;
    }
  }
  if (optind >= argc) {
    usage(stderr);
    return EXIT_USAGE;
  }
  bool needs_password;
  g_autoptr(GPtrArray) request =
      build_request(argc - optind, argv + optind, &needs_password);
  if (!request) {
    usage(stderr);
    return EXIT_USAGE;
  }
  if (needs_password) {
    char *password = read_password();
    if (!password) {
      fprintf(stderr, "poplarctl: no password given\n");
      return EXIT_USAGE;
    }
    g_ptr_array_add(request, password);
  }
  g_ptr_array_add(request, NULL);
  g_autofree char *path = socket_path
                              ? g_strdup(socket_path)
                              : poplarctl_socket_from_config(config);
  PoplarctlAnswer answer;
  g_autofree char *error = NULL;
  bool ok = poplarctl_ask(path, (char **)request->pdata, &answer, &error);
  /* The password was in the request; it has no business in memory. */
  if (needs_password)
    explicit_bzero(request->pdata[request->len - 2],
                   strlen(request->pdata[request->len - 2]));
  if (!ok) {
    fprintf(stderr, "poplarctl: %s\n", error);
    return 1;
  }
  int status = poplarctl_print(argv[optind], &answer, json, stdout);
  poplarctl_answer_clear(&answer);
  return status;
}
