/* SPDX-License-Identifier: MIT */
/*
 * checkpassword-reply: the program a checkpassword program runs once the
 * password is right (argv[1] of the checkpassword interface).  It writes
 * what the checkpassword program put in the environment to descriptor 4,
 * which poplard reads:
 *
 *   USER          the account's canonical name        -> user=
 *   HOME          its home directory (%h)             -> userdb_home=
 *   EXTRA         names of more variables to pass, separated by spaces;
 *                 each goes as its lower-case name (MAIL -> mail=,
 *                 userdb_uid -> userdb_uid=, QUOTA -> quota=)
 *
 * in the format of Dovecot's program of the same name (fields key=value
 * separated by TAB; TAB, CR, LF and \001 escaped), so that either can be
 * used.  Standard C and POSIX only: it runs at every login.
 *
 * A checkpassword program that switched to another uid before running us
 * would let every process of that uid write a reply of its choosing to
 * descriptor 4 (by ptrace), naming any user; as in Dovecot we refuse
 * unless the uid is still the server's (ORIG_UID) or INSECURE_SETUID is
 * set.  poplard's workers run with no_new_privs, so a program can only
 * switch uid when the workers run as root.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REPLY_FD 4
#define EXIT_OK 0
#define EXIT_TEMPFAIL 111
#define NAME_MAX_LEN 64

typedef struct Out {
  char *buf;
  size_t len, cap;
} Out;

static void fail(const char *fmt, const char *arg)
{
  fputs("checkpassword-reply: ", stderr);
  fprintf(stderr, fmt, arg);
  fputc('\n', stderr);
  exit(EXIT_TEMPFAIL);
}

static void put(Out *o, const char *s, size_t n)
{
  if (o->len + n + 1 > o->cap) {
    size_t cap = (o->len + n + 1) * 2;
    char *grown = realloc(o->buf, cap);
    if (!grown)
      fail("%s", strerror(ENOMEM));
    o->buf = grown;
    o->cap = cap;
  }
  memcpy(o->buf + o->len, s, n);
  o->len += n;
}

static void put_escaped(Out *o, const char *s)
{
  for (; *s; s++) {
    const char *esc = NULL;
    switch (*s) {
    case '\001': esc = "\0011"; break;
    case '\t': esc = "\001t"; break;
    case '\r': esc = "\001r"; break;
    case '\n': esc = "\001n"; break;
    }
    if (esc)
      put(o, esc, 2);
    else
      put(o, s, 1);
  }
}

static void field(Out *o, const char *key, const char *value)
{
  put(o, key, strlen(key));
  put(o, "=", 1);
  put_escaped(o, value);
  put(o, "\t", 1);
}

static bool name_ok(const char *name, size_t len)
{
  if (len == 0 || len > NAME_MAX_LEN)
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
      return false;
  }
  return true;
}

static void extra_fields(Out *o, const char *extra)
{
  const char *p = extra;
  while (*p) {
    while (*p == ' ')
      p++;
    size_t len = strcspn(p, " ");
    if (len == 0)
      break;
    char name[NAME_MAX_LEN + 1];
    if (!name_ok(p, len)) {
      char shown[NAME_MAX_LEN + 1];
      snprintf(shown, sizeof shown, "%.*s", (int)len, p);
      fail("EXTRA names '%s', which is not a variable name", shown);
    }
    memcpy(name, p, len);
    name[len] = '\0';
    const char *value = getenv(name);
    if (value) {
      for (size_t i = 0; i < len; i++)
        if (name[i] >= 'A' && name[i] <= 'Z')
          name[i] = (char)(name[i] - 'A' + 'a');
      field(o, name, value);
    }
    p += len;
  }
}

static void check_uid(void)
{
  if (getenv("INSECURE_SETUID"))
    return;
  const char *orig = getenv("ORIG_UID");
  if (!orig)
    fail("%s", "ORIG_UID was removed from the environment by the "
               "checkpassword program: cannot tell whether it is safe to "
               "answer (set INSECURE_SETUID to answer anyway)");
  char *end = NULL;
  errno = 0;
  unsigned long uid = strtoul(orig, &end, 10);
  if (errno || end == orig || *end || uid != (unsigned long)getuid())
    fail("%s", "the checkpassword program changed the uid: any process of "
               "the new uid could forge this reply (set INSECURE_SETUID to "
               "answer anyway)");
}

int main(void)
{
  check_uid();
  Out o = {0};
  const char *user = getenv("USER");
  if (user)
    field(&o, "user", user);
  const char *home = getenv("HOME");
  if (home)
    field(&o, "userdb_home", home);
  const char *extra = getenv("EXTRA");
  if (extra)
    extra_fields(&o, extra);
  /* Nothing to say is still an answer: poplard takes an empty reply for
   * a program that never ran us. */
  if (o.len == 0)
    put(&o, "\t", 1);

  size_t done = 0;
  while (done < o.len) {
    ssize_t n = write(REPLY_FD, o.buf + done, o.len - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      fail("cannot write the reply to descriptor 4: %s",
           n < 0 ? strerror(errno) : "nothing written");
    done += (size_t)n;
  }
  free(o.buf);
  return EXIT_OK;
}
