/* SPDX-License-Identifier: MIT */
/*
 * hook-spamd: classifies messages with SpamAssassin's spamd when a mailbox
 * is opened, before the client lists it, so that the headers it adds are in
 * the LIST sizes and hidden spam is never numbered.  Results are cached per
 * mailbox, so each message is scanned once.
 */
#ifndef POPLAR_SPAMD_H
#define POPLAR_SPAMD_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include <poplar/plugin.h>

/* ---- the spamd client (SPAMC/SPAMD protocol 1.5) ------------------------- */

typedef enum SpamdCommand {
  SPAMD_CHECK,   /* verdict and score only */
  SPAMD_SYMBOLS, /* and the names of the rules that hit */
  SPAMD_REPORT,  /* and a human-readable report */
} SpamdCommand;

/* Where spamd listens and how much of it we may use. */
typedef struct SpamdServer SpamdServer;

typedef struct SpamdVerdict {
  bool spam;
  double score;
  double required;
  char *symbols; /* comma-separated rule names, or NULL */
  char *report;  /* REPORT's text, or NULL */
} SpamdVerdict;

/* Parses "127.0.0.1:783", "[::1]:783", "localhost:783" or
 * "unix:/run/spamd.sock".  Returns NULL with *@error set on bad syntax. */
SpamdServer *spamd_server_new(const char *address, uint64_t timeout_ms,
                              unsigned max_connections, char **error);
void spamd_server_free(SpamdServer *srv);
const char *spamd_server_address(const SpamdServer *srv);

/* Asks spamd about one message.  Waits for a free connection slot, then
 * connects, sends and reads the answer, all within the server's timeout.
 * Returns false with *@error set when spamd is down, slow or answers an
 * error. */
bool spamd_check(SpamdServer *srv, SpamdCommand command, const char *user,
                 const void *message, size_t len, SpamdVerdict *out,
                 char **error);
void spamd_verdict_clear(SpamdVerdict *v);

/* Parses a complete spamd response.  Exposed for the tests. */
bool spamd_parse_response(const char *data, size_t len, SpamdVerdict *out,
                          char **error);

/* ---- the result cache ------------------------------------------------------ */

typedef struct SpamdCacheEntry {
  bool spam;
  double score;
  double required;
  char *symbols; /* "" when none */
} SpamdCacheEntry;

typedef struct SpamdCache SpamdCache;

/* The cache of one mailbox, read from @dir (empty when the file does not
 * exist or is unreadable; problems are logged).  @dir NULL gives a cache
 * that is never saved. */
SpamdCache *spamd_cache_load(PoplarPlugin *plugin, PoplarSession *s,
                             const char *dir, const char *user,
                             const char *location);
const SpamdCacheEntry *spamd_cache_lookup(SpamdCache *c, const char *uidl);
void spamd_cache_store(SpamdCache *c, const char *uidl,
                       const SpamdVerdict *v);
/* Keeps an entry; entries not kept are dropped when saving (their
 * messages are gone from the mailbox). */
void spamd_cache_keep(SpamdCache *c, const char *uidl);
/* Writes the file when anything changed (atomically: a new file renamed
 * over the old one).  Returns false on an I/O error (logged). */
bool spamd_cache_save(SpamdCache *c);
void spamd_cache_free(SpamdCache *c);

#endif
