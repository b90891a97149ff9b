/* SPDX-License-Identifier: MIT */
/*
 * A client connection: its socket, buffers, timers and POP3 state.  A
 * client belongs to one loop thread.  While a plugin call runs for it on
 * the pool (job.pending), the loop touches nothing but its socket output,
 * so the job may use the session, the mailbox and the auth request freely.
 */
#ifndef POPLAR_CLIENT_H
#define POPLAR_CLIENT_H

#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "event-loop.h"
#include "hooks.h"
#include "out-queue.h"
#include "poplar-limits.h"
#include "poplar-private.h"
#include "server.h"

typedef enum PoplarPop3State {
  POPLAR_STATE_CONNECT,       /* connect hooks running, no greeting yet */
  POPLAR_STATE_AUTHORIZATION, /* RFC 1939 section 4 */
  POPLAR_STATE_TRANSACTION,   /* RFC 1939 section 5 */
  POPLAR_STATE_UPDATE,        /* RFC 1939 section 6 */
  POPLAR_STATE_LOGOUT,        /* final reply queued, closing */
} PoplarPop3State;

typedef struct PoplarClient PoplarClient;
typedef struct PoplarRetr PoplarRetr;
typedef struct PoplarSaslExchange PoplarSaslExchange;
typedef struct PoplarMailboxPolicy PoplarMailboxPolicy;

/* Runs on a pool thread. */
typedef void (*PoplarJobFunc)(PoplarClient *c);
/* Runs on the client's loop thread after the job. */
typedef void (*PoplarJobDone)(PoplarClient *c);
/* Produces more of a streamed reply when output runs low; returns true
 * when the reply is complete. */
typedef bool (*PoplarFillFunc)(PoplarClient *c);

struct PoplarClient {
  PoplarSession session; /* what plugins see */
  PoplarServer *server;
  PoplarLoop *loop;
  PoplarLoopClients *siblings; /* the clients of the same loop */
  PoplarClient *prev, *next;
  PoplarPop3State state;
  bool closing;                 /* closed; freed once its last job ends */
  /* The connect hooks let the session in: its disconnect hooks run. */
  bool admitted;
  PoplarDisconnectReason reason;
  PoplarTimer timer;            /* idle, handshake, PROXY or delay timeout */
  int64_t last_activity;

  /* The connection under the POP3 session. */
  struct {
    int fd;
    PoplarWatch watch;
    gnutls_session_t tls; /* NULL until TLS starts */
    PoplarTls *tls_ctx;   /* the credentials this session uses */
    bool implicit_tls;    /* accepted on a listen-tls socket */
    bool handshaking;
    bool stls_pending;    /* STLS answered, handshake once it is sent */
    bool tls_send_retry;  /* gnutls_record_send must be called again */
    bool proxy_pending;   /* the PROXY header has not been read yet */
    bool input_unwanted;  /* input came while none was wanted: stop watching */
    size_t proxy_skip;    /* PROXY v2 octets (TLVs) still to discard */
    struct PoplarProxyInfo *proxy_info; /* parsed, kept while TLVs drain */
    bool counted;         /* in the connection limits under limits_key */
    char limits_key[48];
    char listener[64];    /* the listening address it came in on */
  } conn;

  /* Command lines coming in. */
  struct {
    char buf[POPLAR_INPUT_BUFFER];
    size_t len;
    bool discarding; /* skipping the rest of an overlong line */
    bool eof;
    unsigned bad_commands;
  } in;

  /* Replies going out, and the streamed reply being produced. */
  struct {
    PoplarOutQueue queue;
    bool close_after_flush;
    /* A streamed reply that writes to the socket itself (sendfile) found
     * it full: nothing runs until EPOLLOUT says it takes more. */
    bool await_writable;
    PoplarFillFunc fill;
    size_t fill_below;  /* call fill while fewer octets are queued; 0: the
                           default low-water mark */
    size_t fill_cursor; /* next message index for LIST/UIDL */
    PoplarRetr *retr;
  } out;

  /* The plugin call under way (one at a time) and what it hands back to
   * its completion on the loop. */
  struct {
    bool pending;
    bool final; /* the teardown: its completion frees the client */
    PoplarJobFunc work;
    PoplarJobDone done;
    char *reply;          /* reply line produced by the job */
    bool ok;
    bool disconnect;
    PoplarHookPoint hook_point; /* for poplard_client_run_hooks() */
    PoplarHookArgs hook_args;
    bool bad_credentials; /* the login failed on the password */
  } job;

  /* A pause before the next reply (after a failed login). */
  struct {
    PoplarJobDone then;  /* set while the pause runs; called when it ends */
    char *reply;         /* poplard_client_delay()'s reply */
    bool logout_after;   /* the delayed reply is the last one */
  } delay;

  /* Logging in: what the client sent and the attempt under way. */
  struct {
    char *user_arg;         /* from USER */
    char *password;         /* for the auth job; wiped after */
    char *apop_digest;
    char apop_stamp[128];   /* the greeting's APOP timestamp */
    PoplarAuthRequest *req; /* the last attempt; owns the login's fields */
    /* The secret check of the login job under way. */
    PoplarPassdbResult (*check)(PoplarClient *c, PoplarAuthRequest *req);
    PoplarSaslExchange *sasl; /* an AUTH exchange under way */
    unsigned failures;
    /* Proxy mode (backend-proxy.h): the backend the login job logged in
     * to, and its +OK line, for the relay that takes the session over. */
    struct PoplarBackendConn *backend;
    char *backend_reply;
  } login;

  /* A session whose user has a uid of their own moves to a process of
   * that uid (session-handoff.h). */
  struct {
    bool pending;       /* the login succeeded: hand it over */
    uint32_t uid, gid;  /* who serves it then */
    bool done;          /* it went on in that process */
    int lifeline_fd;    /* adopted plain session: closed when it ends, so
                           that the worker that handed it over knows */
  } handoff;

  /* EXPIRE and LOGIN-DELAY state of the open mailbox, or NULL when
   * neither applies (mailbox-policy.h). */
  PoplarMailboxPolicy *policy;
  /* RFC 6856: the client sent UTF8; arguments must be valid UTF-8. */
  bool utf8;

  /* For the session's summary line. */
  struct {
    unsigned retrieved;
    uint64_t retrieved_octets;
    unsigned retrieved_by_sendfile; /* of retrieved */
    unsigned deleted;
    uint64_t deleted_octets;
  } stats;
};

/* Takes ownership of @fd (accepted, non-blocking); the client lives on
 * loop @loop_index.  @implicit_tls: TLS handshake before the greeting.
 * @local_host and @local_port: the address the connection came to, when
 * the listener knows it (NULL: the socket is asked). */
void poplard_client_create(PoplarServer *server, unsigned loop_index, int fd,
                          bool implicit_tls, const struct sockaddr *remote,
                          socklen_t rlen, const char *listener,
                          const char *local_host, unsigned local_port);
/* A client on @fd, linked into loop @loop_index's list, its watch and
 * idle timer set up but nothing sent: the common part of
 * poplard_client_create() and of a session adopted from a worker. */
PoplarClient *poplard_client_alloc(PoplarServer *server, unsigned loop_index,
                                   int fd);
/* The session went on in another process (session-handoff.h): stops
 * watching the connection and frees the client without ending the
 * session, running no disconnect hook and logging no summary.  The caller
 * has taken c->conn.fd and c->conn.tls already. */
void poplard_client_detach(PoplarClient *c);
/* After the connect hooks: the greeting, or first the implicit TLS
 * handshake. */
void poplard_client_connected(PoplarClient *c);
/* True when plaintext passwords may be used: under TLS, or from a trusted
 * network. */
bool poplard_client_plaintext_ok(const PoplarClient *c);
/* STLS: the +OK is queued; start TLS once it is sent. */
void poplard_client_start_tls(PoplarClient *c);
/* Closes every client of the calling loop (server shutdown).  Loop thread
 * only; @data is the server's PoplarLoopClients of that loop. */
void poplard_client_close_all(void *data);

/* Removes @c from its loop's list (when it is freed). */
void poplard_client_unlink(PoplarClient *c);

/* Queues one reply line; CRLF is added. */
void poplard_client_reply(PoplarClient *c, const char *line);
void poplard_client_replyf(PoplarClient *c, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);
/* Queues raw octets. */
void poplard_client_write(PoplarClient *c, const void *data, size_t len);
/* Octets queued and not yet sent. */
static inline size_t poplard_client_pending(const PoplarClient *c)
{
  return c->out.queue.pending;
}

/* The plugin pool's thread function (@data is the client). */
void poplard_client_job_thread(gpointer data, gpointer user_data);
/* Runs @work on the plugin pool, then @done on the loop. */
void poplard_client_run_job(PoplarClient *c, PoplarJobFunc work,
                           PoplarJobDone done);
/* Runs the hooks of @point with @args on the plugin pool, then @done on
 * the loop with c->job.ok (every hook continued, or one accepted),
 * c->job.disconnect (one asked to close) and c->job.reply (a refusal's
 * -ERR line, owned by the client) set; c->job.hook_args holds @args.
 * When no hook implements @point there is no trip to the pool: @done runs
 * at once, with job.ok set, and this returns false.  Returns true when
 * @done will run after the hooks. */
bool poplard_client_run_hooks(PoplarClient *c, PoplarHookPoint point,
                              const PoplarHookArgs *args, PoplarJobDone done);
/* Runs the last job of a closed client (its teardown). */
void poplard_client_run_final_job(PoplarClient *c, PoplarJobFunc work,
                                 PoplarJobDone done);
/* Sends what is queued, then closes. */
void poplard_client_logout(PoplarClient *c, PoplarDisconnectReason reason);
/* Closes now (queued output is dropped). */
void poplard_client_close(PoplarClient *c, PoplarDisconnectReason reason);
/* Changes state, logging the transition. */
void poplard_client_enter_state(PoplarClient *c, PoplarPop3State state);
/* Processes buffered input and streamed output as far as possible; call
 * after anything that may let the session move on. */
void poplard_client_pump(PoplarClient *c);
/* Pauses command processing for @delay_ms, then sends @reply (taken) and
 * goes on, or closes after it when @then_logout. */
void poplard_client_delay(PoplarClient *c, uint64_t delay_ms, char *reply,
                         bool then_logout);
/* Pauses command processing for @delay_ms, then calls @then (at once if
 * @delay_ms is 0). */
void poplard_client_delay_then(PoplarClient *c, uint64_t delay_ms,
                              PoplarJobDone then);

#endif
