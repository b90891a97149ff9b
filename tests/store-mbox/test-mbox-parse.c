/* SPDX-License-Identifier: MIT */
/*
 * From_ lines, quoting, the parser and the reader.  The parser and the
 * reader stream the file in blocks; a simple whole-file model below says
 * what they must find, and random mboxes are checked against it with
 * block sizes that cut lines everywhere.
 */
#include "mbox.h"
#include "mbox-test-util.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static void test_from_lines(void)
{
  static const char *const valid[] = {
      /* Postfix, procmail */
      "From sender@example.org  Sat Jan  3 01:05:34 1998\n",
      "From MAILER-DAEMON  Thu Feb 29 23:59:59 2024\n",
      /* Exim's tod_bsdinbox */
      "From sender@example.org Sat Jan 03 01:05:34 1998\n",
      /* CRLF file */
      "From a@b Mon Jan  1 00:00:00 2001\r\n",
      /* time zones, no seconds, UUCP, quoted local part, no sender */
      "From a@b Mon Jan  1 00:00:00 2001 +0000\n",
      "From a@b Mon Jan  1 00:00:00 +0000 2001\n",
      "From a@b Mon Jan  1 00:00:00 PST 2001\n",
      "From a@b Mon Jan  1 00:00 2001\n",
      "From a@b Mon Jan  1 00:00:00 2001 remote from uucphost\n",
      "From \"john doe\"@example.org  Mon Jan  1 00:00:00 2001\n",
      "From  Mon Jan  1 00:00:00 2001\n",
      "From a@b mon jan  1 00:00:00 2001\n",
      "From a@b Mon Jan  1 00:00:00 01\n",
      "From a@b Mon Jan  1 00:00:00 2001", /* last line, no end */
  };
  static const char *const invalid[] = {
      "From here on, the body talks about Mon Jan 1\n",
      "From: sender@example.org\n",
      "From a@b\n",
      "From a@b Mon Jan  1 2001\n",
      "From a@b Mon Foo  1 00:00:00 2001\n",
      "From a@b Mon Jan 32 00:00:00 2001\n",
      "From a@b Mon Jan  1 24:00:00 2001\n",
      "From a@b Mon Jan  1 00:00:00\n",
      "From a@b Mon Jan  1 0:0:0 2001\n",
      ">From a@b Mon Jan  1 00:00:00 2001\n",
      "from a@b Mon Jan  1 00:00:00 2001\n",
      "Fro",
  };
  for (size_t i = 0; i < G_N_ELEMENTS(valid); i++)
    g_assert_true(mbox_from_line_valid(valid[i], strlen(valid[i])));
  for (size_t i = 0; i < G_N_ELEMENTS(invalid); i++)
    g_assert_false(mbox_from_line_valid(invalid[i], strlen(invalid[i])));
}

static void test_quoting(void)
{
  struct {
    const char *line;
    bool o, rd;
  } cases[] = {
      {">From x\n", true, true},   {">>From x\n", false, true},
      {">>>From \n", false, true}, {">From\n", false, false},
      {"From x\n", false, false},  {"> From x\n", false, false},
      {">from x\n", false, false}, {">", false, false},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    size_t len = strlen(cases[i].line);
    g_assert_cmpint(mbox_line_is_quoted(cases[i].line, len,
                                        MBOX_FORMAT_MBOXO), ==, cases[i].o);
    g_assert_cmpint(mbox_line_is_quoted(cases[i].line, len,
                                        MBOX_FORMAT_MBOXRD), ==, cases[i].rd);
  }
  /* Only the first MBOX_LINE_PEEK octets count. */
  GString *deep = g_string_new(NULL);
  for (int i = 0; i < MBOX_LINE_PEEK - 5; i++)
    g_string_append_c(deep, '>');
  g_string_append(deep, "From x\n");
  g_assert_true(mbox_line_is_quoted(deep->str, deep->len,
                                    MBOX_FORMAT_MBOXRD));
  g_string_prepend_c(deep, '>');
  g_assert_false(mbox_line_is_quoted(deep->str, deep->len,
                                     MBOX_FORMAT_MBOXRD));
  g_string_free(deep, TRUE);
}

/* ---- the model ---------------------------------------------------------- */

typedef struct RefMsg {
  size_t from, data, end, next;
  bool headless;
  GByteArray *content; /* quoting undone */
} RefMsg;

static void ref_msg_free(gpointer p)
{
  RefMsg *m = p;
  g_byte_array_unref(m->content);
  g_free(m);
}

static size_t line_len_at(const char *s, size_t len, size_t i)
{
  const char *nl = memchr(s + i, '\n', len - i);
  return nl ? (size_t)(nl - (s + i)) + 1 : len - i;
}

static bool ref_is_from(const char *s, size_t len, size_t i)
{
  size_t n = line_len_at(s, len, i);
  return n <= MBOX_LINE_PEEK && mbox_from_line_valid(s + i, n);
}

static bool ref_is_blank(const char *s, size_t len, size_t i)
{
  size_t n = line_len_at(s, len, i);
  return (n == 1 && s[i] == '\n') || (n == 2 && s[i] == '\r' &&
                                      s[i + 1] == '\n');
}

static void ref_finish(GPtrArray *out, RefMsg *m, const char *s,
                       MboxFormat format)
{
  /* Drop one final empty line, the separator. */
  size_t last = m->data;
  for (size_t i = m->data; i < m->next; i += line_len_at(s, m->next, i))
    last = i;
  m->end = m->next;
  if (m->next > m->data && ref_is_blank(s, m->next, last) &&
      s[m->next - 1] == '\n')
    m->end = last;
  m->content = g_byte_array_new();
  bool nonblank = false;
  for (size_t i = m->data; i < m->end;) {
    size_t n = line_len_at(s, m->end, i);
    size_t w = n < MBOX_LINE_PEEK ? n : MBOX_LINE_PEEK;
    if (!ref_is_blank(s, m->end, i))
      nonblank = true;
    size_t skip = mbox_line_is_quoted(s + i, w, format) ? 1 : 0;
    g_byte_array_append(m->content, (const guint8 *)s + i + skip,
                        (guint)(n - skip));
    i += n;
  }
  if (m->headless && !nonblank) {
    ref_msg_free(m);
    return;
  }
  g_ptr_array_add(out, m);
}

static GPtrArray *ref_parse(const char *s, size_t len, MboxFormat format)
{
  GPtrArray *out = g_ptr_array_new_with_free_func(ref_msg_free);
  RefMsg *cur = NULL;
  for (size_t i = 0; i < len; i += line_len_at(s, len, i)) {
    if (ref_is_from(s, len, i)) {
      if (cur) {
        cur->next = i;
        ref_finish(out, cur, s, format);
      }
      cur = g_new0(RefMsg, 1);
      cur->from = i;
      cur->data = i + line_len_at(s, len, i);
    } else if (!cur) {
      cur = g_new0(RefMsg, 1);
      cur->headless = true;
    }
  }
  if (cur) {
    cur->next = len;
    ref_finish(out, cur, s, format);
  }
  return out;
}

static uint64_t ref_size(const GByteArray *c)
{
  uint64_t n = c->len;
  for (guint i = 0; i < c->len; i++) {
    if (c->data[i] == '\n' && (i == 0 || c->data[i - 1] != '\r'))
      n++;
  }
  if (c->len > 0 && c->data[c->len - 1] != '\n')
    n += 2;
  return n;
}

/* ---- running the parser and the reader ---------------------------------- */

typedef struct Mbox {
  char *dir;
  char *path;
  int fd;
  const char *text;
  size_t len;
} Mbox;

static void mbox_file(Mbox *m, const char *text, size_t len)
{
  m->dir = test_make_tmp_dir("poplar-mbox");
  m->path = g_build_filename(m->dir, "mbox", NULL);
  test_write_file(m->path, text, (gssize)len);
  m->fd = open(m->path, O_RDONLY | O_CLOEXEC);
  g_assert_cmpint(m->fd, >=, 0);
  m->text = text;
  m->len = len;
}

static void mbox_file_clear(Mbox *m)
{
  close(m->fd);
  test_remove_tree(m->dir);
  g_free(m->dir);
  g_free(m->path);
}

static GArray *scan(Mbox *m, MboxFormat format, size_t buf_size,
                    GStringChunk *strings)
{
  MboxScanOptions options = {format, buf_size, NULL, NULL};
  GArray *msgs = g_array_new(FALSE, FALSE, sizeof(MboxMsg));
  GError *error = NULL;
  g_assert_true(mbox_scan(m->fd, &options, 0, m->len, msgs, strings,
                          &error));
  g_assert_no_error(error);
  return msgs;
}

static GByteArray *read_message(Mbox *m, MboxFormat format,
                                const MboxMsg *msg, size_t buf_size,
                                size_t out_len)
{
  MboxReader r;
  mbox_reader_init(&r, m->fd, format, msg->data, msg->end, buf_size);
  GByteArray *out = g_byte_array_new();
  char *buf = g_malloc(out_len);
  for (;;) {
    int err = 0;
    int64_t n = mbox_reader_read(&r, buf, out_len, &err);
    g_assert_cmpint(n, >=, 0);
    if (n == 0)
      break;
    g_assert_cmpint(n, <=, (int64_t)out_len);
    g_byte_array_append(out, (const guint8 *)buf, (guint)n);
  }
  g_free(buf);
  mbox_reader_clear(&r);
  return out;
}

static void check_against_model(const char *text, size_t len,
                                MboxFormat format)
{
  Mbox m;
  mbox_file(&m, text, len);
  g_autoptr(GPtrArray) ref = ref_parse(text, len, format);
  static const size_t buf_sizes[] = {0, 2 * MBOX_LINE_PEEK,
                                     2 * MBOX_LINE_PEEK + 1, 3000};
  GStringChunk *strings = g_string_chunk_new(256);
  GArray *first = NULL;
  for (size_t b = 0; b < G_N_ELEMENTS(buf_sizes); b++) {
    GArray *msgs = scan(&m, format, buf_sizes[b], strings);
    g_assert_cmpuint(msgs->len, ==, ref->len);
    for (guint i = 0; i < ref->len; i++) {
      const RefMsg *rm = g_ptr_array_index(ref, i);
      const MboxMsg *sm = &g_array_index(msgs, MboxMsg, i);
      g_assert_cmpuint(sm->data, ==, rm->data);
      g_assert_cmpuint(sm->end, ==, rm->end);
      g_assert_cmpuint(sm->next, ==, rm->next);
      g_assert_cmpint(!!(sm->flags & MBOX_MSG_HEADLESS), ==, rm->headless);
      if (!rm->headless)
        g_assert_cmpuint(sm->from, ==, rm->from);
      g_assert_cmpuint(sm->size, ==, ref_size(rm->content));
      if (first) {
        const MboxMsg *fm = &g_array_index(first, MboxMsg, i);
        g_assert_cmpmem(fm->hash, MBOX_HASH_LEN, sm->hash, MBOX_HASH_LEN);
        g_assert_cmpint(fm->flags, ==, sm->flags);
      }
      if (b < 2) {
        static const size_t out_lens[] = {1, 7, 65536};
        for (size_t o = 0; o < G_N_ELEMENTS(out_lens); o++) {
          GByteArray *got =
              read_message(&m, format, sm, buf_sizes[b], out_lens[o]);
          g_assert_cmpmem(got->data, got->len, rm->content->data,
                          rm->content->len);
          g_byte_array_unref(got);
        }
      }
      g_assert_true(mbox_msg_from_intact(m.fd, sm));
      g_assert_true(mbox_msg_end_intact(m.fd, sm, m.len));
    }
    if (first)
      g_array_free(msgs, TRUE);
    else
      first = msgs;
  }
  g_array_free(first, TRUE);
  g_string_chunk_free(strings);
  mbox_file_clear(&m);
}

/* ---- fixed cases ---------------------------------------------------------- */

static const char fixture[] =
    "From alice@example.org  Sat Jan  3 01:05:34 1998\n"
    "From: alice@example.org\n"
    "Subject: one\n"
    "\n"
    "first body\n"
    ">From the start\n"
    ">>From deeper\n"
    "\n"
    "From MAILER-DAEMON Sat Jan 03 01:05:35 1998\n"
    "Subject: two\n"
    "Status: RO\n"
    "\n"
    "no final newline"
    "\n"
    "From bob@example.org  Sat Jan  3 01:05:36 1998\n"
    "Subject: three\n"
    "X-UIDL: qpopper-uidl-3\n"
    "\n"
    "last\n"
    "\n";

static void test_fixed_mboxo(void)
{
  Mbox m;
  mbox_file(&m, fixture, strlen(fixture));
  GStringChunk *strings = g_string_chunk_new(256);
  GArray *msgs = scan(&m, MBOX_FORMAT_MBOXO, 0, strings);
  g_assert_cmpuint(msgs->len, ==, 3);
  const MboxMsg *m1 = &g_array_index(msgs, MboxMsg, 0);
  const MboxMsg *m2 = &g_array_index(msgs, MboxMsg, 1);
  const MboxMsg *m3 = &g_array_index(msgs, MboxMsg, 2);
  GByteArray *c1 = read_message(&m, MBOX_FORMAT_MBOXO, m1, 0, 4096);
  static const char e1[] = "From: alice@example.org\nSubject: one\n\n"
                           "first body\nFrom the start\n>>From deeper\n";
  g_assert_cmpmem(c1->data, c1->len, e1, strlen(e1));
  g_assert_cmpuint(m1->size, ==, strlen(e1) + 6);
  GByteArray *c2 = read_message(&m, MBOX_FORMAT_MBOXO, m2, 0, 4096);
  static const char e2[] = "Subject: two\nStatus: RO\n\nno final newline\n";
  g_assert_cmpmem(c2->data, c2->len, e2, strlen(e2));
  g_assert_null(m2->x_uidl);
  g_assert_cmpstr(m3->x_uidl, ==, "qpopper-uidl-3");
  g_assert_cmpint(m3->flags, ==, 0);
  g_byte_array_unref(c1);
  g_byte_array_unref(c2);
  g_array_free(msgs, TRUE);

  /* mboxrd reads ">>From " as ">From ". */
  msgs = scan(&m, MBOX_FORMAT_MBOXRD, 0, strings);
  c1 = read_message(&m, MBOX_FORMAT_MBOXRD,
                    &g_array_index(msgs, MboxMsg, 0), 0, 4096);
  static const char e1rd[] = "From: alice@example.org\nSubject: one\n\n"
                             "first body\nFrom the start\n>From deeper\n";
  g_assert_cmpmem(c1->data, c1->len, e1rd, strlen(e1rd));
  g_byte_array_unref(c1);
  g_array_free(msgs, TRUE);
  g_string_chunk_free(strings);
  mbox_file_clear(&m);
}

static void test_truncated_and_headless(void)
{
  static const char text[] = "garbage before\n\n"
                             "From a@b Mon Jan  1 00:00:00 2001\n"
                             "Subject: cut\n\nhalf a li";
  Mbox m;
  mbox_file(&m, text, strlen(text));
  GStringChunk *strings = g_string_chunk_new(256);
  GArray *msgs = scan(&m, MBOX_FORMAT_MBOXO, 0, strings);
  g_assert_cmpuint(msgs->len, ==, 2);
  const MboxMsg *h = &g_array_index(msgs, MboxMsg, 0);
  const MboxMsg *t = &g_array_index(msgs, MboxMsg, 1);
  g_assert_cmpint(h->flags, ==, MBOX_MSG_HEADLESS);
  g_assert_cmpuint(h->end, ==, strlen("garbage before\n"));
  g_assert_cmpint(t->flags, ==, MBOX_MSG_TRUNCATED);
  g_assert_cmpuint(t->end, ==, strlen(text));
  /* "half a li" is sent with a CRLF added */
  g_assert_cmpuint(t->size, ==, strlen("Subject: cut\r\n\r\nhalf a li\r\n"));
  g_array_free(msgs, TRUE);
  g_string_chunk_free(strings);
  mbox_file_clear(&m);

  /* Empty lines alone before the first From_ line are not a message. */
  static const char blank[] = "\n\r\n"
                              "From a@b Mon Jan  1 00:00:00 2001\n"
                              "Subject: x\n\nbody\n\n";
  mbox_file(&m, blank, strlen(blank));
  strings = g_string_chunk_new(256);
  msgs = scan(&m, MBOX_FORMAT_MBOXO, 0, strings);
  g_assert_cmpuint(msgs->len, ==, 1);
  g_assert_cmpint(g_array_index(msgs, MboxMsg, 0).flags, ==, 0);
  g_array_free(msgs, TRUE);
  g_string_chunk_free(strings);
  mbox_file_clear(&m);
}

static void test_crlf_file(void)
{
  static const char text[] = "From a@b Mon Jan  1 00:00:00 2001\r\n"
                             "Subject: crlf\r\n\r\nbody\r\n>From x\r\n\r\n"
                             "From a@b Mon Jan  1 00:00:01 2001\r\n"
                             "Subject: two\r\n\r\nend\r\n\r\n";
  Mbox m;
  mbox_file(&m, text, strlen(text));
  GStringChunk *strings = g_string_chunk_new(256);
  GArray *msgs = scan(&m, MBOX_FORMAT_MBOXO, 0, strings);
  g_assert_cmpuint(msgs->len, ==, 2);
  GByteArray *c = read_message(&m, MBOX_FORMAT_MBOXO,
                               &g_array_index(msgs, MboxMsg, 0), 0, 100);
  static const char e[] = "Subject: crlf\r\n\r\nbody\r\nFrom x\r\n";
  g_assert_cmpmem(c->data, c->len, e, strlen(e));
  g_assert_cmpuint(g_array_index(msgs, MboxMsg, 0).size, ==, strlen(e));
  g_assert_cmpint(g_array_index(msgs, MboxMsg, 1).flags, ==, 0);
  g_byte_array_unref(c);
  g_array_free(msgs, TRUE);
  g_string_chunk_free(strings);
  mbox_file_clear(&m);
}

/* Fields MUAs rewrite do not change the fingerprint; anything else does. */
static void test_hash_ignores_status(void)
{
  static const char a[] = "From a@b Mon Jan  1 00:00:00 2001\n"
                          "Subject: x\n\nbody\n\n";
  static const char b[] = "From a@b Mon Jan  1 00:00:00 2001\n"
                          "Subject: x\nStatus: RO\nX-Status: A\n"
                          "X-UID: 7\nContent-Length: 5\n"
                          "X-Keywords: $Forwarded\n  folded\n\nbody\n\n";
  static const char c[] = "From a@b Mon Jan  1 00:00:00 2001\n"
                          "Subject: x\n\nbody!\n\n";
  static const char d[] = "From a@b Mon Jan  1 00:00:01 2001\n"
                          "Subject: x\n\nbody\n\n";
  const char *texts[] = {a, b, c, d};
  uint8_t hashes[4][MBOX_HASH_LEN];
  for (int i = 0; i < 4; i++) {
    Mbox m;
    mbox_file(&m, texts[i], strlen(texts[i]));
    GStringChunk *strings = g_string_chunk_new(256);
    GArray *msgs = scan(&m, MBOX_FORMAT_MBOXO, 0, strings);
    g_assert_cmpuint(msgs->len, ==, 1);
    memcpy(hashes[i], g_array_index(msgs, MboxMsg, 0).hash, MBOX_HASH_LEN);
    g_array_free(msgs, TRUE);
    g_string_chunk_free(strings);
    mbox_file_clear(&m);
  }
  g_assert_cmpmem(hashes[0], MBOX_HASH_LEN, hashes[1], MBOX_HASH_LEN);
  g_assert_true(memcmp(hashes[0], hashes[2], MBOX_HASH_LEN) != 0);
  g_assert_true(memcmp(hashes[0], hashes[3], MBOX_HASH_LEN) != 0);
}

static void test_incremental_start(void)
{
  Mbox m;
  mbox_file(&m, fixture, strlen(fixture));
  GStringChunk *strings = g_string_chunk_new(256);
  GArray *all = scan(&m, MBOX_FORMAT_MBOXO, 0, strings);
  const MboxMsg *second = &g_array_index(all, MboxMsg, 1);
  MboxScanOptions options = {MBOX_FORMAT_MBOXO, 0, NULL, NULL};
  GArray *tail = g_array_new(FALSE, FALSE, sizeof(MboxMsg));
  GError *error = NULL;
  g_assert_true(mbox_scan(m.fd, &options, second->from, m.len, tail,
                          strings, &error));
  g_assert_cmpuint(tail->len, ==, 2);
  g_assert_cmpmem(g_array_index(tail, MboxMsg, 0).hash, MBOX_HASH_LEN,
                  second->hash, MBOX_HASH_LEN);
  /* Not at a From_ line: the layout changed. */
  g_array_set_size(tail, 0);
  g_assert_false(mbox_scan(m.fd, &options, second->from + 1, m.len, tail,
                           strings, &error));
  g_assert_error(error, MBOX_ERROR, POPLAR_STORE_GONE);
  g_clear_error(&error);
  g_array_free(tail, TRUE);
  g_array_free(all, TRUE);
  g_string_chunk_free(strings);
  mbox_file_clear(&m);
}

static void test_fixed_against_model(void)
{
  check_against_model(fixture, strlen(fixture), MBOX_FORMAT_MBOXO);
  check_against_model(fixture, strlen(fixture), MBOX_FORMAT_MBOXRD);
}

/* ---- random mboxes -------------------------------------------------------- */

static void test_random_against_model(void)
{
  GString *long_line = g_string_new(NULL);
  for (int i = 0; i < 1500; i++)
    g_string_append_c(long_line, (char)('a' + i % 26));
  g_string_append_c(long_line, '\n');
  GString *deep_quote = g_string_new(NULL);
  for (int i = 0; i < MBOX_LINE_PEEK - 6; i++)
    g_string_append_c(deep_quote, '>');
  g_string_append(deep_quote, "From x\n");
  GString *long_from = g_string_new("From ");
  for (int i = 0; i < MBOX_LINE_PEEK; i++)
    g_string_append_c(long_from, 'x');
  g_string_append(long_from, " Mon Jan  1 00:00:00 2001\n");
  const char *pieces[] = {
      "From a@b  Mon Jan  1 00:00:00 2001\n",
      "From a@b Mon Jan 1 00:00:00 2001\r\n",
      "From nobody\n",
      ">From x\n",
      ">>From y\n",
      ">>>From \n",
      "\n",
      "\r\n",
      "Status: RO\n",
      "X-UIDL: abc\n",
      "Subject: s\n",
      " continued\n",
      "body text ",
      ">",
      "From ",
      "\r",
      "x",
      long_line->str,
      deep_quote->str,
      long_from->str,
  };
  GRand *rand = g_rand_new_with_seed(20240601);
  for (int round = 0; round < 1000; round++) {
    GString *text = g_string_new(NULL);
    int n = g_rand_int_range(rand, 0, 60);
    for (int i = 0; i < n; i++)
      g_string_append(text, pieces[g_rand_int_range(
                                rand, 0, (gint32)G_N_ELEMENTS(pieces))]);
    MboxFormat format = round % 2 ? MBOX_FORMAT_MBOXRD : MBOX_FORMAT_MBOXO;
    check_against_model(text->str, text->len, format);
    g_string_free(text, TRUE);
  }
  g_rand_free(rand);
  g_string_free(long_line, TRUE);
  g_string_free(deep_quote, TRUE);
  g_string_free(long_from, TRUE);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/mbox/from-lines", test_from_lines);
  g_test_add_func("/mbox/quoting", test_quoting);
  g_test_add_func("/mbox/scan/fixed-mboxo", test_fixed_mboxo);
  g_test_add_func("/mbox/scan/truncated-and-headless",
                  test_truncated_and_headless);
  g_test_add_func("/mbox/scan/crlf", test_crlf_file);
  g_test_add_func("/mbox/scan/hash-ignores-status", test_hash_ignores_status);
  g_test_add_func("/mbox/scan/incremental-start", test_incremental_start);
  g_test_add_func("/mbox/scan/fixed-against-model",
                  test_fixed_against_model);
  g_test_add_func("/mbox/scan/random-against-model",
                  test_random_against_model);
  return g_test_run();
}
