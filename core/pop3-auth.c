/* SPDX-License-Identifier: MIT */
/* USER, PASS and APOP (RFC 1939 section 7). */
#include <gnutls/crypto.h>
#include <string.h>

#include "backend-relay.h"
#include "login.h"
#include "master-login.h"
#include "pop3-commands.h"
#include "session-handoff.h"
#include "stats-points.h"

static void forget_password(PoplarClient *c)
{
  if (c->login.password) {
    explicit_bzero(c->login.password, strlen(c->login.password));
    g_clear_pointer(&c->login.password, g_free);
  }
  g_clear_pointer(&c->login.apop_digest, g_free);
}

static void login_work(PoplarClient *c);
static void login_done(PoplarClient *c);
static PoplarPassdbResult check_apop(PoplarClient *c, PoplarAuthRequest *req);

static void login_start(PoplarClient *c)
{
  poplard_client_run_job(c, login_work, login_done);
}

void poplard_pop3_login(PoplarClient *c, PoplarCredentialCheck check)
{
  c->login.check = check;
  /* An address with recent failures waits before the check, not only
   * before its -ERR: a client that hangs up early learns nothing, and no
   * password is checked for it (auth-throttle.h). */
  uint64_t penalty = poplard_throttle_penalty(
      c->server->throttle, c->session.remote_address, g_get_monotonic_time());
  if (penalty > 0)
    poplard_stats_login_delayed();
  poplard_client_delay_then(c, penalty, login_start);
}

static void start_login(PoplarClient *c, const char *mech, const char *user,
                        PoplarCredentialCheck check)
{
  poplarpriv_auth_request_free(c->login.req);
  c->login.req = poplarpriv_auth_request_new(&c->session, mech, user);
  poplard_pop3_login(c, check);
}

bool poplard_pop3_plaintext_refused(PoplarClient *c)
{
  if (poplard_client_plaintext_ok(c))
    return false;
  poplard_pop3_bad_command(
      c, c->server->tls ? "-ERR [AUTH] Plaintext authentication is "
                          "disallowed without TLS: use STLS first"
                        : "-ERR [AUTH] Plaintext authentication is "
                          "disallowed from this network without TLS");
  return true;
}

/* RFC 6856 section 3: after UTF8 the arguments are UTF-8; a client that
 * sends something else is told so rather than refused as a bad login. */
static bool utf8_refused(PoplarClient *c, const char *arg, size_t len)
{
  if (!c->utf8 || g_utf8_validate_len(arg, len, NULL))
    return false;
  poplard_pop3_bad_command(c, "-ERR Invalid UTF-8 in argument");
  return true;
}

void poplard_cmd_user(PoplarClient *c, const PoplarCommandLine *cmd)
{
  if (poplard_pop3_plaintext_refused(c) ||
      utf8_refused(c, cmd->rest, cmd->rest_len))
    return;
  g_free(c->login.user_arg);
  c->login.user_arg = g_strndup(cmd->rest, cmd->rest_len);
  /* Whether the user exists is not told here: that would let anyone probe
   * for valid names. */
  poplard_client_reply(c, "+OK Send your password");
}

void poplard_cmd_pass(PoplarClient *c, const PoplarCommandLine *cmd)
{
  if (poplard_pop3_plaintext_refused(c))
    return;
  if (!c->login.user_arg) {
    poplard_pop3_bad_command(c, "-ERR Send USER first");
    return;
  }
  if (utf8_refused(c, cmd->rest, cmd->rest_len))
    return;
  c->login.password = g_strndup(cmd->rest, cmd->rest_len);
  g_autofree char *user = g_steal_pointer(&c->login.user_arg);
  g_autofree char *target = NULL, *master = NULL;
  if (poplard_master_split(c->server, user, &target, &master)) {
    poplarpriv_auth_request_free(c->login.req);
    c->login.req = poplarpriv_auth_request_new(&c->session, "USER", target);
    poplarpriv_auth_request_set_master(c->login.req, master);
    poplard_pop3_login(c, poplard_master_check);
    return;
  }
  start_login(c, "USER", user, poplard_pop3_check_password);
}

static bool is_hex_digest(const char *s)
{
  if (strlen(s) != 32)
    return false;
  for (const char *p = s; *p; p++) {
    if (!g_ascii_isxdigit(*p))
      return false;
  }
  return true;
}

void poplard_cmd_apop(PoplarClient *c, const PoplarCommandLine *cmd)
{
  if (!c->server->apop || !c->login.apop_stamp[0]) {
    poplard_pop3_bad_command(c, "-ERR APOP is not available");
    return;
  }
  if (utf8_refused(c, cmd->argv[0], strlen(cmd->argv[0])))
    return;
  if (!is_hex_digest(cmd->argv[1])) {
    poplard_pop3_bad_command(c, "-ERR APOP digest must be 32 hex digits");
    return;
  }
  c->login.apop_digest = g_ascii_strdown(cmd->argv[1], -1);
  start_login(c, "APOP", cmd->argv[0], check_apop);
}

PoplarPassdbResult poplard_pop3_check_password(PoplarClient *c,
                                              PoplarAuthRequest *req)
{
  return poplard_auth_verify_plain(c->server->registry, req, c->login.password);
}

/* Constant time, so that the comparison does not reveal how much of the
 * digest was right. */
static bool digest_equal(const char *a, const char *b, size_t len)
{
  unsigned char diff = 0;
  for (size_t i = 0; i < len; i++)
    diff |= (unsigned char)(a[i] ^ b[i]);
  return diff == 0;
}

static PoplarPassdbResult check_apop(PoplarClient *c, PoplarAuthRequest *req)
{
  PoplarPassdbResult r = poplard_auth_lookup_secret(c->server->registry, req);
  if (r != POPLAR_PASSDB_OK)
    return r;
  /* RFC 1939: MD5 of the greeting's timestamp followed by the secret. */
  g_autofree char *input = g_strconcat(c->login.apop_stamp, req->secret, NULL);
  poplarpriv_auth_request_forget_secret(req);
  unsigned char md5[16];
  int err = gnutls_hash_fast(GNUTLS_DIG_MD5, input, strlen(input), md5);
  explicit_bzero(input, strlen(input));
  if (err < 0)
    return POPLAR_PASSDB_TEMPFAIL;
  char hex[33];
  for (int i = 0; i < 16; i++)
    g_snprintf(hex + 2 * i, 3, "%02x", md5[i]);
  return digest_equal(hex, c->login.apop_digest, 32) ? POPLAR_PASSDB_OK
                                               : POPLAR_PASSDB_DENIED;
}

static void login_work(PoplarClient *c)
{
  PoplarLoginResult r = poplard_auth_login(c, c->login.check);
  forget_password(c);
  poplard_sasl_abort(c); /* a SASL exchange ends with its login */
  c->job.ok = (r == POPLAR_LOGIN_OK);
  c->handoff.pending = (r == POPLAR_LOGIN_HANDOFF);
  c->job.disconnect = (r == POPLAR_LOGIN_DISCONNECT);
  c->job.bad_credentials = (r == POPLAR_LOGIN_FAILED);
  if (r == POPLAR_LOGIN_FAILED)
    c->login.failures++;
}

void poplard_pop3_logged_in(PoplarClient *c)
{
  PoplarMailbox *mbox = c->session.mailbox;
  uint64_t octets = 0;
  for (size_t i = 0; i < mbox->n_visible; i++)
    octets += mbox->visible[i]->size;
  poplard_client_replyf(c, "+OK Logged in, %zu messages (%" G_GUINT64_FORMAT
                       " octets)", mbox->n_visible, octets);
  poplard_client_enter_state(c, POPLAR_STATE_TRANSACTION);
}

static void login_done(PoplarClient *c)
{
  PoplarThrottle *throttle = c->server->throttle;
  const char *user = c->login.req ? c->login.req->user : NULL;
  if (c->login.backend) {
    poplard_throttle_success(throttle, c->session.remote_address, user);
    poplard_backend_relay_start(c);
    return;
  }
  if (c->handoff.pending) {
    c->handoff.pending = false;
    poplard_throttle_success(throttle, c->session.remote_address, user);
    poplard_handoff_client(c);
    return;
  }
  if (c->job.ok) {
    poplard_throttle_success(throttle, c->session.remote_address, user);
    poplard_pop3_logged_in(c);
    return;
  }
  char *reply = g_steal_pointer(&c->job.reply);
  if (c->job.disconnect) {
    poplard_client_reply(c, reply);
    g_free(reply);
    poplard_client_logout(c, POPLAR_DISCONNECT_ERROR);
    return;
  }
  if (!c->job.bad_credentials) {
    /* Refused for another reason (a hook, the store, a database that is
     * down): say so at once; this is no guess to slow down. */
    poplard_client_reply(c, reply);
    g_free(reply);
    return;
  }
  /* Every failed guess waits before its reply, the same whether the user
   * is unknown or the password wrong, and longer after each failure from
   * this address or for this user.  The last allowed one on a connection
   * closes it after its reply: one reply per command. */
  uint64_t delay = poplard_throttle_failure(throttle, c->session.remote_address,
                                           user, g_get_monotonic_time());
  bool last = c->login.failures >= POPLAR_MAX_AUTH_FAILURES;
  if (last)
    poplarpriv_log(c->session.id, POPLAR_LOG_INFO,
                   "%u failed logins: disconnecting", c->login.failures);
  poplard_client_delay(c, delay, reply, last);
}
