/* SPDX-License-Identifier: MIT */
/* The POP3 command table and the handlers that need no plugin call. */
#ifndef POPLAR_POP3_COMMANDS_H
#define POPLAR_POP3_COMMANDS_H

#include <stddef.h>

#include "client.h"
#include "login.h"
#include "pop3-parse.h"

/* Runs the connect hooks, if any, then poplard_client_connected(). */
void poplard_pop3_start(PoplarClient *c);
/* Queues the greeting and enters AUTHORIZATION. */
void poplard_pop3_greet(PoplarClient *c);
/* Runs one command line (without CRLF). */
void poplard_pop3_dispatch(PoplarClient *c, const char *line, size_t len);
/* Answers a line over the RFC 2449 limit. */
void poplard_pop3_line_too_long(PoplarClient *c);
/* Counts a protocol error; disconnects after too many. */
void poplard_pop3_bad_command(PoplarClient *c, const char *reply);

/* Starts the login job for c->login.req with @check as the secret check; the
 * reply and the state change follow when it returns. */
void poplard_pop3_login(PoplarClient *c, PoplarCredentialCheck check);
/* The mailbox of a login is open: answers +OK with its size and enters
 * the TRANSACTION state. */
void poplard_pop3_logged_in(PoplarClient *c);
/* The USER/PASS check: c->login.password against the passdbs. */
PoplarPassdbResult poplard_pop3_check_password(PoplarClient *c,
                                              PoplarAuthRequest *req);
/* Sends -ERR [AUTH] and returns true when plaintext passwords are not
 * allowed on this connection. */
bool poplard_pop3_plaintext_refused(PoplarClient *c);

/* SASL (RFC 5034), pop3-sasl.c. */
void poplard_cmd_auth(PoplarClient *c, const PoplarCommandLine *cmd);
/* A client line while an AUTH exchange waits for one. */
void poplard_sasl_response(PoplarClient *c, const char *line, size_t len);
/* The mechanisms to list in CAPA and AUTH, space-separated; "" if none. */
char *poplard_sasl_mechanisms(PoplarClient *c);
/* Ends an exchange under way with @reply (a -ERR), finishing the
 * plugin's state on the pool when there is one. */
void poplard_sasl_cancel(PoplarClient *c, const char *reply);
/* Ends an unfinished exchange (teardown): on the pool. */
void poplard_sasl_abort(PoplarClient *c);

/* Handlers living in their own files. */
void poplard_cmd_user(PoplarClient *c, const PoplarCommandLine *cmd);
void poplard_cmd_pass(PoplarClient *c, const PoplarCommandLine *cmd);
void poplard_cmd_apop(PoplarClient *c, const PoplarCommandLine *cmd);
void poplard_cmd_list(PoplarClient *c, const PoplarCommandLine *cmd);
void poplard_cmd_uidl(PoplarClient *c, const PoplarCommandLine *cmd);
void poplard_cmd_retr(PoplarClient *c, const PoplarCommandLine *cmd);
void poplard_cmd_top(PoplarClient *c, const PoplarCommandLine *cmd);
void poplard_cmd_quit(PoplarClient *c, const PoplarCommandLine *cmd);
void poplard_cmd_dele(PoplarClient *c, const PoplarCommandLine *cmd);

/* Closes and frees an unfinished RETR/TOP.  On the pool (it may call the
 * store) or when no plugin call is needed. */
void poplard_retr_abort(PoplarClient *c);

/* Looks up message @arg (visible, not deleted).  Sends -ERR and returns
 * NULL when there is no such message. */
PoplarMessage *poplard_pop3_message_arg(PoplarClient *c, const char *arg);

#endif
