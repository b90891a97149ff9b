/* SPDX-License-Identifier: MIT */
#include "control.h"

#include <errno.h>
#include <grp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "control-fanout.h"
#include "control-protocol.h"
#include "poplar-private.h"
#include "poplar/version.h"
#include "stats.h"

/* A client that does not send its request in this time is dropped: the
 * master serves nothing else meanwhile. */
#define CLIENT_TIMEOUT_MS 2000

struct PoplarControl {
  int fd;
  char *path;
};

static bool fill_address(struct sockaddr_un *sun, const char *path,
                         char **error)
{
  memset(sun, 0, sizeof *sun);
  sun->sun_family = AF_UNIX;
  if (strlen(path) >= sizeof sun->sun_path) {
    *error = g_strdup_printf("[control] socket %s: path too long", path);
    return false;
  }
  strcpy(sun->sun_path, path);
  return true;
}

/* True when another master answers on @path. */
static bool in_use(const struct sockaddr_un *sun)
{
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  bool live = connect(fd, (const struct sockaddr *)sun, sizeof *sun) == 0;
  close(fd);
  return live;
}

PoplarControl *poplard_control_open(const char *path, const char *group,
                                    char **error)
{
  struct sockaddr_un sun;
  if (!fill_address(&sun, path, error))
    return NULL;
  gid_t gid = (gid_t)-1;
  if (group && *group) {
    struct group *gr = getgrnam(group);
    if (!gr) {
      *error = g_strdup_printf("[control] group %s: no such group", group);
      return NULL;
    }
    gid = gr->gr_gid;
  }
  g_autofree char *dir = g_path_get_dirname(path);
  if (g_mkdir_with_parents(dir, 0755) != 0) {
    *error = g_strdup_printf("[control] socket %s: cannot create %s: %s",
                             path, dir, g_strerror(errno));
    return NULL;
  }
  if (in_use(&sun)) {
    *error = g_strdup_printf("[control] socket %s: another poplard answers "
                             "there; not taking it over", path);
    return NULL;
  }
  unlink(path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  /* Never reachable by anyone else, not even between bind and chmod. */
  mode_t old = umask(0177);
  bool bound = fd >= 0 &&
               bind(fd, (struct sockaddr *)&sun, sizeof sun) == 0;
  umask(old);
  if (!bound || listen(fd, 16) != 0 ||
      (gid != (gid_t)-1 &&
       (chown(path, (uid_t)-1, gid) != 0 || chmod(path, 0660) != 0))) {
    *error = g_strdup_printf("[control] socket %s: %s", path,
                             g_strerror(errno));
    if (fd >= 0)
      close(fd);
    return NULL;
  }
  PoplarControl *ctl = g_new0(PoplarControl, 1);
  ctl->fd = fd;
  ctl->path = g_strdup(path);
  return ctl;
}

int poplard_control_fd(const PoplarControl *ctl)
{
  return ctl->fd;
}

void poplard_control_free(PoplarControl *ctl)
{
  if (!ctl)
    return;
  close(ctl->fd);
  unlink(ctl->path);
  g_free(ctl->path);
  g_free(ctl);
}

/* ---- answering ----------------------------------------------------------- */

static void add_master_stats(const PoplarMasterView *view, GHashTable *merged)
{
  g_autofree char *build = poplard_stats_labels(
      "version", POPLAR_VERSION, "abi",
      G_STRINGIFY(POPLAR_ABI_MAJOR) "." G_STRINGIFY(POPLAR_ABI_MINOR), NULL);
  poplard_stats_merged_add(merged, "poplar_build_info", build, 1);
  poplard_stats_merged_add(merged, "poplar_worker_restarts_total", "",
                           (double)view->worker_restarts);
  poplard_stats_merged_add(merged, "poplar_workers", "",
                           (double)view->n_workers);
}

bool poplard_control_collect_stats(const PoplarMasterView *view,
                                   GHashTable *merged, GString *error)
{
  char *request[] = {"stats", NULL};
  g_autoptr(GString) records = g_string_new(NULL);
  bool ok = poplard_control_fanout(view->worker_fds,
                                   view->n_workers + view->n_user_procs,
                                   request, records, error);
  g_auto(GStrv) lines = g_strsplit(records->str, "\n", -1);
  for (char **l = lines; *l; l++) {
    g_auto(GStrv) fields = **l ? poplard_control_split(*l) : NULL;
    if (fields)
      poplard_stats_merged_add_record(merged, fields);
  }
  add_master_stats(view, merged);
  return ok;
}

static void answer_stats(const PoplarMasterView *view, GString *out)
{
  g_autoptr(GHashTable) merged = poplard_stats_merged_new();
  g_autoptr(GString) error = g_string_new(NULL);
  bool ok = poplard_control_collect_stats(view, merged, error);
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init(&it, merged);
  while (g_hash_table_iter_next(&it, &key, &value)) {
    const char *tab = strchr(key, '\t');
    g_autofree char *name = g_strndup(key, (gsize)(tab - (char *)key));
    GString *rec = poplard_control_record_new();
    poplard_control_record_add(rec, "name", name);
    poplard_control_record_add(rec, "labels", tab + 1);
    poplard_control_record_addf(rec, "value", "%.17g", *(double *)value);
    poplard_control_record_finish(out, rec);
  }
  if (ok)
    g_string_append(out, "OK\n");
  else
    g_string_append_printf(out, "ERR %s\n", error->str);
}

static void ask_workers(const PoplarMasterView *view, char **request,
                        bool one, GString *out)
{
  if (view->n_workers == 0) {
    g_string_append(out, "ERR no worker is running\n");
    return;
  }
  g_autoptr(GString) error = g_string_new(NULL);
  /* The user processes serve sessions but log nobody in: they have no
   * password database. */
  unsigned n = one ? 1 : view->n_workers + view->n_user_procs;
  bool ok = poplard_control_fanout(view->worker_fds, n, request, out, error);
  if (ok)
    g_string_append(out, "OK\n");
  else
    g_string_append_printf(out, "ERR %s\n", error->str);
}

static PoplarControlAction answer(const PoplarMasterView *view,
                                  char **request, GString *out)
{
  const char *cmd = request[0];
  if (strcmp(cmd, "stats") == 0) {
    answer_stats(view, out);
  } else if (strcmp(cmd, "who") == 0 || strcmp(cmd, "kick") == 0) {
    ask_workers(view, request, false, out);
  } else if (strcmp(cmd, "penalty") == 0) {
    /* Delays are earned at login, in the workers. */
    PoplarMasterView workers = *view;
    workers.n_user_procs = 0;
    ask_workers(&workers, request, false, out);
  } else if (strcmp(cmd, "auth-test") == 0 || strcmp(cmd, "user") == 0) {
    /* Every worker runs the same databases: one answer is the answer. */
    ask_workers(view, request, true, out);
  } else if (strcmp(cmd, "reload") == 0) {
    g_string_append(out, "OK\n");
    return POPLAR_CONTROL_RELOAD;
  } else if (strcmp(cmd, "stop") == 0) {
    g_string_append(out, "OK\n");
    return POPLAR_CONTROL_STOP;
  } else {
    g_string_append(out, "ERR unknown command\n");
  }
  return POPLAR_CONTROL_NONE;
}

static bool read_request(int fd, GString *in)
{
  char buf[1024];
  while (!memchr(in->str, '\n', in->len)) {
    if (in->len > POPLAR_CONTROL_MAX_LINE)
      return false;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false; /* closed, or SO_RCVTIMEO ran out */
    g_string_append_len(in, buf, n);
  }
  *strchr(in->str, '\n') = '\0';
  return true;
}

PoplarControlAction poplard_control_serve_one(PoplarControl *ctl,
                                              const PoplarMasterView *view)
{
  int fd = accept4(ctl->fd, NULL, NULL, SOCK_CLOEXEC);
  if (fd < 0)
    return POPLAR_CONTROL_NONE;
  struct timeval tv = {.tv_sec = CLIENT_TIMEOUT_MS / 1000,
                       .tv_usec = (CLIENT_TIMEOUT_MS % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  g_autoptr(GString) in = g_string_new(NULL);
  g_autoptr(GString) out = g_string_new(NULL);
  PoplarControlAction action = POPLAR_CONTROL_NONE;
  g_auto(GStrv) request = NULL;
  if (read_request(fd, in))
    request = poplard_control_split(in->str);
  if (!request || !request[0][0])
    g_string_append(out, "ERR malformed request\n");
  else
    action = answer(view, request, out);
  if (request && request[0][0])
    poplarpriv_log(NULL, POPLAR_LOG_INFO, "control: %s", request[0]);
  const char *p = out->str;
  size_t left = out->len;
  while (left > 0) {
    ssize_t w = send(fd, p, left, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      break;
    p += w;
    left -= (size_t)w;
  }
  close(fd);
  return action;
}
