/* SPDX-License-Identifier: MIT */
#include "control-client.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "control-protocol.h"

/* Longer than the master's own bound on asking its workers. */
#define ANSWER_TIMEOUT_S 15

char *poplarctl_socket_from_config(const char *config)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents(config ? config : POPLAR_CONFIG_FILE, &text, NULL,
                           NULL))
    return g_strdup(POPLAR_CONTROL_SOCKET);
  bool in_control = false;
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  for (char **l = lines; *l; l++) {
    char *line = g_strstrip(*l);
    if (line[0] == '[') {
      in_control = strcmp(line, "[control]") == 0;
      continue;
    }
    char *eq = strchr(line, '=');
    if (!in_control || line[0] == '#' || !eq)
      continue;
    *eq = '\0';
    if (strcmp(g_strstrip(line), "socket") == 0)
      return g_strdup(g_strstrip(eq + 1));
  }
  return g_strdup(POPLAR_CONTROL_SOCKET);
}

static int connect_to(const char *path, char **error)
{
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sun.sun_path) {
    *error = g_strdup_printf("control socket path too long: %s", path);
    return -1;
  }
  strcpy(sun.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = g_strdup_printf("socket: %s", g_strerror(errno));
    return -1;
  }
  if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0)
    return fd;
  int err = errno;
  close(fd);
  if (err == ENOENT || err == ECONNREFUSED)
    *error = g_strdup_printf("poplard is not running (nothing answers on "
                             "%s)", path);
  else if (err == EACCES || err == EPERM)
    *error = g_strdup_printf("permission denied on %s: run as root or as a "
                             "member of the [control] group", path);
  else
    *error = g_strdup_printf("%s: %s", path, g_strerror(err));
  return -1;
}

static bool send_request(int fd, char **request)
{
  g_autoptr(GString) line = g_string_new(NULL);
  for (char **f = request; *f; f++) {
    if (f != request)
      g_string_append_c(line, '\t');
    poplard_control_escape(line, *f);
  }
  g_string_append_c(line, '\n');
  bool ok = send(fd, line->str, line->len, MSG_NOSIGNAL) ==
            (ssize_t)line->len;
  explicit_bzero(line->str, line->len);
  return ok;
}

bool poplarctl_ask(const char *path, char **request, PoplarctlAnswer *answer,
                   char **error)
{
  answer->records = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
  answer->error = NULL;
  int fd = connect_to(path, error);
  if (fd < 0)
    return false;
  struct timeval tv = {.tv_sec = ANSWER_TIMEOUT_S};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (!send_request(fd, request)) {
    *error = g_strdup_printf("%s: cannot send: %s", path, g_strerror(errno));
    close(fd);
    return false;
  }
  g_autoptr(GString) in = g_string_new(NULL);
  char buf[8192];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0)
    g_string_append_len(in, buf, n);
  close(fd);
  g_auto(GStrv) lines = g_strsplit(in->str, "\n", -1);
  for (char **l = lines; *l; l++) {
    if (strcmp(*l, "OK") == 0)
      return true;
    if (g_str_has_prefix(*l, "ERR")) {
      answer->error = g_strdup((*l)[3] ? *l + 4 : "failed");
      return true;
    }
    char **fields = **l == 'R' ? poplard_control_split(*l) : NULL;
    if (fields)
      g_ptr_array_add(answer->records, fields);
  }
  *error = g_strdup(n < 0 ? "poplard did not answer in time"
                          : "poplard closed the connection without an "
                            "answer");
  return false;
}

void poplarctl_answer_clear(PoplarctlAnswer *answer)
{
  g_ptr_array_unref(answer->records);
  g_free(answer->error);
}

/* ---- printing -------------------------------------------------------------- */

static void json_string(FILE *out, const char *s)
{
  fputc('"', out);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(out, "\\%c", *p);
    else if (*p < 0x20)
      fprintf(out, "\\u%04x", *p);
    else
      fputc(*p, out);
  }
  fputc('"', out);
}

static bool numeric_key(const char *key)
{
  static const char *const keys[] = {"port", "since", "in", "out", "pid",
                                     "failures", "delay_ms", "value", "reset",
                                     NULL};
  for (const char *const *k = keys; *k; k++)
    if (strcmp(*k, key) == 0)
      return true;
  return false;
}

static void print_json(const PoplarctlAnswer *answer, FILE *out)
{
  fputc('[', out);
  for (guint i = 0; i < answer->records->len; i++) {
    char **fields = g_ptr_array_index(answer->records, i);
    fputs(i ? ",\n {" : "{", out);
    for (char **f = fields + 1; *f; f++) {
      char *eq = strchr(*f, '=');
      if (!eq)
        continue;
      g_autofree char *key = g_strndup(*f, (gsize)(eq - *f));
      if (f != fields + 1)
        fputs(", ", out);
      json_string(out, key);
      fputs(": ", out);
      char *end = NULL;
      if (numeric_key(key) && eq[1] && (g_ascii_strtod(eq + 1, &end), !*end))
        fputs(eq + 1, out);
      else
        json_string(out, eq + 1);
    }
    fputc('}', out);
  }
  fputs("]\n", out);
}

static const char *get(char **fields, const char *key)
{
  const char *v = poplard_control_record_get(fields, key);
  return v ? v : "";
}

static void print_who(const PoplarctlAnswer *answer, FILE *out)
{
  fprintf(out, "%-14s %-16s %-22s %-22s %-4s %-13s %-19s %10s %10s\n", "ID",
          "USER", "REMOTE", "LISTENER", "TLS", "STATE", "SINCE", "IN", "OUT");
  for (guint i = 0; i < answer->records->len; i++) {
    char **f = g_ptr_array_index(answer->records, i);
    g_autofree char *remote =
        g_strdup_printf("%s:%s", get(f, "remote"), get(f, "port"));
    g_autoptr(GDateTime) since = g_date_time_new_from_unix_local(
        g_ascii_strtoll(get(f, "since"), NULL, 10));
    g_autofree char *when =
        since ? g_date_time_format(since, "%F %T") : g_strdup("-");
    fprintf(out, "%-14s %-16s %-22s %-22s %-4s %-13s %-19s %10s %10s\n",
            get(f, "id"), *get(f, "user") ? get(f, "user") : "-", remote,
            get(f, "listener"), get(f, "tls"), get(f, "state"), when,
            get(f, "in"), get(f, "out"));
  }
}

static void print_fields(const PoplarctlAnswer *answer, FILE *out)
{
  for (guint i = 0; i < answer->records->len; i++) {
    char **fields = g_ptr_array_index(answer->records, i);
    if (i)
      fputc('\n', out);
    for (char **f = fields + 1; *f; f++) {
      char *eq = strchr(*f, '=');
      if (eq)
        fprintf(out, "%.*s: %s\n", (int)(eq - *f), *f, eq + 1);
    }
  }
}

static gint by_text(gconstpointer a, gconstpointer b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void print_stats(const PoplarctlAnswer *answer, FILE *out)
{
  g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);
  for (guint i = 0; i < answer->records->len; i++) {
    char **f = g_ptr_array_index(answer->records, i);
    const char *labels = get(f, "labels");
    g_ptr_array_add(lines, g_strdup_printf("%s%s%s%s %s", get(f, "name"),
                                           *labels ? "{" : "", labels,
                                           *labels ? "}" : "",
                                           get(f, "value")));
  }
  g_ptr_array_sort(lines, by_text);
  for (guint i = 0; i < lines->len; i++)
    fprintf(out, "%s\n", (char *)g_ptr_array_index(lines, i));
}

static void print_penalty(const PoplarctlAnswer *answer, FILE *out)
{
  if (answer->records->len == 1 &&
      poplard_control_record_get(g_ptr_array_index(answer->records, 0),
                                 "reset")) {
    unsigned n = 0;
    for (guint i = 0; i < answer->records->len; i++)
      n += (unsigned)g_ascii_strtoull(
          get(g_ptr_array_index(answer->records, i), "reset"), NULL, 10);
    fprintf(out, "%u entr%s forgotten\n", n, n == 1 ? "y" : "ies");
    return;
  }
  fprintf(out, "%-8s %-40s %8s %10s\n", "KIND", "NAME", "FAILURES",
          "DELAY_MS");
  for (guint i = 0; i < answer->records->len; i++) {
    char **f = g_ptr_array_index(answer->records, i);
    fprintf(out, "%-8s %-40s %8s %10s\n", get(f, "kind"), get(f, "name"),
            get(f, "failures"), get(f, "delay_ms"));
  }
}

int poplarctl_print(const char *command, const PoplarctlAnswer *answer,
                    bool json, FILE *out)
{
  if (answer->error) {
    fprintf(stderr, "poplarctl: %s\n", answer->error);
    return 1;
  }
  if (json) {
    if (strcmp(command, "reload") == 0 || strcmp(command, "stop") == 0)
      fprintf(out, "{\"result\": \"ok\"}\n");
    else
      print_json(answer, out);
  } else if (strcmp(command, "who") == 0) {
    print_who(answer, out);
  } else if (strcmp(command, "kick") == 0) {
    fprintf(out, "%u session%s ended\n", answer->records->len,
            answer->records->len == 1 ? "" : "s");
  } else if (strcmp(command, "stats") == 0) {
    print_stats(answer, out);
  } else if (strcmp(command, "penalty") == 0) {
    print_penalty(answer, out);
  } else if (strcmp(command, "reload") == 0) {
    fprintf(out, "reload requested: poplard checks the configuration and "
                 "reloads if it is valid (see its log)\n");
  } else if (strcmp(command, "stop") == 0) {
    fprintf(out, "poplard is stopping\n");
  } else {
    print_fields(answer, out);
  }
  /* auth test: the databases answered, but not with a yes. */
  if (strcmp(command, "auth") == 0 && answer->records->len > 0 &&
      strcmp(get(g_ptr_array_index(answer->records, 0), "result"), "ok") != 0)
    return 1;
  if (strcmp(command, "kick") == 0 && answer->records->len == 0) {
    fprintf(stderr, "poplarctl: no such session or user logged in\n");
    return 1;
  }
  return 0;
}
