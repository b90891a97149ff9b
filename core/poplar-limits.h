/* SPDX-License-Identifier: MIT */
/* Every protocol and resource limit of the core, with where it comes from. */
#ifndef POPLAR_LIMITS_H
#define POPLAR_LIMITS_H

/* RFC 2449 section 4: a command line is at most 255 octets including CRLF. */
#define POPLAR_COMMAND_LINE_MAX 255
/* RFC 2449 section 4: a response line is at most 512 octets including CRLF. */
#define POPLAR_RESPONSE_LINE_MAX 512
/* RFC 1939 section 3: keywords are 3 or 4 characters. */
#define POPLAR_KEYWORD_MAX 4
/* The most arguments any command takes (TOP msg n). */
#define POPLAR_ARGS_MAX 2
/* RFC 1939 section 7: a unique-id is 1 to 70 characters in 0x21..0x7E. */
#define POPLAR_UIDL_LEN_MAX 70

/* Input buffer per session: a command line plus room for what a pipelining
 * client sends behind it.  Lines are consumed as they are read, so this
 * bounds memory per session, not what a client may pipeline. */
#define POPLAR_INPUT_BUFFER 1024
/* Stop reading a client's commands while this much output is queued, so a
 * client that pipelines without reading cannot make the server buffer
 * without bound.  As much as a RETR keeps queued when it asks for more
 * (core/pop3-retr.c), so that the next pipelined RETR starts reading its
 * message while the socket still has the last one to send. */
#define POPLAR_OUTPUT_HIGH_WATER (256 * 1024)
/* Refill streamed output (LIST, UIDL, RETR) when the queue falls below this. */
#define POPLAR_OUTPUT_LOW_WATER (16 * 1024)
/* Octets read from a store per step while streaming a message. */
#define POPLAR_RETR_CHUNK (64 * 1024)

/* Protocol errors (unknown commands, overlong lines) before the server
 * gives up on a client. */
#define POPLAR_MAX_BAD_COMMANDS 20
/* Failed logins on one connection before it is closed. */
#define POPLAR_MAX_AUTH_FAILURES 3

/* Defaults for [server]. */
#define POPLAR_DEFAULT_IDLE_TIMEOUT_MS (10 * 60 * 1000) /* RFC 1939 3: >= 10 min */
#define POPLAR_DEFAULT_MAX_CONNECTIONS 1024
#define POPLAR_DEFAULT_MAX_CONNECTIONS_PER_IP 32
#define POPLAR_DEFAULT_AUTH_FAILURE_DELAY_MS 2000
#define POPLAR_DEFAULT_AUTH_FAILURE_DELAY_MAX_MS (60 * 1000)
#define POPLAR_DEFAULT_AUTH_FAILURE_WINDOW_MS (15 * 60 * 1000)
/* Addresses and user names remembered for failure delays. */
#define POPLAR_THROTTLE_ENTRIES 100000
#define POPLAR_DEFAULT_PLUGIN_THREADS 16
/* Sessions are never served with a uid below this (system accounts), as
 * Dovecot's first_valid_uid; the workers' own uid is always allowed. */
#define POPLAR_DEFAULT_FIRST_VALID_UID 500
/* A user's process outlives its last session this long, so that a client
 * polling every minute does not start a process each time. */
#define POPLAR_DEFAULT_USER_PROCESS_IDLE_MS (60 * 1000)
#define POPLAR_LISTEN_BACKLOG 1024

#endif /* POPLAR_LIMITS_H */
