/* SPDX-License-Identifier: MIT */
#include "policy-state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* RFC 1939: a UIDL is 1 to 70 characters in 0x21..0x7E. */
#define UIDL_MAX 70

PoplarPolicyState *poplard_policy_state_new(void)
{
  PoplarPolicyState *state = g_new0(PoplarPolicyState, 1);
  state->retrieved = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                           g_free);
  return state;
}

void poplard_policy_state_free(PoplarPolicyState *state)
{
  if (!state)
    return;
  g_hash_table_unref(state->retrieved);
  g_free(state);
}

static bool uidl_valid(const char *s, size_t len)
{
  if (len == 0 || len > UIDL_MAX)
    return false;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < 0x21 || s[i] > 0x7e)
      return false;
  }
  return true;
}

static bool parse_time(const char *s, int64_t *out)
{
  gint64 v;
  if (!g_ascii_string_to_signed(s, 10, 1, G_MAXINT64, &v, NULL))
    return false;
  *out = v;
  return true;
}

bool poplard_policy_state_note_retrieved(PoplarPolicyState *state,
                                         const char *uidl, int64_t when)
{
  int64_t *known = g_hash_table_lookup(state->retrieved, uidl);
  if (known && *known <= when)
    return false;
  int64_t *value = g_new(int64_t, 1);
  *value = when;
  g_hash_table_replace(state->retrieved, g_strdup(uidl), value);
  return true;
}

int64_t poplard_policy_state_retrieved(const PoplarPolicyState *state,
                                       const char *uidl)
{
  const int64_t *known = g_hash_table_lookup(state->retrieved, uidl);
  return known ? *known : 0;
}

/* One line without its LF; NULL when it is good, else why not. */
static const char *parse_line(PoplarPolicyState *state, char *line)
{
  char **words = g_strsplit(line, " ", -1);
  const char *why = NULL;
  guint n = g_strv_length(words);
  int64_t when = 0;
  if (n == 2 && strcmp(words[0], "login") == 0) {
    if (!parse_time(words[1], &when))
      why = "bad login time";
    else if (when > state->last_login)
      state->last_login = when;
  } else if (n == 3 && strcmp(words[0], "retrieved") == 0) {
    if (!parse_time(words[1], &when))
      why = "bad retrieval time";
    else if (!uidl_valid(words[2], strlen(words[2])))
      why = "bad UIDL";
    else
      poplard_policy_state_note_retrieved(state, words[2], when);
  } else {
    why = "not \"login TIME\" or \"retrieved TIME UIDL\"";
  }
  g_strfreev(words);
  return why;
}

void poplard_policy_state_parse(PoplarPolicyState *state, const char *file,
                                const char *text, size_t len,
                                GPtrArray *problems)
{
  size_t start = 0;
  unsigned number = 0;
  while (start < len) {
    const char *lf = memchr(text + start, '\n', len - start);
    size_t end = lf ? (size_t)(lf - text) : len;
    number++;
    g_autofree char *line = g_strndup(text + start, end - start);
    const char *why = NULL;
    if (strlen(line) != end - start)
      why = "NUL in line";
    else if (number == 1)
      why = strcmp(line, POPLAR_POLICY_STATE_HEADER) == 0
                ? NULL
                : "not a \"" POPLAR_POLICY_STATE_HEADER "\" file";
    else if (line[0])
      why = parse_line(state, line);
    if (why)
      g_ptr_array_add(problems,
                      g_strdup_printf("%s:%u: %s", file, number, why));
    start = end + 1;
  }
}

static gint compare_strings(gconstpointer a, gconstpointer b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

char *poplard_policy_state_format(const PoplarPolicyState *state, size_t *len)
{
  GString *out = g_string_new(POPLAR_POLICY_STATE_HEADER "\n");
  if (state->last_login > 0)
    g_string_append_printf(out, "login %" G_GINT64_FORMAT "\n",
                           state->last_login);
  /* Sorted, so that the same state always makes the same file. */
  guint n = 0;
  gpointer *keys = g_hash_table_get_keys_as_array(state->retrieved, &n);
  qsort(keys, n, sizeof *keys, (GCompareFunc)compare_strings);
  for (guint i = 0; i < n; i++)
    g_string_append_printf(out, "retrieved %" G_GINT64_FORMAT " %s\n",
                           poplard_policy_state_retrieved(state, keys[i]),
                           (const char *)keys[i]);
  g_free(keys);
  *len = out->len;
  return g_string_free(out, FALSE);
}

static void set_errno_error(GError **error, int err, const char *what,
                            const char *path)
{
  g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err), "%s %s: %s",
              what, path, g_strerror(err));
}

bool poplard_policy_state_load(PoplarPolicyState *state, const char *path,
                               GPtrArray *problems, GError **error)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT)
      return true;
    set_errno_error(error, errno, "cannot open", path);
    return false;
  }
  GString *text = g_string_new(NULL);
  char buf[8192];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) != 0) {
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      set_errno_error(error, errno, "cannot read", path);
      close(fd);
      g_string_free(text, TRUE);
      return false;
    }
    g_string_append_len(text, buf, n);
  }
  close(fd);
  poplard_policy_state_parse(state, path, text->str, text->len, problems);
  g_string_free(text, TRUE);
  return true;
}

static bool write_all(int fd, const char *data, size_t len)
{
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return false;
    data += n;
    len -= (size_t)n;
  }
  return true;
}

/* A new or renamed entry survives a crash only once its directory is
 * synced too. */
static bool sync_parent(const char *path, GError **error)
{
  g_autofree char *dir = g_path_get_dirname(path);
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || fsync(fd) != 0) {
    set_errno_error(error, errno, "cannot sync", dir);
    if (fd >= 0)
      close(fd);
    return false;
  }
  close(fd);
  return true;
}

bool poplard_policy_state_append(const char *path, const char *line,
                                 GError **error)
{
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                0600);
  if (fd < 0) {
    set_errno_error(error, errno, "cannot open", path);
    return false;
  }
  struct stat st;
  bool created = fstat(fd, &st) == 0 && st.st_size == 0;
  /* One write, so that a line of another writer is never cut in two. */
  g_autofree char *text =
      g_strdup_printf("%s%s\n", created ? POPLAR_POLICY_STATE_HEADER "\n" : "",
                      line);
  if (!write_all(fd, text, strlen(text)) || fsync(fd) != 0) {
    set_errno_error(error, errno, "cannot write", path);
    close(fd);
    return false;
  }
  close(fd);
  return !created || sync_parent(path, error);
}

bool poplard_policy_state_save(const PoplarPolicyState *state,
                               const char *path, GError **error)
{
  g_autofree char *tmp = g_strconcat(path, ".tmp", NULL);
  size_t len = 0;
  g_autofree char *text = poplard_policy_state_format(state, &len);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
                0600);
  if (fd < 0) {
    set_errno_error(error, errno, "cannot create", tmp);
    return false;
  }
  if (!write_all(fd, text, len) || fsync(fd) != 0) {
    set_errno_error(error, errno, "cannot write", tmp);
    close(fd);
    unlink(tmp);
    return false;
  }
  close(fd);
  if (rename(tmp, path) != 0) {
    set_errno_error(error, errno, "cannot rename to", path);
    unlink(tmp);
    return false;
  }
  return sync_parent(path, error);
}
