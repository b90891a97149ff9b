/* SPDX-License-Identifier: MIT */
/* Helpers the store checks share: sessions on a mailbox, whole and
 * chunked reads, copies of the mailbox under test. */
#ifndef POPLAR_KIT_STORE_H
#define POPLAR_KIT_STORE_H

#include "kit.h"

/* An open mailbox with the session that opened it. */
typedef struct KitBox {
  PoplarSession *session;
  PoplarMailbox *mbox;
  PoplarStoreResult result; /* what open answered */
  char *log;                /* errors and warnings logged during open */
} KitBox;

/* Opens @location (without the scheme) with @store as a login does: open,
 * then numbering.  Always returns a KitBox; check ->result. */
KitBox *kit_box_open(const PoplarStoreEntry *store, const char *location);
/* Calls the store's close (when open succeeded) and frees everything. */
void kit_box_close(KitBox *box);

/* One message as the kit saw it. */
typedef struct KitSeen {
  char *uidl;
  uint64_t size;     /* the size the store listed */
  GBytes *content;   /* the stored octets, read whole */
} KitSeen;

void kit_seen_free(gpointer seen);

/* Reads message @index with reads of @chunk octets, checking each read
 * (count within the request, nothing written past it).  Returns NULL with
 * *@why on a failure. */
GBytes *kit_read_message(KitBox *box, size_t index, size_t chunk,
                         char **why);
/* Lists and reads every message (chunks of the core's RETR size).
 * Returns NULL with *@why on a failure; else KitSeen* in order. */
GPtrArray *kit_box_snapshot(KitBox *box, char **why);
/* What the core sends for @content: its size as sent. */
uint64_t kit_crlf_size(GBytes *content);

/* A location: the store's scheme, the path, and what follows the path
 * (":INDEX=..." and such), split at the first ':' after the path's
 * start. */
typedef struct KitLocation {
  char *scheme;
  char *path;
  char *rest; /* "" when none */
} KitLocation;

bool kit_location_parse(const char *text, KitLocation *loc, char **why);
void kit_location_clear(KitLocation *loc);
/* Copies the mailbox at @loc->path into @dir (created) and returns the
 * location (without the scheme) of the copy, or NULL with *@why. */
char *kit_location_copy(const KitLocation *loc, const char *dir, char **why);

/* The store contract, in parts. */
typedef struct KitStoreRun {
  const PoplarStoreEntry *store;
  const KitOptions *opts;
  KitReport *report;
  KitLocation source;   /* the mailbox the user gave (never modified) */
  char *workdir;        /* temporary directory for the copies */
  unsigned copies;      /* counter for copy names */
  GPtrArray *reference; /* KitSeen* of the first open */
  bool read_only;       /* expunge refused and kept every message */
} KitStoreRun;

/* A fresh copy of the source mailbox; returns its location (no scheme). */
char *kit_store_fresh_copy(KitStoreRun *run, char **why);

void kit_check_store_reads(KitStoreRun *run, const char *location);
void kit_check_store_update(KitStoreRun *run);
void kit_check_store_lock(KitStoreRun *run);
void kit_check_store_threads(KitStoreRun *run);
void kit_check_store_deliver(KitStoreRun *run);
void kit_check_store_errors(KitStoreRun *run);

#endif
