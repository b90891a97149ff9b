/* SPDX-License-Identifier: MIT */
/*
 * One table says which command runs in which state and how its arguments
 * are split; one dispatch function applies it.  Handlers that need a
 * plugin (auth, RETR, DELE with hooks, QUIT's update) live in their own
 * files.
 */
#include "pop3-commands.h"

#include <string.h>
#include <unistd.h>

#include "hooks.h"
#include "log-sink.h"
#include "mailbox-policy.h"

enum {
  IN_AUTH = 1u << POPLAR_STATE_AUTHORIZATION,
  IN_TRANS = 1u << POPLAR_STATE_TRANSACTION,
};

/* How a command's arguments are taken. */
enum {
  ARGS_SPLIT, /* split at spaces, min_args..max_args */
  ARGS_REST,  /* the whole rest of the line, unsplit (PASS, USER) */
};

typedef void (*PoplarCommandFunc)(PoplarClient *c, const PoplarCommandLine *);

typedef struct PoplarCommand {
  char name[POPLAR_KEYWORD_MAX + 1];
  PoplarCommandFunc func;
  unsigned states;
  unsigned args_mode;
  unsigned min_args, max_args;
} PoplarCommand;

static void cmd_capa(PoplarClient *c, const PoplarCommandLine *cmd);
static void cmd_stls(PoplarClient *c, const PoplarCommandLine *cmd);
static void cmd_noop(PoplarClient *c, const PoplarCommandLine *cmd);
static void cmd_stat(PoplarClient *c, const PoplarCommandLine *cmd);
static void cmd_rset(PoplarClient *c, const PoplarCommandLine *cmd);
static void cmd_utf8(PoplarClient *c, const PoplarCommandLine *cmd);

static const PoplarCommand commands[] = {
    {"USER", poplard_cmd_user, IN_AUTH, ARGS_REST, 1, 1},
    {"PASS", poplard_cmd_pass, IN_AUTH, ARGS_REST, 1, 1},
    {"APOP", poplard_cmd_apop, IN_AUTH, ARGS_SPLIT, 2, 2},
    {"CAPA", cmd_capa, IN_AUTH | IN_TRANS, ARGS_SPLIT, 0, 0},
    {"STLS", cmd_stls, IN_AUTH, ARGS_SPLIT, 0, 0},
    {"AUTH", poplard_cmd_auth, IN_AUTH, ARGS_SPLIT, 0, 2},
    {"QUIT", poplard_cmd_quit, IN_AUTH | IN_TRANS, ARGS_SPLIT, 0, 0},
    {"STAT", cmd_stat, IN_TRANS, ARGS_SPLIT, 0, 0},
    {"LIST", poplard_cmd_list, IN_TRANS, ARGS_SPLIT, 0, 1},
    {"UIDL", poplard_cmd_uidl, IN_TRANS, ARGS_SPLIT, 0, 1},
    {"RETR", poplard_cmd_retr, IN_TRANS, ARGS_SPLIT, 1, 1},
    {"TOP", poplard_cmd_top, IN_TRANS, ARGS_SPLIT, 2, 2},
    {"DELE", poplard_cmd_dele, IN_TRANS, ARGS_SPLIT, 1, 1},
    {"NOOP", cmd_noop, IN_TRANS, ARGS_SPLIT, 0, 0},
    {"RSET", cmd_rset, IN_TRANS, ARGS_SPLIT, 0, 0},
    {"UTF8", cmd_utf8, IN_AUTH, ARGS_SPLIT, 0, 0},
};

static const PoplarCommand *find_command(const char *keyword)
{
  for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
    if (strcmp(commands[i].name, keyword) == 0)
      return &commands[i];
  }
  return NULL;
}

void poplard_pop3_bad_command(PoplarClient *c, const char *reply)
{
  if (++c->in.bad_commands >= POPLAR_MAX_BAD_COMMANDS) {
    /* The last error's reply says why the connection closes; still one
     * reply line for one command. */
    poplarpriv_log(c->session.id, POPLAR_LOG_INFO,
                   "%u protocol errors: disconnecting", c->in.bad_commands);
    poplard_client_reply(c, "-ERR Too many errors, closing connection");
    poplard_client_logout(c, POPLAR_DISCONNECT_ERROR);
    return;
  }
  poplard_client_reply(c, reply);
}

void poplard_pop3_line_too_long(PoplarClient *c)
{
  if (c->login.sasl) {
    /* The -ERR ends AUTH for the client (RFC 5034 4): the exchange ends
     * with it, or the next command would be read as a SASL response. */
    poplard_sasl_cancel(c, "-ERR [AUTH] Response too long");
    return;
  }
  poplard_pop3_bad_command(c, "-ERR Line too long (RFC 2449: 255 octets)");
}

void poplard_pop3_dispatch(PoplarClient *c, const char *line, size_t len)
{
  PoplarCommandLine cmd;
  if (c->login.sasl) {
    poplard_sasl_response(c, line, len);
    return;
  }
  PoplarParseResult r = poplard_pop3_parse(line, len, false, &cmd);
  if (r != POPLAR_PARSE_OK) {
    poplard_pop3_bad_command(c, r == POPLAR_PARSE_BAD_KEYWORD
                                   ? "-ERR Unknown command"
                                   : "-ERR Invalid command line");
    return;
  }
  const PoplarCommand *command = find_command(cmd.keyword);
  if (!command) {
    poplard_pop3_bad_command(c, "-ERR Unknown command");
    return;
  }
  if (!(command->states & (1u << c->state))) {
    poplard_pop3_bad_command(c, "-ERR Command not valid in this state");
    return;
  }
  if (command->args_mode == ARGS_REST) {
    if (cmd.rest_len == 0) {
      poplard_pop3_bad_command(c, "-ERR Missing argument");
      return;
    }
  } else {
    r = poplard_pop3_parse(line, len, true, &cmd);
    if (r != POPLAR_PARSE_OK || cmd.argc < command->min_args ||
        cmd.argc > command->max_args) {
      poplard_pop3_bad_command(c, cmd.argc < command->min_args
                                     ? "-ERR Missing argument"
                                     : "-ERR Too many arguments");
      return;
    }
  }
  command->func(c, &cmd);
}

/* ---- greeting --------------------------------------------------------- */

void poplard_pop3_greet(PoplarClient *c)
{
  const PoplarServerConfig *cfg = &c->server->cfg;
  if (c->server->apop) {
    /* RFC 1939 section 7: a timestamp unique to this greeting. */
    g_snprintf(c->login.apop_stamp, sizeof c->login.apop_stamp,
               "<%d.%s.%" G_GINT64_FORMAT "@%s>", (int)poplard_self_pid(), c->session.id,
               c->session.start_time / G_USEC_PER_SEC, cfg->hostname);
    poplard_client_replyf(c, "+OK %s %s", cfg->greeting, c->login.apop_stamp);
  } else {
    poplard_client_replyf(c, "+OK %s", cfg->greeting);
  }
  poplard_client_enter_state(c, POPLAR_STATE_AUTHORIZATION);
}

static void connect_hooks_done(PoplarClient *c)
{
  if (c->job.ok) {
    c->admitted = true;
    poplard_client_connected(c);
    return;
  }
  /* Any refusal at connect ends the session: there is no greeting to
   * continue from. */
  poplard_client_reply(c, c->job.reply);
  g_clear_pointer(&c->job.reply, g_free);
  poplard_client_logout(c, POPLAR_DISCONNECT_ERROR);
}

void poplard_pop3_start(PoplarClient *c)
{
  PoplarHookArgs args = {0};
  if (!poplard_client_run_hooks(c, POPLAR_HOOK_CONNECT, &args,
                                connect_hooks_done))
    poplard_client_pump(c);
}

/* ---- commands without plugin calls ------------------------------------ */

/* RFC 2449 6.5 and 6.7: before login a value a user's password database
 * entry may change carries USER; after it, the user's own value. */
static void capa_policies(PoplarClient *c, bool authorization)
{
  long long expire, login_delay;
  poplard_policy_values(c, &expire, &login_delay);
  const char *per_user = authorization ? " USER" : "";
  if (login_delay >= 0)
    poplard_client_replyf(c, "LOGIN-DELAY %lld%s", login_delay, per_user);
  if (expire == POPLAR_EXPIRE_NEVER)
    poplard_client_reply(c, "EXPIRE NEVER");
  else if (expire >= 0)
    poplard_client_replyf(c, "EXPIRE %lld%s", expire, per_user);
}

static void cmd_capa(PoplarClient *c, const PoplarCommandLine *cmd)
{
  const PoplarServerConfig *cfg = &c->server->cfg;
  (void)cmd;
  poplard_client_reply(c, "+OK Capability list follows");
  poplard_client_reply(c, "TOP");
  poplard_client_reply(c, "UIDL");
  /* RFC 2449 section 5: what the AUTHORIZATION state offers is announced
   * in both states, so a client sees the same list after login.  STLS
   * only on a connection without TLS; USER only where the policy lets a
   * plaintext password through. */
  if (!c->session.tls && c->server->tls)
    poplard_client_reply(c, "STLS");
  if (poplard_client_plaintext_ok(c))
    poplard_client_reply(c, "USER");
  poplard_client_reply(c, "RESP-CODES");
  poplard_client_reply(c, "AUTH-RESP-CODE");
  poplard_client_reply(c, "PIPELINING");
  g_autofree char *mechs = poplard_sasl_mechanisms(c);
  if (mechs[0])
    poplard_client_replyf(c, "SASL %s", mechs);
  capa_policies(c, c->state == POPLAR_STATE_AUTHORIZATION);
  poplard_client_reply(c, "UTF8");
  if (cfg->implementation[0])
    poplard_client_replyf(c, "IMPLEMENTATION %s", cfg->implementation);
  poplard_client_reply(c, ".");
}

/* RFC 6856: from now on user names and passwords are UTF-8, checked. */
static void cmd_utf8(PoplarClient *c, const PoplarCommandLine *cmd)
{
  (void)cmd;
  c->utf8 = true;
  poplard_client_reply(c, "+OK UTF8 enabled");
}

static void cmd_stls(PoplarClient *c, const PoplarCommandLine *cmd)
{
  (void)cmd;
  if (c->session.tls) {
    poplard_pop3_bad_command(c, "-ERR Already using TLS");
    return;
  }
  if (!c->server->tls) {
    poplard_pop3_bad_command(c, "-ERR TLS is not available");
    return;
  }
  poplard_client_reply(c, "+OK Begin TLS negotiation");
  poplard_client_start_tls(c);
}

static void cmd_noop(PoplarClient *c, const PoplarCommandLine *cmd)
{
  (void)cmd;
  poplard_client_reply(c, "+OK");
}

/* Visible, undeleted messages and their octets. */
static void mailbox_totals(const PoplarMailbox *mbox, unsigned *count,
                           uint64_t *octets)
{
  *count = 0;
  *octets = 0;
  for (size_t i = 0; i < mbox->n_visible; i++) {
    const PoplarMessage *msg = mbox->visible[i];
    if (!msg->deleted) {
      (*count)++;
      *octets += msg->size;
    }
  }
}

static void cmd_stat(PoplarClient *c, const PoplarCommandLine *cmd)
{
  unsigned count;
  uint64_t octets;
  (void)cmd;
  mailbox_totals(c->session.mailbox, &count, &octets);
  poplard_client_replyf(c, "+OK %u %" G_GUINT64_FORMAT, count, octets);
}

static void rset_reply(PoplarClient *c)
{
  g_clear_pointer(&c->job.reply, g_free); /* RSET's hooks only listen */
  unsigned count;
  uint64_t octets;
  mailbox_totals(c->session.mailbox, &count, &octets);
  poplard_client_replyf(c, "+OK maildrop has %u messages (%" G_GUINT64_FORMAT
                       " octets)", count, octets);
}

static void cmd_rset(PoplarClient *c, const PoplarCommandLine *cmd)
{
  PoplarMailbox *mbox = c->session.mailbox;
  (void)cmd;
  for (size_t i = 0; i < mbox->n_visible; i++)
    mbox->visible[i]->deleted = false;
  c->stats.deleted = 0;
  c->stats.deleted_octets = 0;
  PoplarHookArgs args = {.mbox = mbox};
  poplard_client_run_hooks(c, POPLAR_HOOK_RSET, &args, rset_reply);
}

PoplarMessage *poplard_pop3_message_arg(PoplarClient *c, const char *arg)
{
  PoplarMailbox *mbox = c->session.mailbox;
  unsigned n = 0;
  if (!poplard_pop3_parse_number(arg, &n) || n == 0 || n > mbox->n_visible) {
    poplard_client_reply(c, "-ERR No such message");
    return NULL;
  }
  PoplarMessage *msg = mbox->visible[n - 1];
  if (msg->deleted) {
    poplard_client_replyf(c, "-ERR Message %u is deleted", n);
    return NULL;
  }
  return msg;
}
