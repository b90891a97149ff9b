/* SPDX-License-Identifier: MIT */
#include "mailbox-policy.h"

#include <string.h>
#include <sys/stat.h>

#include "policy-state.h"
#include "server-config.h"

#define DEFAULT_STATE_NAME "poplar-retrieved"
#define SECONDS_PER_DAY 86400

struct PoplarMailboxPolicy {
  long long expire;      /* days, or POPLAR_EXPIRE_UNSET/NEVER */
  long long login_delay; /* seconds, -1: none */
  char *path;            /* the state file */
  PoplarPolicyState *state;
};

static int64_t now_seconds(void)
{
  return g_get_real_time() / G_USEC_PER_SEC;
}

/* A password database's value for @key, when it gave a valid one. */
static bool user_value(const PoplarClient *c, const char *key, bool days,
                       long long *out)
{
  /* A login whose mailbox is open: its request holds what the
   * database said of this user (a failed login's request says nothing). */
  const PoplarAuthRequest *req = c->login.req;
  const char *v = req && c->session.mailbox
                      ? g_hash_table_lookup(req->fields, key)
                      : NULL;
  if (!v)
    return false;
  if (days && g_ascii_strcasecmp(v, "never") == 0) {
    *out = POPLAR_EXPIRE_NEVER;
    return true;
  }
  gint64 n;
  if (!g_ascii_string_to_signed(v, 10, 0, days ? 36500 : 86400 * 365, &n,
                                NULL)) {
    poplarpriv_log(c->session.id, POPLAR_LOG_WARNING,
                   "password database field %s=%s of %s is not valid: "
                   "[server] %s applies", key, v, req->user, key);
    return false;
  }
  *out = n;
  return true;
}

void poplard_policy_values(const PoplarClient *c, long long *expire,
                           long long *login_delay)
{
  const PoplarServerConfig *cfg = &c->server->cfg;
  if (!user_value(c, "expire", true, expire))
    *expire = cfg->expire;
  if (!user_value(c, "login-delay", false, login_delay))
    *login_delay = cfg->login_delay;
}

/* The store's answer, or the default beside or inside the location. */
static char *state_path(PoplarMailbox *mbox)
{
  const PoplarStoreOps *ops = &mbox->store->ops;
  if (ops->policy_state_path) {
    const char *path = ops->policy_state_path(mbox->store->data, mbox);
    return path ? g_strdup(path) : NULL;
  }
  const char *location = mbox->location;
  struct stat st;
  if (location[0] != '/' || stat(location, &st) != 0)
    return NULL;
  if (S_ISDIR(st.st_mode))
    return g_build_filename(location, DEFAULT_STATE_NAME, NULL);
  if (!S_ISREG(st.st_mode))
    return NULL;
  g_autofree char *dir = g_path_get_dirname(location);
  g_autofree char *base = g_path_get_basename(location);
  g_autofree char *name = g_strdup_printf(".%s.%s", base, DEFAULT_STATE_NAME);
  return g_build_filename(dir, name, NULL);
}

static PoplarLoginResult refuse(PoplarClient *c, const char *reply)
{
  g_free(c->job.reply);
  c->job.reply = g_strdup(reply);
  return POPLAR_LOGIN_REFUSED;
}

static void log_problems(PoplarClient *c, GPtrArray *problems)
{
  for (guint i = 0; i < problems->len; i++)
    poplarpriv_log(c->session.id, POPLAR_LOG_WARNING,
                   "policy state: %s (line skipped)",
                   (const char *)g_ptr_array_index(problems, i));
}

/* Whether the login comes too soon; records it when not. */
static PoplarLoginResult check_login_delay(PoplarClient *c,
                                           PoplarMailboxPolicy *p)
{
  if (p->login_delay <= 0)
    return POPLAR_LOGIN_OK;
  int64_t now = now_seconds();
  int64_t last = p->state->last_login;
  if (last > 0 && now >= last && now - last < p->login_delay) {
    poplarpriv_log(c->session.id, POPLAR_LOG_INFO,
                   "login of %s refused: %" G_GINT64_FORMAT
                   "s after the previous one, login-delay is %llds",
                   c->login.req->user, now - last, p->login_delay);
    g_free(c->job.reply);
    c->job.reply = g_strdup_printf("-ERR [LOGIN-DELAY] Wait %lld seconds "
                                   "between logins", p->login_delay);
    return POPLAR_LOGIN_REFUSED;
  }
  g_autofree char *line = g_strdup_printf("login %" G_GINT64_FORMAT, now);
  g_autoptr(GError) error = NULL;
  if (!poplard_policy_state_append(p->path, line, &error)) {
    poplarpriv_log(c->session.id, POPLAR_LOG_ERROR,
                   "cannot record the login for LOGIN-DELAY: %s",
                   error->message);
    return refuse(c, "-ERR [SYS/TEMP] Mailbox temporarily unavailable");
  }
  p->state->last_login = now;
  return POPLAR_LOGIN_OK;
}

static void policy_free(PoplarMailboxPolicy *p)
{
  if (!p)
    return;
  poplard_policy_state_free(p->state);
  g_free(p->path);
  g_free(p);
}

PoplarLoginResult poplard_policy_open(PoplarClient *c)
{
  long long expire, login_delay;
  poplard_policy_values(c, &expire, &login_delay);
  if (expire < 0 && login_delay <= 0)
    return POPLAR_LOGIN_OK; /* nothing to enforce: no file at all */
  PoplarMailbox *mbox = c->session.mailbox;
  g_autofree char *path = state_path(mbox);
  if (!path) {
    poplarpriv_log(c->session.id, POPLAR_LOG_WARNING,
                   "store %s keeps no policy state for %s: EXPIRE and "
                   "LOGIN-DELAY are not enforced", mbox->store->scheme,
                   mbox->location);
    return POPLAR_LOGIN_OK;
  }
  PoplarMailboxPolicy *p = g_new0(PoplarMailboxPolicy, 1);
  p->expire = expire;
  p->login_delay = login_delay;
  p->path = g_steal_pointer(&path);
  p->state = poplard_policy_state_new();
  g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
  g_autoptr(GError) error = NULL;
  if (!poplard_policy_state_load(p->state, p->path, problems, &error)) {
    poplarpriv_log(c->session.id, POPLAR_LOG_ERROR, "policy state: %s",
                   error->message);
    policy_free(p);
    return refuse(c, "-ERR [SYS/TEMP] Mailbox temporarily unavailable");
  }
  log_problems(c, problems);
  PoplarLoginResult r = check_login_delay(c, p);
  if (r != POPLAR_LOGIN_OK) {
    policy_free(p);
    return r;
  }
  c->policy = p;
  return POPLAR_LOGIN_OK;
}

bool poplard_policy_note_retrieval(PoplarClient *c, PoplarMessage *msg)
{
  PoplarMailboxPolicy *p = c->policy;
  if (!p || p->expire < 0)
    return true;
  int64_t now = now_seconds();
  if (poplard_policy_state_retrieved(p->state, msg->uidl) > 0)
    return true;
  g_autofree char *line =
      g_strdup_printf("retrieved %" G_GINT64_FORMAT " %s", now, msg->uidl);
  g_autoptr(GError) error = NULL;
  if (!poplard_policy_state_append(p->path, line, &error)) {
    poplarpriv_log(c->session.id, POPLAR_LOG_ERROR,
                   "cannot record the retrieval of %s for EXPIRE: %s",
                   msg->uidl, error->message);
    return false;
  }
  poplard_policy_state_note_retrieved(p->state, msg->uidl, now);
  return true;
}

unsigned poplard_policy_mark_expired(PoplarClient *c)
{
  PoplarMailboxPolicy *p = c->policy;
  if (!p || p->expire < 0)
    return 0;
  PoplarMailbox *mbox = c->session.mailbox;
  int64_t now = now_seconds();
  int64_t age = (int64_t)p->expire * SECONDS_PER_DAY;
  unsigned marked = 0;
  for (size_t i = 0; i < mbox->n_visible; i++) {
    PoplarMessage *msg = mbox->visible[i];
    int64_t first = poplard_policy_state_retrieved(p->state, msg->uidl);
    if (msg->deleted || first == 0 || now - first < age)
      continue;
    msg->deleted = true;
    marked++;
  }
  if (marked > 0)
    poplarpriv_log(c->session.id, POPLAR_LOG_INFO,
                   "EXPIRE %lld: %u retrieved messages expired", p->expire,
                   marked);
  return marked;
}

void poplard_policy_update_done(PoplarClient *c)
{
  PoplarMailboxPolicy *p = c->policy;
  if (!p)
    return;
  PoplarMailbox *mbox = c->session.mailbox;
  PoplarPolicyState *kept = poplard_policy_state_new();
  kept->last_login = p->state->last_login;
  for (size_t i = 0; i < mbox->n_messages; i++) {
    const PoplarMessage *msg = poplar_mailbox_message(mbox, i);
    int64_t first = poplard_policy_state_retrieved(p->state, msg->uidl);
    if (first > 0 && !msg->expunged)
      poplard_policy_state_note_retrieved(kept, msg->uidl, first);
  }
  g_autoptr(GError) error = NULL;
  /* Only tidiness is lost when this fails: the appended lines stand. */
  if (!poplard_policy_state_save(kept, p->path, &error))
    poplarpriv_log(c->session.id, POPLAR_LOG_WARNING,
                   "policy state not rewritten: %s", error->message);
  poplard_policy_state_free(p->state);
  p->state = kept;
}

void poplard_policy_free(PoplarClient *c)
{
  policy_free(g_steal_pointer(&c->policy));
}
