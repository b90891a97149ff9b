/* SPDX-License-Identifier: MIT */
/*
 * Internal interface between libpoplar and poplard.  Never installed.
 *
 * The objects plugins see through opaque handles are defined here, so that
 * the core (always built together with this libpoplar) can read them
 * directly.  Functions the core calls are exported from libpoplar.so.1
 * under the private version node (POPLAR_PRIVATE_<release>) with the
 * poplarpriv_ prefix; the ABI check ignores them and a plugin must never
 * call them.
 */
#ifndef POPLAR_PRIVATE_H
#define POPLAR_PRIVATE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "poplar/plugin.h"
#include "uidl-set.h"

G_BEGIN_DECLS

#define POPLAR_PRIV POPLAR_API

/* RFC 1939 section 7: a unique-id is 1 to 70 characters in 0x21..0x7E. */
#define POPLAR_UIDL_MAX 70

/* ---- the build ------------------------------------------------------- */

/* The id of the build this libpoplar comes from: the release and a digest
 * of this header (libpoplar/meson.build).  poplard compares it with the id
 * it was compiled with before anything else. */
POPLAR_PRIV const char *poplarpriv_build_id(void);

/* ---- configuration --------------------------------------------------- */

typedef struct PoplarConfigEntry {
  char *key;
  char *value; /* escapes resolved */
  unsigned line;
  bool used;
} PoplarConfigEntry;

typedef struct PoplarConfigFile PoplarConfigFile;

struct PoplarConfig {
  PoplarConfigFile *file;
  char *name;
  unsigned line;
  GPtrArray *entries;   /* PoplarConfigEntry* in file order */
  GHashTable *by_key;   /* key -> PoplarConfigEntry* */
  GHashTable *lists;    /* key -> char** (cache for get_list) */
  bool synthetic;       /* not in the file: created for a plugin */
};

struct PoplarConfigFile {
  char *path;
  GPtrArray *sections; /* PoplarConfig* in file order */
  GPtrArray *errors;   /* char*, "path:line: ..." */
  GPtrArray *warnings; /* char*, same form, not fatal */
};

/* Parses @data (the text of @path).  Syntax errors are collected in the
 * returned file's errors; the result is never NULL. */
POPLAR_PRIV PoplarConfigFile *poplarpriv_config_parse(const char *path,
                                                      const char *data,
                                                      size_t len);
/* Reads and parses @path; a read failure is reported in errors. */
POPLAR_PRIV PoplarConfigFile *poplarpriv_config_load(const char *path);
POPLAR_PRIV void poplarpriv_config_free(PoplarConfigFile *file);
/* Returns the section, or NULL. */
POPLAR_PRIV PoplarConfig *poplarpriv_config_section(PoplarConfigFile *file,
                                                    const char *name);
/* Returns the section, creating an empty one when the file has none. */
POPLAR_PRIV PoplarConfig *
poplarpriv_config_section_ensure(PoplarConfigFile *file, const char *name);
/* Records an "unknown key" error for every key no accessor asked for. */
POPLAR_PRIV void poplarpriv_config_report_unused(PoplarConfig *section);

/* ---- logging --------------------------------------------------------- */

typedef void (*PoplarLogHandler)(PoplarLogLevel level, const char *session_id,
                                 const char *plugin, const char *message);
POPLAR_PRIV void poplarpriv_set_log_handler(PoplarLogHandler handler);
POPLAR_PRIV void poplarpriv_set_log_level(PoplarLogLevel level);
POPLAR_PRIV bool poplarpriv_log_enabled(PoplarLogLevel level);
/* For the core's own messages (no plugin). */
POPLAR_PRIV void poplarpriv_log(const char *session_id, PoplarLogLevel level,
                                const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* ---- plugins and what they register ----------------------------------- */

typedef struct PoplarRegistry PoplarRegistry;

struct PoplarPlugin {
  char *name;  /* "store-maildir" */
  char *path;  /* the .so it came from */
  unsigned index; /* its session-data slot */
  PoplarPluginDescriptor desc; /* copied, unknown members zeroed */
  void *handle;                /* the loader's handle */
  PoplarConfig *config;
  PoplarRegistry *registry;
  bool registering; /* inside init: poplar_register_* allowed */
  bool init_called; /* fini is due at shutdown */
  void *data;       /* poplar_plugin_set_data() */
  unsigned registered; /* tables accepted from its init */
  unsigned refused;    /* registrations refused during its init */
};

typedef struct PoplarPassdbEntry {
  PoplarPlugin *plugin;
  char *name;
  PoplarPassdbOps ops;
  void *data;
  bool master; /* [server] master-passdb: only for master logins */
} PoplarPassdbEntry;

typedef struct PoplarStoreEntry {
  PoplarPlugin *plugin;
  char *scheme;
  PoplarStoreOps ops;
  void *data;
} PoplarStoreEntry;

typedef struct PoplarHookEntry {
  PoplarPlugin *plugin;
  PoplarHookOps ops;
  void *data;
} PoplarHookEntry;

typedef struct PoplarSaslEntry {
  PoplarPlugin *plugin;
  char *name;
  unsigned flags;
  PoplarSaslMechOps ops;
  void *data;
} PoplarSaslEntry;

struct PoplarRegistry {
  GPtrArray *plugins; /* PoplarPlugin*, in load order */
  GPtrArray *passdbs; /* PoplarPassdbEntry* */
  GPtrArray *stores;  /* PoplarStoreEntry* */
  GPtrArray *hooks;   /* PoplarHookEntry* */
  GPtrArray *mechs;   /* PoplarSaslEntry* */
};

POPLAR_PRIV PoplarRegistry *poplarpriv_registry_new(void);
/* Calls every table's destroy, then frees the registry (not the plugins'
 * shared objects: the loader owns those). */
POPLAR_PRIV void poplarpriv_registry_free(PoplarRegistry *registry);
POPLAR_PRIV PoplarPlugin *poplarpriv_plugin_new(PoplarRegistry *registry,
                                                const char *name,
                                                const char *path);
/* Called when @plugin's init has run (or at that point when it has none),
 * with what init returned.  A registration refused during init fails it,
 * even when the plugin ignored the false it was given; a plugin that
 * registered nothing is warned about, since poplard will never call it.
 * Both are reported to the plugin's configuration section.  Returns
 * @init_ok unless a registration was refused. */
POPLAR_PRIV bool poplarpriv_plugin_init_done(PoplarPlugin *plugin,
                                             bool init_ok);
POPLAR_PRIV const PoplarStoreEntry *
poplarpriv_registry_store(const PoplarRegistry *registry, const char *scheme);
POPLAR_PRIV const PoplarSaslEntry *
poplarpriv_registry_mech(const PoplarRegistry *registry, const char *name);
/* True when at least one hook implements the member at @offset of
 * PoplarHookOps (offsetof(PoplarHookOps, connect)...). */
POPLAR_PRIV bool poplarpriv_registry_has_hook(const PoplarRegistry *registry,
                                              size_t offset);

/* ---- sessions -------------------------------------------------------- */

typedef struct PoplarSlot {
  void *data;
  void (*free_func)(void *data);
} PoplarSlot;

struct PoplarSession {
  char id[24];
  char remote_address[48];
  char local_address[48];
  unsigned remote_port;
  unsigned local_port;
  bool trusted;
  bool tls;
  char *tls_version;
  char *tls_cipher;
  char *tls_sni;
  char *user;
  PoplarMailbox *mailbox;
  int64_t start_time;
  uint64_t bytes_in;
  uint64_t bytes_out;
  PoplarSlot *slots;
  unsigned n_slots;
  /* set by poplar_hook_reply() during a hook call */
  char *reply_code;
  char *reply_text;
};

/* Frees the per-plugin slots (calling their free functions), the TLS and
 * user strings and any pending hook reply; not @s itself. */
POPLAR_PRIV void poplarpriv_session_clear(PoplarSession *s);
POPLAR_PRIV void poplarpriv_session_set_user(PoplarSession *s,
                                             const char *user);
POPLAR_PRIV void poplarpriv_session_clear_reply(PoplarSession *s);

/* ---- authentication requests ----------------------------------------- */

struct PoplarAuthRequest {
  PoplarSession *session;
  char *user;
  char *mechanism;
  char *home;
  char *mail;
  char *secret;
  char *reason_code;
  char *reason_text;
  GHashTable *fields; /* char* -> char* */
  /* Values a plugin replaced (user, home, mail, fields, reason), kept
   * until the request is freed: a plugin may still hold what an accessor
   * returned before the change (auth.h promises it stays valid). */
  GPtrArray *retired; /* char* */
  char *master_user;  /* a master login: who logs in as user */
};

POPLAR_PRIV PoplarAuthRequest *poplarpriv_auth_request_new(PoplarSession *s,
                                                           const char *mech,
                                                           const char *user);
POPLAR_PRIV void poplarpriv_auth_request_free(PoplarAuthRequest *req);
/* Wipes and frees the secret. */
POPLAR_PRIV void poplarpriv_auth_request_forget_secret(PoplarAuthRequest *r);
/* Marks the request as a master login by @master (copied). */
POPLAR_PRIV void poplarpriv_auth_request_set_master(PoplarAuthRequest *req,
                                                    const char *master);

/* ---- mailboxes ------------------------------------------------------- */

struct PoplarMessage {
  const char *uidl; /* in the mailbox's string chunk */
  void *data;
  char *prefix;     /* CRLF header lines added by hooks, or NULL */
  uint64_t size;    /* as sent, prefix included */
  uint32_t prefix_len;
  unsigned number;  /* 1-based, 0 when hidden */
  bool deleted;
  bool hidden;
  bool expunged;    /* removed by this session's UPDATE */
};

#define POPLAR_MAILBOX_BLOCK 1024

struct PoplarMailbox {
  PoplarSession *session;
  const PoplarStoreEntry *store;
  char *user;
  char *location;
  GHashTable *fields; /* borrowed from the auth request; may be NULL */
  void *data;
  char *error;
  PoplarMessage **blocks; /* POPLAR_MAILBOX_BLOCK messages each */
  size_t n_messages;
  GStringChunk *strings;
  PoplarUidlSet *uidls; /* duplicate check while opening */
  bool opening;
  bool open;
  /* after numbering: */
  PoplarMessage **visible; /* number n is visible[n - 1] */
  size_t n_visible;
  PoplarDeleteMode delete_mode; /* [server] delete */
  char *trash_folder;           /* its folder for POPLAR_DELETE_TRASH */
};

struct PoplarMessageReader {
  PoplarMailbox *mbox;
  PoplarMessage *msg;
  void *stream;
};

/* @fields is borrowed and must outlive the mailbox (or be NULL). */
POPLAR_PRIV PoplarMailbox *
poplarpriv_mailbox_new(PoplarSession *s, const PoplarStoreEntry *store,
                       const char *user, const char *location,
                       GHashTable *fields);
/* Calls the store's open (poplarpriv_store_open(): a failure is logged). */
POPLAR_PRIV PoplarStoreResult poplarpriv_mailbox_open(PoplarMailbox *mbox);
/* Numbers the visible messages (after the mailbox-open hooks). */
POPLAR_PRIV void poplarpriv_mailbox_number(PoplarMailbox *mbox);
/* Calls the store's close when open, then frees everything. */
POPLAR_PRIV void poplarpriv_mailbox_free(PoplarMailbox *mbox);
/* [server] delete for this mailbox; @folder is copied.  Before open. */
POPLAR_PRIV void poplarpriv_mailbox_set_delete_mode(PoplarMailbox *mbox,
                                                    PoplarDeleteMode mode,
                                                    const char *folder);
POPLAR_PRIV void poplarpriv_mailbox_clear_error(PoplarMailbox *mbox);

/* ---- calling plugins' operations --------------------------------------
 * Every call of a store's or a password database's operation, from the
 * core or from libpoplar, goes through these (store-call.c,
 * passdb-call.c).  Each makes the call, checks the answer, logs the
 * store's error text (poplar_mailbox_set_error()) with the session id and
 * the plugin's name, and clears it; callers only act on the result. */

/* A message as a range of a file, for sendfile().  The descriptor is the
 * store's (see PoplarStoreOps.message_open_fd); -1 when not offered. */
typedef struct PoplarFileRange {
  int fd;
  uint64_t offset;
  uint64_t length;
} PoplarFileRange;

/* The store's open, inside poplarpriv_mailbox_open(). */
POPLAR_PRIV PoplarStoreResult poplarpriv_store_open(PoplarMailbox *mbox);
/* The store's close, inside poplarpriv_mailbox_free(). */
POPLAR_PRIV void poplarpriv_store_close(PoplarMailbox *mbox);
POPLAR_PRIV PoplarStoreResult
poplarpriv_store_message_open(PoplarMailbox *mbox, PoplarMessage *msg,
                              void **stream);
/* message_open_fd when the store has it, message_open otherwise.  On OK,
 * @range->fd is -1 unless the store offered a range whose length is the
 * message's stored size; an offer that fails that check is logged and
 * ignored, and the stream is read instead. */
POPLAR_PRIV PoplarStoreResult
poplarpriv_store_message_open_fd(PoplarMailbox *mbox, PoplarMessage *msg,
                                 void **stream, PoplarFileRange *range);
/* Returns octets read (at most @len), 0 at the end, or -1 on an error
 * (logged): a store that claims more than @len is an error too. */
POPLAR_PRIV int64_t poplarpriv_store_message_read(PoplarMailbox *mbox,
                                                  PoplarMessage *msg,
                                                  void *stream, char *buf,
                                                  size_t len);
POPLAR_PRIV void poplarpriv_store_message_close(PoplarMailbox *mbox,
                                                void *stream);
/* Calls expunge when a message is marked and settles which messages were
 * removed (PoplarMessage.expunged, see PoplarStoreOps.expunge); *@removed
 * and *@octets count them. */
POPLAR_PRIV PoplarStoreResult poplarpriv_store_expunge(PoplarMailbox *mbox,
                                                       unsigned *removed,
                                                       uint64_t *octets);

/* A database without the operation answers NO_SUCH_USER; an answer
 * outside PoplarPassdbResult, or lookup_secret's OK without a secret, is
 * logged and becomes TEMPFAIL. */
POPLAR_PRIV PoplarPassdbResult
poplarpriv_passdb_verify_plain(const PoplarPassdbEntry *db,
                               PoplarAuthRequest *req, const char *password);
/* lookup_user; NO_SUCH_USER when the database has none. */
POPLAR_PRIV PoplarPassdbResult
poplarpriv_passdb_lookup_user(const PoplarPassdbEntry *db,
                              PoplarAuthRequest *req);
POPLAR_PRIV PoplarPassdbResult
poplarpriv_passdb_lookup_secret(const PoplarPassdbEntry *db,
                                PoplarAuthRequest *req);

G_END_DECLS

#endif /* POPLAR_PRIVATE_H */
