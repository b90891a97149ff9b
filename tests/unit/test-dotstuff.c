/* SPDX-License-Identifier: MIT */
/*
 * The RETR/TOP transfer encoder (core/dotstuff.c) and its agreement with
 * the size libpoplar tells stores to announce (libpoplar/crlf-size.c): LIST
 * must give exactly the octets RETR sends before un-stuffing.
 */
#include <glib.h>
#include <string.h>

#include "dotstuff.h"
#include "poplar-private.h"

/* Encodes @in cut at the offsets in @cuts (ascending, may repeat to feed
 * empty chunks), into buffers of exactly the documented worst-case size so
 * that the sanitizers catch any overrun. */
static GString *encode_cut(const char *in, size_t len, long top,
                           const size_t *cuts, size_t n_cuts,
                           PoplarDotStuff *state_out)
{
  PoplarDotStuff st;
  poplard_dotstuff_init(&st, top);
  GString *out = g_string_new(NULL);
  size_t pos = 0;
  for (size_t i = 0; i <= n_cuts; i++) {
    size_t end = i < n_cuts ? cuts[i] : len;
    g_assert_cmpuint(end, >=, pos);
    size_t n = end - pos;
    /* exact-size copies: an over-read or over-write is a sanitizer error */
    g_autofree char *chunk = g_memdup2(in + pos, n ? n : 1);
    g_autofree char *buf = g_malloc(POPLAR_DOTSTUFF_MAX_OUT(n));
    size_t w = poplard_dotstuff_encode(&st, chunk, n, buf);
    g_assert_cmpuint(w, <=, POPLAR_DOTSTUFF_MAX_OUT(n));
    g_string_append_len(out, buf, (gssize)w);
    pos = end;
  }
  char fin[POPLAR_DOTSTUFF_FINISH_MAX];
  size_t w = poplard_dotstuff_finish(&st, fin);
  g_assert_cmpuint(w, <=, POPLAR_DOTSTUFF_FINISH_MAX);
  g_string_append_len(out, fin, (gssize)w);
  if (state_out)
    *state_out = st;
  return out;
}

static GString *encode_whole(const char *in, size_t len, long top)
{
  return encode_cut(in, len, top, NULL, 0, NULL);
}

/* The obvious, octet-at-a-time statement of RFC 1939 section 3. */
static GString *reference_retr(const char *in, size_t len)
{
  GString *out = g_string_new(NULL);
  int prev = -1;
  for (size_t i = 0; i < len; i++) {
    char ch = in[i];
    if ((prev == -1 || prev == '\n') && ch == '.')
      g_string_append_c(out, '.');
    if (ch == '\n' && prev != '\r')
      g_string_append_c(out, '\r');
    g_string_append_c(out, ch);
    prev = (unsigned char)ch;
  }
  if (prev != -1 && prev != '\n')
    g_string_append(out, "\r\n");
  g_string_append(out, ".\r\n");
  return out;
}

/* TOP: the header, the blank line, then @n body lines.  A line is blank
 * when it holds nothing but its line end (LF or CRLF). */
static GString *reference_top(const char *in, size_t len, long n)
{
  size_t pos = 0;
  bool in_body = false;
  long body_lines = 0;
  bool done = false;
  while (pos < len && !done) {
    const char *lf = memchr(in + pos, '\n', len - pos);
    if (!lf) {
      pos = len;
      break;
    }
    size_t end = (size_t)(lf - in) + 1;
    size_t content = end - pos - 1;
    if (content > 0 && in[end - 2] == '\r')
      content--;
    if (!in_body) {
      if (content == 0) {
        in_body = true;
        done = (n == 0);
      }
    } else if (++body_lines == n) {
      done = true;
    }
    pos = end;
  }
  return reference_retr(in, pos);
}

/* Removes the terminator and one leading '.' of each line: what a client
 * gets. */
static GString *unstuff(const GString *wire)
{
  g_assert_cmpuint(wire->len, >=, 3);
  g_assert_cmpmem(wire->str + wire->len - 3, 3, ".\r\n", 3);
  size_t body = wire->len - 3;
  if (body > 0) {
    /* the terminator is on a line of its own */
    g_assert_cmpuint(body, >=, 2);
    g_assert_cmpmem(wire->str + body - 2, 2, "\r\n", 2);
  }
  GString *out = g_string_new(NULL);
  bool line_start = true;
  for (size_t i = 0; i < body; i++) {
    char ch = wire->str[i];
    if (line_start && ch == '.') {
      /* every line that starts with '.' was stuffed */
      g_assert_cmpuint(i + 1, <, body);
      g_assert_cmpint(wire->str[i + 1], ==, '.');
      i++;
    }
    g_string_append_c(out, wire->str[i]);
    line_start = wire->str[i] == '\n';
  }
  return out;
}

/* Every LF on the wire is preceded by CR. */
static void assert_no_bare_lf(const GString *wire)
{
  for (size_t i = 0; i < wire->len; i++)
    if (wire->str[i] == '\n')
      g_assert_true(i > 0 && wire->str[i - 1] == '\r');
}

static uint64_t crlf_size_cut(const char *in, size_t len, const size_t *cuts,
                              size_t n_cuts)
{
  PoplarCrlfSize sz;
  poplar_crlf_size_init(&sz);
  size_t pos = 0;
  for (size_t i = 0; i <= n_cuts; i++) {
    size_t end = i < n_cuts ? cuts[i] : len;
    g_autofree char *chunk = g_memdup2(in + pos, end - pos ? end - pos : 1);
    poplar_crlf_size_feed(&sz, chunk, end - pos);
    pos = end;
  }
  return poplar_crlf_size_finish(&sz);
}

typedef struct EncodeCase {
  const char *name;
  const char *in;
  long top; /* -1: RETR */
  const char *want;
  size_t in_len;   /* 0: strlen(in) */
  size_t want_len; /* 0: strlen(want) */
} EncodeCase;

static const EncodeCase encode_cases[] = {
    {"empty", "", -1, ".\r\n", 0, 0},
    {"one char", "a", -1, "a\r\n.\r\n", 0, 0},
    {"lf", "a\n", -1, "a\r\n.\r\n", 0, 0},
    {"crlf kept", "a\r\n", -1, "a\r\n.\r\n", 0, 0},
    {"lf to crlf", "a\nb\nc\n", -1, "a\r\nb\r\nc\r\n.\r\n", 0, 0},
    {"mixed", "a\r\nb\nc\r\n", -1, "a\r\nb\r\nc\r\n.\r\n", 0, 0},
    {"empty lines", "\n\n", -1, "\r\n\r\n.\r\n", 0, 0},
    {"crlf empty lines", "\r\n\r\n", -1, "\r\n\r\n.\r\n", 0, 0},
    {"no final newline", "a\nb", -1, "a\r\nb\r\n.\r\n", 0, 0},
    {"bare cr kept", "a\rb\n", -1, "a\rb\r\n.\r\n", 0, 0},
    {"bare cr at end", "a\r", -1, "a\r\r\n.\r\n", 0, 0},
    {"cr cr lf", "a\r\r\n", -1, "a\r\r\n.\r\n", 0, 0},
    {"dot alone", ".", -1, "..\r\n.\r\n", 0, 0},
    {"dot line", ".\n", -1, "..\r\n.\r\n", 0, 0},
    {"dot first line", ".a\nb\n", -1, "..a\r\nb\r\n.\r\n", 0, 0},
    {"dot after lf", "a\n.b\n", -1, "a\r\n..b\r\n.\r\n", 0, 0},
    {"dot after crlf", "a\r\n.b\r\n", -1, "a\r\n..b\r\n.\r\n", 0, 0},
    {"dots", "..\n...\n", -1, "...\r\n....\r\n.\r\n", 0, 0},
    {"dot mid line", "a.b\n.", -1, "a.b\r\n..\r\n.\r\n", 0, 0},
    {"dot after bare cr", "a\r.b\n", -1, "a\r.b\r\n.\r\n", 0, 0},
    {"dot lines", "\n.\n\n.", -1, "\r\n..\r\n\r\n..\r\n.\r\n", 0, 0},
    {"fake terminator", "a\r\n.\r\nb\r\n", -1, "a\r\n..\r\nb\r\n.\r\n", 0, 0},
    {"nul kept", "a\0b", -1, "a\0b\r\n.\r\n", 3, 8},
    /* Longer than the encoder's 16-octet steps: line ends and dots at
     * every position of a step, and at its edges. */
    {"long lines", "0123456789abcdef\n.0123456789abcdefghij\r\n.x\n", -1,
     "0123456789abcdef\r\n..0123456789abcdefghij\r\n..x\r\n.\r\n", 0, 0},
    {"lf at step end", "0123456789abcde\n0123456789abcde\n.", -1,
     "0123456789abcde\r\n0123456789abcde\r\n..\r\n.\r\n", 0, 0},
    {"crlf across step", "0123456789abcdef0123456789abcde\r\n.0123456789abcde",
     -1, "0123456789abcdef0123456789abcde\r\n..0123456789abcde\r\n.\r\n",
     0, 0},
    {"many short lines", "a\n.\n\n\r\n.b\nc\r\n..\n\nd\ne\n.f\n", -1,
     "a\r\n..\r\n\r\n\r\n..b\r\nc\r\n...\r\n\r\nd\r\ne\r\n..f\r\n.\r\n",
     0, 0},
    {"no line end 40", "0123456789abcdef0123456789abcdef01234567", -1,
     "0123456789abcdef0123456789abcdef01234567\r\n.\r\n", 0, 0},

    /* TOP */
    {"top 0", "H: 1\nH: 2\n\nb1\nb2\nb3\n", 0, "H: 1\r\nH: 2\r\n\r\n.\r\n", 0, 0},
    {"top 1", "H: 1\nH: 2\n\nb1\nb2\nb3\n", 1,
     "H: 1\r\nH: 2\r\n\r\nb1\r\n.\r\n", 0, 0},
    {"top 2", "H: 1\nH: 2\n\nb1\nb2\nb3\n", 2,
     "H: 1\r\nH: 2\r\n\r\nb1\r\nb2\r\n.\r\n", 0, 0},
    {"top 3", "H: 1\nH: 2\n\nb1\nb2\nb3\n", 3,
     "H: 1\r\nH: 2\r\n\r\nb1\r\nb2\r\nb3\r\n.\r\n", 0, 0},
    {"top more than body", "H: 1\nH: 2\n\nb1\nb2\nb3\n", 100,
     "H: 1\r\nH: 2\r\n\r\nb1\r\nb2\r\nb3\r\n.\r\n", 0, 0},
    {"top crlf 0", "H: 1\r\n\r\nb1\r\nb2\r\n", 0, "H: 1\r\n\r\n.\r\n", 0, 0},
    {"top crlf 1", "H: 1\r\n\r\nb1\r\nb2\r\n", 1, "H: 1\r\n\r\nb1\r\n.\r\n", 0, 0},
    {"top no blank line", "H: 1\nH: 2", 0, "H: 1\r\nH: 2\r\n.\r\n", 0, 0},
    {"top no blank line 5", "H: 1\nH: 2\n", 5, "H: 1\r\nH: 2\r\n.\r\n", 0, 0},
    {"top blank line last", "H: 1\n\n", 0, "H: 1\r\n\r\n.\r\n", 0, 0},
    {"top body unterminated", "H\n\nb1\nb2", 5, "H\r\n\r\nb1\r\nb2\r\n.\r\n", 0, 0},
    {"top body unterminated cut", "H\n\nb1\nb2", 1, "H\r\n\r\nb1\r\n.\r\n", 0, 0},
    {"top dot body", "H\n\n.x\n.y\n", 1, "H\r\n\r\n..x\r\n.\r\n", 0, 0},
    {"top empty message", "", 0, ".\r\n", 0, 0},
    {"top starts blank", "\nbody\nmore\n", 0, "\r\n.\r\n", 0, 0},
    {"top starts blank 1", "\nbody\nmore\n", 1, "\r\nbody\r\n.\r\n", 0, 0},
    {"top blank body lines", "H\n\n\n\nx\n", 2, "H\r\n\r\n\r\n\r\n.\r\n", 0, 0},
    {"top space line not blank", "H\n \nB\n\nb\n", 0,
     "H\r\n \r\nB\r\n\r\n.\r\n", 0, 0},
    {"top bare cr line not blank", "H\n\r\r\nB\n\nb\n", 0,
     "H\r\n\r\r\nB\r\n\r\n.\r\n", 0, 0},
};

/* Each case whole, at every single cut point, and octet by octet. */
static void test_encode_table(void)
{
  for (size_t i = 0; i < G_N_ELEMENTS(encode_cases); i++) {
    const EncodeCase *c = &encode_cases[i];
    size_t len = c->in_len ? c->in_len : strlen(c->in);
    size_t want_len = c->want_len ? c->want_len : strlen(c->want);
    g_test_message("case '%s'", c->name);

    g_autoptr(GString) whole = encode_whole(c->in, len, c->top);
    g_assert_cmpmem(whole->str, whole->len, c->want, want_len);

    for (size_t cut = 0; cut <= len; cut++) {
      size_t cuts[3] = {cut, cut, cut}; /* with empty chunks in between */
      g_autoptr(GString) two = encode_cut(c->in, len, c->top, cuts, 3, NULL);
      g_assert_cmpmem(two->str, two->len, c->want, want_len);
    }

    g_autofree size_t *every = g_new(size_t, len + 1);
    for (size_t k = 0; k < len; k++)
      every[k] = k + 1;
    g_autoptr(GString) bytes = encode_cut(c->in, len, c->top, every, len,
                                          NULL);
    g_assert_cmpmem(bytes->str, bytes->len, c->want, want_len);
  }
}

/* After TOP's budget the encoder reports done and ignores the rest. */
static void test_top_done(void)
{
  PoplarDotStuff st;
  poplard_dotstuff_init(&st, 1);
  char out[64];
  const char *msg = "H\n\nb1\n";
  size_t n = poplard_dotstuff_encode(&st, msg, strlen(msg), out);
  g_assert_cmpmem(out, n, "H\r\n\r\nb1\r\n", 9);
  g_assert_true(st.done);
  n = poplard_dotstuff_encode(&st, "more\n.\n", 7, out);
  g_assert_cmpuint(n, ==, 0);
  n = poplard_dotstuff_finish(&st, out);
  g_assert_cmpmem(out, n, ".\r\n", 3);

  /* RETR is never done */
  poplard_dotstuff_init(&st, -1);
  n = poplard_dotstuff_encode(&st, "H\n\nb\n", 5, out);
  g_assert_false(st.done);
}

/* The documented worst case really is the worst case. */
static void test_worst_case(void)
{
  static const char *const inputs[] = {"\n\n\n\n\n\n\n\n", ".\n.\n.\n.\n",
                                       ".", "\n", ".\n", "\n.", "\r\n.\n"};
  for (size_t i = 0; i < G_N_ELEMENTS(inputs); i++) {
    g_autoptr(GString) out = encode_whole(inputs[i], strlen(inputs[i]), -1);
    g_autoptr(GString) ref = reference_retr(inputs[i], strlen(inputs[i]));
    g_assert_cmpmem(out->str, out->len, ref->str, ref->len);
  }
}

static void test_crlf_size_cases(void)
{
  static const struct {
    const char *in;
    uint64_t size;
  } cases[] = {
      {"", 0},          {"a", 3},        {"a\n", 3},     {"a\r\n", 3},
      {"\n", 2},        {"\r\n", 2},     {"\r", 3},      {"a\rb", 5},
      {"a\nb", 6},      {"\n\n", 4},     {"\r\n\n", 4},  {".", 3},
      {".\n.\n", 6},    {"a\r\r\n", 4},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    size_t len = strlen(cases[i].in);
    g_autofree char *esc = g_strescape(cases[i].in, NULL);
    g_test_message("size of '%s'", esc);
    g_assert_cmpuint(crlf_size_cut(cases[i].in, len, NULL, 0), ==,
                     cases[i].size);
    /* and cut at every point */
    for (size_t cut = 0; cut <= len; cut++) {
      size_t cuts[2] = {cut, cut};
      g_assert_cmpuint(crlf_size_cut(cases[i].in, len, cuts, 2), ==,
                       cases[i].size);
    }
  }
}

/* store.h says "Initialise with {0}"; that must count like
 * poplar_crlf_size_init(). */
static void test_crlf_size_zero_init(void)
{
  static const char *const inputs[] = {"", "a", "\n", "a\nb", "\r\n"};
  for (size_t i = 0; i < G_N_ELEMENTS(inputs); i++) {
    PoplarCrlfSize a = {0}, b;
    poplar_crlf_size_init(&b);
    poplar_crlf_size_feed(&a, inputs[i], strlen(inputs[i]));
    poplar_crlf_size_feed(&b, inputs[i], strlen(inputs[i]));
    uint64_t za = poplar_crlf_size_finish(&a);
    uint64_t zb = poplar_crlf_size_finish(&b);
    g_assert_cmpuint(za, ==, zb);
  }
}

/* Random cut points, ascending, possibly repeated. */
static size_t *random_cuts(size_t len, size_t *n_cuts)
{
  size_t n = len ? (size_t)g_test_rand_int_range(0, (gint32)len + 2) : 0;
  size_t *cuts = g_new(size_t, n + 1);
  for (size_t i = 0; i < n; i++)
    cuts[i] = (size_t)g_test_rand_int_range(0, (gint32)len + 1);
  for (size_t i = 1; i < n; i++) /* insertion sort, n is small */
    for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
      size_t t = cuts[j];
      cuts[j] = cuts[j - 1];
      cuts[j - 1] = t;
    }
  *n_cuts = n;
  return cuts;
}

static char *random_message(const char *alphabet, size_t max_len,
                            size_t *len_out)
{
  size_t len = (size_t)g_test_rand_int_range(0, (gint32)max_len + 1);
  size_t n_alpha = strlen(alphabet);
  char *msg = g_malloc(len + 1);
  for (size_t i = 0; i < len; i++)
    msg[i] = alphabet[g_test_rand_int_range(0, (gint32)n_alpha)];
  msg[len] = '\0';
  *len_out = len;
  return msg;
}

/*
 * The property LIST depends on: for any message and any chunking, what
 * RETR sends, with the stuffing and terminator taken off, is exactly as
 * long as poplar_crlf_size_*() counts (with yet another chunking), and the
 * wire equals the reference encoding.
 */
static void test_retr_property(void)
{
  static const char *const alphabets[] = {"a.\r\n", ".\n", "\r\n", "a.\r\nb "};
  unsigned iterations = g_test_slow() ? 200000 : 20000;
  for (unsigned iter = 0; iter < iterations; iter++) {
    const char *alphabet = alphabets[iter % G_N_ELEMENTS(alphabets)];
    size_t len;
    g_autofree char *msg = random_message(alphabet, 64, &len);
    size_t n1, n2;
    g_autofree size_t *cuts1 = random_cuts(len, &n1);
    g_autofree size_t *cuts2 = random_cuts(len, &n2);

    g_autoptr(GString) wire = encode_cut(msg, len, -1, cuts1, n1, NULL);
    g_autoptr(GString) ref = reference_retr(msg, len);
    if (wire->len != ref->len || memcmp(wire->str, ref->str, ref->len)) {
      g_autofree char *esc = g_strescape(msg, NULL);
      g_test_message("message '%s'", esc);
    }
    g_assert_cmpmem(wire->str, wire->len, ref->str, ref->len);
    assert_no_bare_lf(wire);

    g_autoptr(GString) client = unstuff(wire);
    uint64_t announced = crlf_size_cut(msg, len, cuts2, n2);
    if (client->len != announced) {
      g_autofree char *esc = g_strescape(msg, NULL);
      g_test_message("message '%s'", esc);
    }
    g_assert_cmpuint(client->len, ==, announced);
  }
}

static bool sent_as_stored_cut(const char *in, size_t len, const size_t *cuts,
                               size_t n_cuts)
{
  PoplarCrlfSize sz;
  poplar_crlf_size_init(&sz);
  size_t pos = 0;
  for (size_t i = 0; i <= n_cuts; i++) {
    size_t end = i < n_cuts ? cuts[i] : len;
    g_autofree char *chunk = g_memdup2(in + pos, end - pos ? end - pos : 1);
    poplar_crlf_size_feed(&sz, chunk, end - pos);
    pos = end;
  }
  return poplar_crlf_size_sent_as_stored(&sz);
}

/*
 * What sendfile() relies on: poplar_crlf_size_sent_as_stored() is true
 * exactly when RETR sends the stored octets unchanged followed by the
 * terminator, for any chunking of the count; and then the count is the
 * stored length.
 */
static void test_sent_as_stored_property(void)
{
  static const char *const alphabets[] = {"a.\r\n", "a\r\n", "\r\n",
                                          "a.\r\nb "};
  unsigned clean = 0;
  for (unsigned iter = 0; iter < 40000; iter++) {
    const char *alphabet = alphabets[iter % G_N_ELEMENTS(alphabets)];
    size_t len;
    g_autofree char *msg = random_message(alphabet, 48, &len);
    size_t n_cuts;
    g_autofree size_t *cuts = random_cuts(len, &n_cuts);
    g_autoptr(GString) wire = encode_whole(msg, len, -1);
    bool unchanged = wire->len == len + 3 && memcmp(wire->str, msg, len) == 0;
    bool claimed = sent_as_stored_cut(msg, len, cuts, n_cuts);
    if (claimed != unchanged) {
      g_autofree char *esc = g_strescape(msg, NULL);
      g_test_message("message '%s'", esc);
    }
    g_assert_cmpint(claimed, ==, unchanged);
    if (claimed)
      g_assert_cmpuint(crlf_size_cut(msg, len, NULL, 0), ==, len);
    clean += claimed;
  }
  /* The alphabets make both answers common. */
  g_assert_cmpuint(clean, >, 1000);
}

static void test_sent_as_stored_cases(void)
{
  static const struct {
    const char *in;
    bool as_stored;
  } cases[] = {
      {"", true},           {"a\r\n", true},      {"a\r\nb.\r\n", true},
      {"a\rb\r\n", true},    {"\r\n\r\n", true},   {"a", false},
      {"a\n", false},       {".a\r\n", false},    {"a\r\n.\r\n", false},
      {"a\r\nb", false},     {"a\r", false},       {"a\r\n\n", false},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    size_t len = strlen(cases[i].in);
    for (size_t cut = 0; cut <= len; cut++) {
      size_t cuts[1] = {cut};
      g_assert_cmpint(sent_as_stored_cut(cases[i].in, len, cuts, 1), ==,
                      cases[i].as_stored);
    }
  }
  /* Zeroed instead of initialised, as store.h allows. */
  PoplarCrlfSize zero = {0};
  poplar_crlf_size_feed(&zero, ".\r\n", 3);
  g_assert_false(poplar_crlf_size_sent_as_stored(&zero));
  PoplarCrlfSize zero2 = {0};
  poplar_crlf_size_feed(&zero2, "a\r\n", 3);
  g_assert_true(poplar_crlf_size_sent_as_stored(&zero2));
}

static void test_top_property(void)
{
  static const char *const alphabets[] = {"a.\r\n", "a\n", "\r\na", "a.\n"};
  for (unsigned iter = 0; iter < 20000; iter++) {
    const char *alphabet = alphabets[iter % G_N_ELEMENTS(alphabets)];
    size_t len;
    g_autofree char *msg = random_message(alphabet, 48, &len);
    long top = g_test_rand_int_range(0, 6);
    size_t n_cuts;
    g_autofree size_t *cuts = random_cuts(len, &n_cuts);
    g_autoptr(GString) wire = encode_cut(msg, len, top, cuts, n_cuts, NULL);
    g_autoptr(GString) ref = reference_top(msg, len, top);
    if (wire->len != ref->len || memcmp(wire->str, ref->str, ref->len)) {
      g_autofree char *esc = g_strescape(msg, NULL);
      g_test_message("TOP %ld of '%s'", top, esc);
    }
    g_assert_cmpmem(wire->str, wire->len, ref->str, ref->len);
    assert_no_bare_lf(wire);
  }
}

/* Longer messages with longer lines, so that runs cross the encoder's
 * 16-octet steps at every alignment. */
static void test_retr_long_lines(void)
{
  static const char *const alphabets[] = {
      "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz.\n",
      "abcdefghijklmnop\r\n.", "aaaaaaaaaaaaaaaaaaaaaaaaaaa\n.\r"};
  for (unsigned iter = 0; iter < 20000; iter++) {
    const char *alphabet = alphabets[iter % G_N_ELEMENTS(alphabets)];
    size_t len;
    g_autofree char *msg = random_message(alphabet, 600, &len);
    size_t n_cuts;
    g_autofree size_t *cuts = random_cuts(len, &n_cuts);
    g_autoptr(GString) wire = encode_cut(msg, len, -1, cuts, n_cuts, NULL);
    g_autoptr(GString) ref = reference_retr(msg, len);
    g_assert_cmpmem(wire->str, wire->len, ref->str, ref->len);
  }
}

/* Encodes @in, cut at @cuts, with poplard_dotstuff_encode_into() into
 * exact-size buffers of random room (0 to @max_room octets), as a
 * transfer fills fixed output blocks. */
static GString *encode_into_cut(const char *in, size_t len, long top,
                                const size_t *cuts, size_t n_cuts,
                                size_t max_room)
{
  PoplarDotStuff st;
  poplard_dotstuff_init(&st, top);
  GString *out = g_string_new(NULL);
  size_t pos = 0;
  for (size_t i = 0; i <= n_cuts; i++) {
    size_t end = i < n_cuts ? cuts[i] : len;
    g_autofree char *chunk = g_memdup2(in + pos, end - pos ? end - pos : 1);
    size_t taken = 0;
    while (taken < end - pos) {
      size_t room = (size_t)g_test_rand_int_range(0, (gint32)max_room + 1);
      g_autofree char *buf = g_malloc(room ? room : 1);
      size_t consumed = 0;
      size_t w = poplard_dotstuff_encode_into(&st, chunk + taken,
                                             end - pos - taken, &consumed,
                                             buf, room);
      g_assert_cmpuint(w, <=, room);
      g_assert_cmpuint(consumed, <=, end - pos - taken);
      if (room >= 2)
        g_assert_cmpuint(consumed, >, 0); /* always progress */
      if (consumed == 0)
        g_assert_cmpuint(w, ==, 0);
      g_string_append_len(out, buf, (gssize)w);
      taken += consumed;
    }
    pos = end;
  }
  char fin[POPLAR_DOTSTUFF_FINISH_MAX];
  size_t w = poplard_dotstuff_finish(&st, fin);
  g_string_append_len(out, fin, (gssize)w);
  return out;
}

/* Filling a fixed room gives the same octets as encoding whole chunks, for
 * RETR and TOP, whatever the room left each time. */
static void test_encode_into_property(void)
{
  static const char *const alphabets[] = {
      "a.\r\n", ".\n", "abcdefghijklmnopqrstuvwxyz.\n", "abcdefgh\r\n."};
  for (unsigned iter = 0; iter < 20000; iter++) {
    const char *alphabet = alphabets[iter % G_N_ELEMENTS(alphabets)];
    size_t len;
    g_autofree char *msg = random_message(alphabet, 300, &len);
    long top = iter % 3 == 0 ? g_test_rand_int_range(0, 6) : -1;
    size_t n_cuts;
    g_autofree size_t *cuts = random_cuts(len, &n_cuts);
    size_t max_room = iter % 2 ? 8 : 200;
    g_autoptr(GString) wire = encode_into_cut(msg, len, top, cuts, n_cuts,
                                              max_room);
    g_autoptr(GString) ref = top < 0 ? reference_retr(msg, len)
                                     : reference_top(msg, len, top);
    if (wire->len != ref->len || memcmp(wire->str, ref->str, ref->len)) {
      g_autofree char *esc = g_strescape(msg, NULL);
      g_test_message("top %ld, message '%s'", top, esc);
    }
    g_assert_cmpmem(wire->str, wire->len, ref->str, ref->len);
  }
}

/* The room is filled to the brim, never past it, and a room too small for
 * the next octet's worst case takes nothing. */
static void test_encode_into_room(void)
{
  PoplarDotStuff st;
  poplard_dotstuff_init(&st, -1);
  char out[8];
  size_t consumed = 99;
  size_t w = poplard_dotstuff_encode_into(&st, "abc", 3, &consumed, out, 1);
  g_assert_cmpuint(w, ==, 0);
  g_assert_cmpuint(consumed, ==, 0);
  w = poplard_dotstuff_encode_into(&st, "abc", 3, &consumed, out, 0);
  g_assert_cmpuint(w, ==, 0);
  g_assert_cmpuint(consumed, ==, 0);
  /* 6 octets of room take "abc" whole (3), however they encode */
  w = poplard_dotstuff_encode_into(&st, "abcdefgh", 8, &consumed, out, 6);
  g_assert_cmpuint(consumed, >=, 3);
  g_assert_cmpuint(w, <=, 6);
  g_assert_cmpmem(out, w, "abcdefgh", w);

  /* Every octet doubles: ".\n" lines fill 8 octets exactly. */
  poplard_dotstuff_init(&st, -1);
  w = poplard_dotstuff_encode_into(&st, ".\n.\n.\n", 6, &consumed, out, 8);
  g_assert_cmpuint(consumed, ==, 4);
  g_assert_cmpmem(out, w, "..\r\n..\r\n", 8);

  /* Once TOP is done, the rest counts as consumed. */
  poplard_dotstuff_init(&st, 0);
  w = poplard_dotstuff_encode_into(&st, "H\n\nbody\nmore\n", 13, &consumed,
                                  out, 8);
  g_assert_true(st.done);
  g_assert_cmpuint(consumed, ==, 13);
  g_assert_cmpmem(out, w, "H\r\n\r\n", 5);
}

/* RETR's encoder has AVX2 and SSE2 code for the bulk of a message; where
 * the processor has AVX2, these run the tests again on the SSE2 code. */
typedef struct TestFunc {
  void (*run)(void);
} TestFunc;

static void without_avx2(gconstpointer data)
{
  const TestFunc *t = data;
  poplard_dotstuff_allow_avx2(false);
  t->run();
  poplard_dotstuff_allow_avx2(true);
}

int main(int argc, char **argv)
{
  static const TestFunc table = {test_encode_table};
  static const TestFunc retr = {test_retr_property};
  static const TestFunc long_lines = {test_retr_long_lines};
  static const TestFunc into = {test_encode_into_property};
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/dotstuff/table", test_encode_table);
  g_test_add_func("/dotstuff/top-done", test_top_done);
  g_test_add_func("/dotstuff/worst-case", test_worst_case);
  g_test_add_func("/dotstuff/crlf-size", test_crlf_size_cases);
  g_test_add_func("/dotstuff/crlf-size-zero-init", test_crlf_size_zero_init);
  g_test_add_func("/dotstuff/retr-property", test_retr_property);
  g_test_add_func("/dotstuff/sent-as-stored", test_sent_as_stored_cases);
  g_test_add_func("/dotstuff/sent-as-stored-property",
                  test_sent_as_stored_property);
  g_test_add_func("/dotstuff/top-property", test_top_property);
  g_test_add_func("/dotstuff/retr-long-lines", test_retr_long_lines);
  g_test_add_func("/dotstuff/encode-into-property", test_encode_into_property);
  g_test_add_func("/dotstuff/encode-into-room", test_encode_into_room);
  g_test_add_data_func("/dotstuff/sse2/table", &table, without_avx2);
  g_test_add_data_func("/dotstuff/sse2/retr-property", &retr, without_avx2);
  g_test_add_data_func("/dotstuff/sse2/retr-long-lines", &long_lines,
                       without_avx2);
  g_test_add_data_func("/dotstuff/sse2/encode-into-property", &into,
                       without_avx2);
  return g_test_run();
}
