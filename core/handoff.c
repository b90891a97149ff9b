/* SPDX-License-Identifier: MIT */
/*
 * The hand-off message is a GVariant in normal form: its reader checks
 * every offset and length, so a damaged datagram is refused whole rather
 * than half-parsed.  One datagram per hand-off on SOCK_SEQPACKET keeps the
 * descriptors with the message they belong to.
 */
#include "handoff.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HANDOFF_TYPE "(uubbssusuxttmsmsssmsmsa{ss}ayay)"
/* The same, for g_variant_new()/get(): the byte arrays as GVariants. */
#define HANDOFF_FORMAT "(uubbssusuxttmsmsssmsmsa{ss}@ay@ay)"
/* Strings and fields are bounded by what a login can carry (a user name
 * is at most a command line, fields come from one database row). */
#define HANDOFF_DATAGRAM_MAX (4 * POPLAR_HANDOFF_DATA_MAX)

PoplarHandoff *poplard_handoff_new(void)
{
  PoplarHandoff *h = g_new0(PoplarHandoff, 1);
  h->fields = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  return h;
}

void poplard_handoff_free(PoplarHandoff *h)
{
  if (!h)
    return;
  g_free(h->session_id);
  g_free(h->remote_address);
  g_free(h->local_address);
  g_free(h->tls_version);
  g_free(h->tls_cipher);
  g_free(h->user);
  g_free(h->mechanism);
  g_free(h->home);
  g_free(h->mail);
  g_hash_table_unref(h->fields);
  if (h->input)
    g_bytes_unref(h->input);
  if (h->output)
    g_bytes_unref(h->output);
  g_free(h);
}

void poplard_handoff_close_fds(int fds[POPLAR_HANDOFF_FDS])
{
  for (unsigned i = 0; i < POPLAR_HANDOFF_FDS; i++) {
    if (fds[i] >= 0)
      close(fds[i]);
    fds[i] = -1;
  }
}

static GVariant *bytes_variant(GBytes *b)
{
  if (!b)
    return g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, "", 0, 1);
  gsize len = 0;
  const void *data = g_bytes_get_data(b, &len);
  return g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, data, len, 1);
}

static GVariant *encode(const PoplarHandoff *h)
{
  GVariantBuilder fields;
  g_variant_builder_init(&fields, G_VARIANT_TYPE("a{ss}"));
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init(&it, h->fields);
  while (g_hash_table_iter_next(&it, &k, &v))
    g_variant_builder_add(&fields, "{ss}", (const char *)k, (const char *)v);
  return g_variant_ref_sink(g_variant_new(
      HANDOFF_FORMAT, h->uid, h->gid, h->tls, h->trusted, h->session_id,
      h->remote_address, h->remote_port, h->local_address, h->local_port,
      (gint64)h->start_time, (guint64)h->bytes_in, (guint64)h->bytes_out,
      h->tls_version, h->tls_cipher, h->user, h->mechanism, h->home, h->mail,
      &fields, bytes_variant(h->input), bytes_variant(h->output)));
}

static GBytes *take_bytes(GVariant *ay)
{
  gsize len = 0;
  const void *data = g_variant_get_fixed_array(ay, &len, 1);
  GBytes *b = g_bytes_new(data, len);
  g_variant_unref(ay);
  return b;
}

static PoplarHandoff *decode(GVariant *v)
{
  PoplarHandoff *h = poplard_handoff_new();
  gint64 start;
  guint64 in, out;
  GVariantIter *fields;
  GVariant *input, *output;
  gboolean tls, trusted;
  g_variant_get(v, HANDOFF_FORMAT, &h->uid, &h->gid, &tls, &trusted,
                &h->session_id, &h->remote_address, &h->remote_port,
                &h->local_address, &h->local_port, &start, &in, &out,
                &h->tls_version, &h->tls_cipher, &h->user, &h->mechanism,
                &h->home, &h->mail, &fields, &input, &output);
  h->tls = tls;
  h->trusted = trusted;
  h->start_time = start;
  h->bytes_in = in;
  h->bytes_out = out;
  char *key, *value;
  while (g_variant_iter_next(fields, "{ss}", &key, &value))
    g_hash_table_replace(h->fields, key, value);
  g_variant_iter_free(fields);
  h->input = take_bytes(input);
  h->output = take_bytes(output);
  return h;
}

static bool send_datagram(int sock, const void *data, size_t len,
                          const int *fds, unsigned n_fds, char **error)
{
  g_assert(n_fds <= POPLAR_HANDOFF_FDS);
  char control[CMSG_SPACE(sizeof(int) * POPLAR_HANDOFF_FDS)];
  memset(control, 0, sizeof control);
  struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
  if (n_fds > 0) {
    mh.msg_control = control;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
    memcpy(CMSG_DATA(cm), fds, sizeof(int) * n_fds);
  }
  ssize_t n;
  do
    n = sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    *error = g_strdup_printf("cannot pass the session on: %s",
                             g_strerror(errno));
    return false;
  }
  if ((size_t)n != len) {
    *error = g_strdup("cannot pass the session on: message cut short");
    return false;
  }
  return true;
}

bool poplard_handoff_send(int sock, const PoplarHandoff *h, const int *fds,
                          unsigned n_fds, char **error)
{
  g_autoptr(GVariant) v = encode(h);
  gsize len = g_variant_get_size(v);
  if (len > HANDOFF_DATAGRAM_MAX) {
    *error = g_strdup_printf("cannot pass the session on: %zu octets of "
                             "state, more than %d", (size_t)len,
                             HANDOFF_DATAGRAM_MAX);
    return false;
  }
  return send_datagram(sock, g_variant_get_data(v), len, fds, n_fds, error);
}

/* Reads one datagram and the descriptors attached to it. */
static int recv_datagram(int sock, GBytes **out, int fds[POPLAR_HANDOFF_FDS],
                         char **error)
{
  for (unsigned i = 0; i < POPLAR_HANDOFF_FDS; i++)
    fds[i] = -1;
  g_autofree char *buf = g_malloc(HANDOFF_DATAGRAM_MAX);
  char control[CMSG_SPACE(sizeof(int) * POPLAR_HANDOFF_FDS)];
  struct iovec iov = {.iov_base = buf, .iov_len = HANDOFF_DATAGRAM_MAX};
  struct msghdr mh = {.msg_iov = &iov,
                      .msg_iovlen = 1,
                      .msg_control = control,
                      .msg_controllen = sizeof control};
  ssize_t n;
  do
    n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN)
    return -2;
  if (n < 0) {
    *error = g_strdup_printf("receiving a session: %s", g_strerror(errno));
    return -1;
  }
  unsigned got = 0;
  for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm;
       cm = CMSG_NXTHDR(&mh, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
      continue;
    size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
      if (got < POPLAR_HANDOFF_FDS)
        fds[got++] = fd;
      else
        close(fd);
    }
  }
  if (n == 0 && got == 0)
    return 0;
  if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
    poplard_handoff_close_fds(fds);
    *error = g_strdup("receiving a session: message cut short");
    return -1;
  }
  *out = g_bytes_new(buf, (gsize)n);
  return 1;
}

static GVariant *parse(GBytes *bytes, char **error)
{
  GVariant *v = g_variant_ref_sink(g_variant_new_from_bytes(
      G_VARIANT_TYPE(HANDOFF_TYPE), bytes, FALSE));
  if (!g_variant_is_normal_form(v)) {
    g_variant_unref(v);
    *error = g_strdup("receiving a session: malformed message");
    return NULL;
  }
  return v;
}

int poplard_handoff_recv(int sock, PoplarHandoff **out,
                         int fds[POPLAR_HANDOFF_FDS], char **error)
{
  GBytes *bytes = NULL;
  int r = recv_datagram(sock, &bytes, fds, error);
  if (r != 1)
    return r;
  GVariant *v = parse(bytes, error);
  g_bytes_unref(bytes);
  if (!v) {
    poplard_handoff_close_fds(fds);
    return -1;
  }
  *out = decode(v);
  g_variant_unref(v);
  return 1;
}

int poplard_handoff_peek(int from, GBytes **held, int fds[POPLAR_HANDOFF_FDS],
                         uint32_t *uid, uint32_t *gid, char **error)
{
  GBytes *bytes = NULL;
  int r = recv_datagram(from, &bytes, fds, error);
  if (r != 1)
    return r;
  GVariant *v = parse(bytes, error);
  if (!v) {
    g_bytes_unref(bytes);
    poplard_handoff_close_fds(fds);
    return -1;
  }
  g_variant_get_child(v, 0, "u", uid);
  g_variant_get_child(v, 1, "u", gid);
  g_variant_unref(v);
  *held = bytes;
  return 1;
}

bool poplard_handoff_forward(int to, GBytes *held,
                             const int fds[POPLAR_HANDOFF_FDS], char **error)
{
  int present[POPLAR_HANDOFF_FDS];
  unsigned n = 0;
  for (unsigned i = 0; i < POPLAR_HANDOFF_FDS; i++)
    if (fds[i] >= 0)
      present[n++] = fds[i];
  gsize len = 0;
  const void *data = g_bytes_get_data(held, &len);
  return send_datagram(to, data, len, present, n, error);
}
