/* SPDX-License-Identifier: MIT */
/*
 * The AUTH command (RFC 5034): mechanism list, initial response,
 * challenges and responses in base64, "*" to cancel.  PLAIN and LOGIN are
 * built in on top of the password databases; a plugin's mechanism of the
 * same name replaces them, and plugins add others (CRAM-MD5, SCRAM-*).
 * Every outcome goes through the same login path as USER/PASS, so hooks,
 * failure delays and replies are alike whatever the mechanism.
 */
#include <string.h>

#include "master-login.h"
#include "pop3-commands.h"

typedef enum SaslKind {
  SASL_PLAIN,  /* built-in PLAIN, RFC 4616 */
  SASL_LOGIN,  /* built-in LOGIN */
  SASL_PLUGIN, /* a plugin's mechanism */
} SaslKind;

struct PoplarSaslExchange {
  SaslKind kind;
  const PoplarSaslEntry *mech; /* SASL_PLUGIN */
  void *state;                 /* the plugin's, after start */
  bool started;
  unsigned login_step;         /* LOGIN: 0 user, 1 password */
  bool awaiting_ack;           /* success data sent, empty line expected */
  const char *cancel_reply;    /* the -ERR for an exchange that ends early */
  /* One step's input (decoded) and output, passed to and from the pool. */
  unsigned char *in;
  size_t in_len;
  bool in_absent;
  PoplarSaslStatus status;
  unsigned char *out;
  size_t out_len;
};

/* RFC 4422 3.1 and RFC 5034 4: a line of at most a few KB; base64 per
 * RFC 4648 section 4, padding required, nothing else allowed. */
static bool base64_decode_strict(const char *s, size_t len,
                                 unsigned char **out, size_t *out_len)
{
  if (len % 4 != 0)
    return false;
  for (size_t i = 0; i < len; i++) {
    char ch = s[i];
    bool pad = ch == '=' && (i == len - 1 || (i == len - 2 && s[len - 1] ==
                                                                '='));
    if (!g_ascii_isalnum(ch) && ch != '+' && ch != '/' && !pad)
      return false;
  }
  g_autofree char *copy = g_strndup(s, len);
  gsize n = 0;
  *out = len ? g_base64_decode(copy, &n) : (unsigned char *)g_strdup("");
  *out_len = n;
  return true;
}

static void send_challenge(PoplarClient *c, const unsigned char *data,
                           size_t len)
{
  g_autofree char *b64 = len ? g_base64_encode(data, len) : g_strdup("");
  /* Challenges may exceed a normal reply line: written raw. */
  poplard_client_write(c, "+ ", 2);
  poplard_client_write(c, b64, strlen(b64));
  poplard_client_write(c, "\r\n", 2);
}

static void exchange_free(PoplarClient *c)
{
  PoplarSaslExchange *x = c->login.sasl;
  if (!x)
    return;
  if (x->in) {
    explicit_bzero(x->in, x->in_len);
    g_free(x->in);
  }
  g_free(x->out);
  g_free(x);
  c->login.sasl = NULL;
}

/* Ends the plugin's exchange state.  A plugin call: on the pool. */
static void exchange_finish(PoplarClient *c)
{
  PoplarSaslExchange *x = c->login.sasl;
  if (x && x->kind == SASL_PLUGIN && x->started) {
    x->mech->ops.finish(x->mech->data, x->state);
    x->started = false;
  }
}

void poplard_sasl_abort(PoplarClient *c)
{
  exchange_finish(c);
  exchange_free(c);
}

/* ---- which mechanisms this connection may use ------------------------- */

static bool have_plain_passdb(const PoplarRegistry *registry)
{
  for (guint i = 0; i < registry->passdbs->len; i++) {
    const PoplarPassdbEntry *db = g_ptr_array_index(registry->passdbs, i);
    if (db->ops.verify_plain)
      return true;
  }
  return false;
}

static bool find_mechanism(PoplarClient *c, const char *name, SaslKind *kind,
                           const PoplarSaslEntry **mech)
{
  const PoplarRegistry *registry = c->server->registry;
  bool plaintext_ok = poplard_client_plaintext_ok(c);
  *mech = poplarpriv_registry_mech(registry, name);
  if (*mech) {
    *kind = SASL_PLUGIN;
    return plaintext_ok || !((*mech)->flags & POPLAR_SASL_PLAINTEXT);
  }
  if (!plaintext_ok || !have_plain_passdb(registry))
    return false;
  if (g_ascii_strcasecmp(name, "PLAIN") == 0) {
    *kind = SASL_PLAIN;
    return true;
  }
  if (g_ascii_strcasecmp(name, "LOGIN") == 0) {
    *kind = SASL_LOGIN;
    return true;
  }
  return false;
}

char *poplard_sasl_mechanisms(PoplarClient *c)
{
  const PoplarRegistry *registry = c->server->registry;
  GString *list = g_string_new(NULL);
  SaslKind kind;
  const PoplarSaslEntry *mech;
  static const char *const builtin[] = {"PLAIN", "LOGIN"};
  for (size_t i = 0; i < G_N_ELEMENTS(builtin); i++) {
    if (find_mechanism(c, builtin[i], &kind, &mech))
      g_string_append_printf(list, "%s%s", list->len ? " " : "", builtin[i]);
  }
  for (guint i = 0; i < registry->mechs->len; i++) {
    const PoplarSaslEntry *e = g_ptr_array_index(registry->mechs, i);
    if (g_ascii_strcasecmp(e->name, "PLAIN") == 0 ||
        g_ascii_strcasecmp(e->name, "LOGIN") == 0)
      continue; /* listed above when usable */
    if (find_mechanism(c, e->name, &kind, &mech))
      g_string_append_printf(list, "%s%s", list->len ? " " : "", e->name);
  }
  return g_string_free(list, FALSE);
}

/* ---- built-in PLAIN and LOGIN ------------------------------------------ */

static void fail_exchange(PoplarClient *c, const char *reply)
{
  exchange_free(c);
  poplard_pop3_bad_command(c, reply);
}

/* RFC 4616: [authzid] NUL authcid NUL passwd. */
static void plain_response(PoplarClient *c, const unsigned char *data,
                           size_t len)
{
  const char *authzid = (const char *)data;
  const char *nul1 = memchr(data, '\0', len);
  const char *nul2 = nul1 ? memchr(nul1 + 1, '\0',
                                   len - (size_t)(nul1 + 1 - authzid))
                          : NULL;
  if (!nul2 || memchr(nul2 + 1, '\0', len - (size_t)(nul2 + 1 - authzid)) ||
      nul2 == nul1 + 1) {
    fail_exchange(c, "-ERR [AUTH] Malformed PLAIN message");
    return;
  }
  const char *authcid = nul1 + 1;
  g_autofree char *user = g_strndup(authcid, (gsize)(nul2 - authcid));
  g_autofree char *target = g_strndup(authzid, (gsize)(nul1 - authzid));
  /* Acting for another user is for master users only: otherwise an
   * authorization identity must be empty or the same user. */
  bool acting = target[0] && strcmp(target, user) != 0;
  if (acting && (!poplard_master_enabled(c->server) ||
                 strlen(target) != (size_t)(nul1 - authzid))) {
    fail_exchange(c, "-ERR [AUTH] Authorization identity not permitted");
    return;
  }
  c->login.password = g_strndup(nul2 + 1, len - (size_t)(nul2 + 1 - authzid));
  exchange_free(c);
  poplarpriv_auth_request_free(c->login.req);
  c->login.req = poplarpriv_auth_request_new(&c->session, "PLAIN",
                                             acting ? target : user);
  if (acting)
    poplarpriv_auth_request_set_master(c->login.req, user);
  poplard_pop3_login(c, acting ? poplard_master_check
                               : poplard_pop3_check_password);
}

static void login_response(PoplarClient *c, const unsigned char *data,
                           size_t len)
{
  PoplarSaslExchange *x = c->login.sasl;
  if (memchr(data, '\0', len)) {
    fail_exchange(c, "-ERR [AUTH] Malformed LOGIN message");
    return;
  }
  if (x->login_step == 0) {
    poplarpriv_auth_request_free(c->login.req);
    g_autofree char *user = g_strndup((const char *)data, len);
    c->login.req = poplarpriv_auth_request_new(&c->session, "LOGIN", user);
    x->login_step = 1;
    send_challenge(c, (const unsigned char *)"Password:", 9);
    return;
  }
  c->login.password = g_strndup((const char *)data, len);
  exchange_free(c);
  poplard_pop3_login(c, poplard_pop3_check_password);
}

/* ---- plugin mechanisms: every step is a plugin call on the pool -------- */

static PoplarPassdbResult check_sasl_outcome(PoplarClient *c,
                                             PoplarAuthRequest *req)
{
  PoplarSaslExchange *x = c->login.sasl;
  PoplarSaslStatus status = x->status;
  (void)req;
  exchange_finish(c);
  switch (status) {
  case POPLAR_SASL_OK:
    return POPLAR_PASSDB_OK;
  case POPLAR_SASL_TEMPFAIL:
    return POPLAR_PASSDB_TEMPFAIL;
  default:
    return POPLAR_PASSDB_DENIED;
  }
}

static void plugin_step_work(PoplarClient *c)
{
  PoplarSaslExchange *x = c->login.sasl;
  const PoplarSaslEntry *mech = x->mech;
  g_clear_pointer(&x->out, g_free);
  x->out_len = 0;
  if (!x->started) {
    if (!mech->ops.start(mech->data, c->login.req, &x->state)) {
      x->status = POPLAR_SASL_TEMPFAIL;
      return;
    }
    x->started = true;
  }
  const unsigned char *out = NULL;
  size_t out_len = 0;
  x->status = mech->ops.step(mech->data, x->state, c->login.req,
                             x->in_absent ? NULL : x->in, x->in_len, &out,
                             &out_len);
  if (out && out_len)
    x->out = g_memdup2(out, out_len);
  x->out_len = out && out_len ? out_len : 0;
  if (x->in) {
    explicit_bzero(x->in, x->in_len);
    g_clear_pointer(&x->in, g_free);
  }
}

static void finish_plugin_exchange(PoplarClient *c)
{
  /* The login job ends the plugin's state (check_sasl_outcome) and the
   * exchange is freed when it returns. */
  poplard_pop3_login(c, check_sasl_outcome);
}

static void plugin_step_done(PoplarClient *c)
{
  PoplarSaslExchange *x = c->login.sasl;
  switch (x->status) {
  case POPLAR_SASL_CONTINUE:
    send_challenge(c, x->out, x->out_len);
    return;
  case POPLAR_SASL_OK:
    if (!c->login.req->user) {
      poplarpriv_log(c->session.id, POPLAR_LOG_ERROR,
                     "SASL mechanism %s succeeded without setting a user: "
                     "refused", x->mech->name);
      x->status = POPLAR_SASL_TEMPFAIL;
      finish_plugin_exchange(c);
      return;
    }
    if (x->out_len) {
      /* RFC 5034 4: no additional data with success; it goes as a
       * challenge and the client answers with an empty line. */
      send_challenge(c, x->out, x->out_len);
      x->awaiting_ack = true;
      return;
    }
    finish_plugin_exchange(c);
    return;
  default:
    finish_plugin_exchange(c);
    return;
  }
}

static void plugin_step(PoplarClient *c, unsigned char *in, size_t in_len,
                        bool absent)
{
  PoplarSaslExchange *x = c->login.sasl;
  x->in = in;
  x->in_len = in_len;
  x->in_absent = absent;
  poplard_client_run_job(c, plugin_step_work, plugin_step_done);
}

static void cancel_work(PoplarClient *c)
{
  exchange_finish(c);
}

static void cancel_done(PoplarClient *c)
{
  const char *reply = c->login.sasl->cancel_reply;
  exchange_free(c);
  poplard_pop3_bad_command(c, reply);
}

/* Ends the exchange early with @reply, finishing the plugin's state on the
 * pool when there is one. */
void poplard_sasl_cancel(PoplarClient *c, const char *reply)
{
  c->login.sasl->cancel_reply = reply;
  if (c->login.sasl->kind == SASL_PLUGIN && c->login.sasl->started)
    poplard_client_run_job(c, cancel_work, cancel_done);
  else
    cancel_done(c);
}

/* ---- the command and the responses ------------------------------------ */

static void deliver(PoplarClient *c, unsigned char *data, size_t len,
                    bool absent)
{
  PoplarSaslExchange *x = c->login.sasl;
  switch (x->kind) {
  case SASL_PLAIN:
    if (absent) {
      send_challenge(c, NULL, 0);
      return;
    }
    plain_response(c, data, len);
    break;
  case SASL_LOGIN:
    if (absent) {
      send_challenge(c, (const unsigned char *)"Username:", 9);
      return;
    }
    login_response(c, data, len);
    break;
  case SASL_PLUGIN:
    plugin_step(c, data, len, absent);
    return; /* the job owns @data now */
  }
  explicit_bzero(data, len);
  g_free(data);
}

void poplard_sasl_response(PoplarClient *c, const char *line, size_t len)
{
  PoplarSaslExchange *x = c->login.sasl;
  if (len == 1 && line[0] == '*') {
    poplard_sasl_cancel(c, "-ERR [AUTH] Authentication cancelled");
    return;
  }
  if (x->awaiting_ack) {
    if (len != 0) {
      x->status = POPLAR_SASL_MALFORMED;
      poplarpriv_log(c->session.id, POPLAR_LOG_INFO,
                     "SASL: data after the final challenge");
    }
    finish_plugin_exchange(c);
    return;
  }
  unsigned char *data = NULL;
  size_t data_len = 0;
  if (!base64_decode_strict(line, len, &data, &data_len)) {
    poplard_sasl_cancel(c, "-ERR [AUTH] Invalid base64 in the response");
    return;
  }
  deliver(c, data, data_len, false);
}

void poplard_cmd_auth(PoplarClient *c, const PoplarCommandLine *cmd)
{
  if (cmd->argc == 0) {
    /* Not in RFC 5034, but widely sent by clients to learn the list. */
    g_autofree char *list = poplard_sasl_mechanisms(c);
    poplard_client_reply(c, "+OK Mechanisms follow");
    g_auto(GStrv) names = g_strsplit(list, " ", -1);
    for (char **n = names; *n; n++) {
      if (**n)
        poplard_client_reply(c, *n);
    }
    poplard_client_reply(c, ".");
    return;
  }
  SaslKind kind;
  const PoplarSaslEntry *mech = NULL;
  if (!find_mechanism(c, cmd->argv[0], &kind, &mech)) {
    const PoplarSaslEntry *any = poplarpriv_registry_mech(
        c->server->registry, cmd->argv[0]);
    bool builtin = g_ascii_strcasecmp(cmd->argv[0], "PLAIN") == 0 ||
                   g_ascii_strcasecmp(cmd->argv[0], "LOGIN") == 0;
    if ((any || builtin) && !poplard_client_plaintext_ok(c))
      poplard_pop3_plaintext_refused(c);
    else
      poplard_pop3_bad_command(c, "-ERR Unsupported authentication "
                                 "mechanism");
    return;
  }
  unsigned char *ir = NULL;
  size_t ir_len = 0;
  bool absent = cmd->argc < 2;
  if (!absent) {
    const char *arg = cmd->argv[1];
    /* RFC 5034 4: "=" is an empty initial response. */
    if (strcmp(arg, "=") == 0) {
      ir = (unsigned char *)g_strdup("");
    } else if (!base64_decode_strict(arg, strlen(arg), &ir, &ir_len)) {
      poplard_pop3_bad_command(c, "-ERR [AUTH] Invalid base64 in the "
                                 "initial response");
      return;
    }
  }
  poplarpriv_auth_request_free(c->login.req);
  c->login.req = poplarpriv_auth_request_new(
      &c->session, mech ? mech->name : cmd->argv[0], NULL);
  if (mech) {
    g_free(c->login.req->mechanism);
    c->login.req->mechanism = g_strdup(mech->name);
  } else {
    g_free(c->login.req->mechanism);
    c->login.req->mechanism = g_ascii_strup(cmd->argv[0], -1);
  }
  c->login.sasl = g_new0(PoplarSaslExchange, 1);
  c->login.sasl->kind = kind;
  c->login.sasl->mech = mech;
  deliver(c, ir, ir_len, absent);
}
