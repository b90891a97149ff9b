/* SPDX-License-Identifier: MIT */
/*
 * The ownership rules the public headers state (see "Ownership" in
 * poplar/plugin.h), checked the way a plugin would break them: every
 * pointer a plugin passes in is overwritten and freed right after the
 * call, and every pointer the core hands out is read again after the calls
 * that could have invalidated it.  Run under ASan, a borrowed pointer kept
 * by the core, or a returned one freed too early, is a use after free;
 * without ASan the overwritten buffers make the values come out wrong.
 */
#include <glib.h>
#include <string.h>

#include "poplar-private.h"

/* A plugin's buffer: on the heap, so that freeing it is visible to ASan. */
static char *plugin_buffer(const char *text)
{
  return g_strdup(text);
}

/* What a careless plugin does right after the call: scribble, then free. */
static void scribble_and_free(char *buffer)
{
  memset(buffer, 'X', strlen(buffer));
  g_free(buffer);
}

/* ---- authentication requests -------------------------------------------- */

static PoplarAuthRequest *new_request(PoplarSession *s)
{
  memset(s, 0, sizeof *s);
  g_strlcpy(s->id, "own-1", sizeof s->id);
  return poplarpriv_auth_request_new(s, "USER", "Alice@Example.ORG");
}

static void test_request_copies_what_it_is_given(void)
{
  PoplarSession s;
  PoplarAuthRequest *req = new_request(&s);
  char *user = plugin_buffer("alice");
  char *home = plugin_buffer("/home/alice");
  char *mail = plugin_buffer("maildir:%h/Maildir");
  char *key = plugin_buffer("quota");
  char *value = plugin_buffer("100M");
  char *secret = plugin_buffer("correct horse");
  char *code = plugin_buffer("AUTH");
  char *text = plugin_buffer("account expired");

  poplar_auth_request_set_user(req, user);
  poplar_auth_request_set_home(req, home);
  poplar_auth_request_set_mail(req, mail);
  poplar_auth_request_set_field(req, key, value);
  poplar_auth_request_set_secret(req, secret);
  poplar_auth_request_set_reason(req, code, text);
  for (char **p = (char *[]){user, home, mail, key, value, secret, code,
                             text, NULL};
       *p; p++)
    scribble_and_free(*p);

  g_assert_cmpstr(poplar_auth_request_user(req), ==, "alice");
  g_assert_cmpstr(poplar_auth_request_home(req), ==, "/home/alice");
  g_assert_cmpstr(poplar_auth_request_mail(req), ==, "maildir:%h/Maildir");
  g_assert_cmpstr(poplar_auth_request_field(req, "quota"), ==, "100M");
  g_assert_cmpstr(req->secret, ==, "correct horse");
  g_assert_cmpstr(poplar_auth_request_reason_code(req), ==, "AUTH");
  g_assert_cmpstr(poplar_auth_request_reason_text(req), ==,
                  "account expired");
  poplarpriv_auth_request_free(req);
}

/* The common passdb pattern: read the name, canonicalise it, and go on
 * using what was read (to log it, to compare it). */
static void test_request_strings_outlive_replacement(void)
{
  PoplarSession s;
  PoplarAuthRequest *req = new_request(&s);
  poplar_auth_request_set_home(req, "/home/old");
  poplar_auth_request_set_mail(req, "maildir:/old");
  poplar_auth_request_set_field(req, "uid", "1000");
  poplar_auth_request_set_reason(req, "AUTH", "first reason");

  const char *asked = poplar_auth_request_user(req);
  const char *home = poplar_auth_request_home(req);
  const char *mail = poplar_auth_request_mail(req);
  const char *uid = poplar_auth_request_field(req, "uid");
  const char *code = poplar_auth_request_reason_code(req);
  const char *text = poplar_auth_request_reason_text(req);

  g_autofree char *lower = g_ascii_strdown(asked, -1);
  poplar_auth_request_set_user(req, lower);
  poplar_auth_request_set_home(req, "/home/new");
  poplar_auth_request_set_mail(req, NULL);
  poplar_auth_request_set_field(req, "uid", "2000");
  poplar_auth_request_set_reason(req, "SYS/PERM", "second reason");

  /* The old values are still there, unchanged... */
  g_assert_cmpstr(asked, ==, "Alice@Example.ORG");
  g_assert_cmpstr(home, ==, "/home/old");
  g_assert_cmpstr(mail, ==, "maildir:/old");
  g_assert_cmpstr(uid, ==, "1000");
  g_assert_cmpstr(code, ==, "AUTH");
  g_assert_cmpstr(text, ==, "first reason");
  /* ...and the accessors return the new ones. */
  g_assert_cmpstr(poplar_auth_request_user(req), ==, "alice@example.org");
  g_assert_cmpstr(poplar_auth_request_home(req), ==, "/home/new");
  g_assert_null(poplar_auth_request_mail(req));
  g_assert_cmpstr(poplar_auth_request_field(req, "uid"), ==, "2000");
  g_assert_cmpstr(poplar_auth_request_reason_code(req), ==, "SYS/PERM");

  /* Removing a field keeps what was read before too. */
  const char *current = poplar_auth_request_field(req, "uid");
  poplar_auth_request_set_field(req, "uid", NULL);
  g_assert_null(poplar_auth_request_field(req, "uid"));
  g_assert_cmpstr(current, ==, "2000");
  poplarpriv_auth_request_free(req);
}

/* Passing back what an accessor returned is allowed. */
static void test_request_set_from_own_value(void)
{
  PoplarSession s;
  PoplarAuthRequest *req = new_request(&s);
  poplar_auth_request_set_user(req, poplar_auth_request_user(req));
  g_assert_cmpstr(poplar_auth_request_user(req), ==, "Alice@Example.ORG");
  poplar_auth_request_set_field(req, "gid", "100");
  poplar_auth_request_set_field(req, "gid",
                                poplar_auth_request_field(req, "gid"));
  g_assert_cmpstr(poplar_auth_request_field(req, "gid"), ==, "100");
  poplar_auth_request_set_home(req, "/h");
  poplar_auth_request_set_home(req, poplar_auth_request_home(req));
  g_assert_cmpstr(poplar_auth_request_home(req), ==, "/h");
  poplarpriv_auth_request_free(req);
}

/* The mailbox reads the request's fields after the request is gone. */
static void test_mailbox_fields_outlive_request(void)
{
  PoplarSession s;
  PoplarAuthRequest *req = new_request(&s);
  poplar_auth_request_set_field(req, "quota", "10M");
  PoplarStoreEntry store = {0};
  PoplarMailbox *mbox = poplarpriv_mailbox_new(&s, &store, "alice",
                                               "/var/mail/alice",
                                               req->fields);
  poplarpriv_auth_request_free(req);
  g_assert_cmpstr(poplar_mailbox_field(mbox, "quota"), ==, "10M");
  poplarpriv_mailbox_free(mbox);
}

/* ---- registration --------------------------------------------------------- */

static unsigned verify_calls;

static PoplarPassdbResult count_verify(void *data, PoplarAuthRequest *req,
                                       const char *password)
{
  (void)data;
  (void)req;
  (void)password;
  verify_calls++;
  return POPLAR_PASSDB_OK;
}

static PoplarSaslStatus sasl_step(void *data, void *state,
                                  PoplarAuthRequest *req,
                                  const unsigned char *in, size_t in_len,
                                  const unsigned char **out, size_t *out_len)
{
  (void)data, (void)state, (void)req, (void)in, (void)in_len;
  *out = NULL;
  *out_len = 0;
  return POPLAR_SASL_OK;
}

static bool sasl_start(void *data, PoplarAuthRequest *req, void **state)
{
  (void)data, (void)req;
  *state = NULL;
  return true;
}

static void sasl_finish(void *data, void *state)
{
  (void)data, (void)state;
}

static PoplarStoreResult store_open(void *d, PoplarMailbox *m, const char *l)
{
  (void)d, (void)m, (void)l;
  return POPLAR_STORE_OK;
}
static PoplarStoreResult msg_open(void *d, PoplarMailbox *m,
                                  PoplarMessage *msg, void **stream)
{
  (void)d, (void)m, (void)msg, (void)stream;
  return POPLAR_STORE_GONE;
}
static int64_t msg_read(void *d, void *stream, char *buf, size_t len)
{
  (void)d, (void)stream, (void)buf, (void)len;
  return 0;
}
static void msg_close(void *d, void *stream) { (void)d, (void)stream; }
static PoplarStoreResult store_expunge(void *d, PoplarMailbox *m)
{
  (void)d, (void)m;
  return POPLAR_STORE_OK;
}
static void store_close(void *d, PoplarMailbox *m) { (void)d, (void)m; }

static PoplarVerdict on_connect(void *data, PoplarSession *s)
{
  (void)data, (void)s;
  return POPLAR_REJECT;
}

/* Names and ops tables may live on the plugin's stack or heap: the core
 * copies both during the call.  Only @data is kept as given. */
static void test_registration_copies_names_and_tables(void)
{
  PoplarRegistry *registry = poplarpriv_registry_new();
  PoplarPlugin *plugin =
      poplarpriv_plugin_new(registry, "unit-owner", "/plugins/x.so");
  plugin->registering = true;
  int data_token = 0;

  char *name = plugin_buffer("own-db");
  PoplarPassdbOps *passdb = g_new0(PoplarPassdbOps, 1);
  passdb->verify_plain = count_verify;
  g_assert_true(poplar_register_passdb(plugin, name, passdb, sizeof *passdb,
                                       &data_token));
  scribble_and_free(name);
  memset(passdb, 0xa5, sizeof *passdb);
  g_free(passdb);

  char *scheme = plugin_buffer("ownstore");
  PoplarStoreOps *store = g_new0(PoplarStoreOps, 1);
  *store = (PoplarStoreOps){.open = store_open, .message_open = msg_open,
                            .message_read = msg_read,
                            .message_close = msg_close,
                            .expunge = store_expunge, .close = store_close};
  g_assert_true(poplar_register_store(plugin, scheme, store, sizeof *store,
                                      &data_token));
  scribble_and_free(scheme);
  memset(store, 0xa5, sizeof *store);
  g_free(store);

  char *mech = plugin_buffer("X-OWN");
  PoplarSaslMechOps *sasl = g_new0(PoplarSaslMechOps, 1);
  *sasl = (PoplarSaslMechOps){.start = sasl_start, .step = sasl_step,
                              .finish = sasl_finish};
  g_assert_true(poplar_register_sasl_mechanism(plugin, mech, 0, sasl,
                                               sizeof *sasl, &data_token));
  scribble_and_free(mech);
  memset(sasl, 0xa5, sizeof *sasl);
  g_free(sasl);

  PoplarHookOps *hook = g_new0(PoplarHookOps, 1);
  hook->connect = on_connect;
  g_assert_true(poplar_register_hook(plugin, hook, sizeof *hook, &data_token));
  memset(hook, 0xa5, sizeof *hook);
  g_free(hook);
  plugin->registering = false;

  const PoplarPassdbEntry *db = g_ptr_array_index(registry->passdbs, 0);
  g_assert_cmpstr(db->name, ==, "own-db");
  g_assert_true(db->data == &data_token);
  g_assert_true(db->ops.verify_plain == count_verify);
  verify_calls = 0;
  g_assert_cmpint(db->ops.verify_plain(db->data, NULL, "pw"), ==,
                  POPLAR_PASSDB_OK);
  g_assert_cmpuint(verify_calls, ==, 1);

  const PoplarStoreEntry *st = poplarpriv_registry_store(registry,
                                                         "ownstore");
  g_assert_nonnull(st);
  g_assert_true(st->ops.close == store_close);
  g_assert_true(st->data == &data_token);

  const PoplarSaslEntry *m = poplarpriv_registry_mech(registry, "X-OWN");
  g_assert_nonnull(m);
  g_assert_true(m->ops.step == sasl_step);

  const PoplarHookEntry *h = g_ptr_array_index(registry->hooks, 0);
  g_assert_true(h->ops.connect == on_connect);
  g_assert_null(h->ops.tls);
  poplarpriv_registry_free(registry);
}

/* ---- mailboxes and messages ----------------------------------------------- */

typedef struct Listing {
  size_t n;
  PoplarMessage *first;
  const char *first_uidl;
} Listing;

static PoplarStoreResult list_many(void *data, PoplarMailbox *mbox,
                                   const char *location)
{
  Listing *listing = data;
  (void)location;
  for (size_t i = 0; i < listing->n; i++) {
    char *uidl = g_strdup_printf("uidl-%05zu", i);
    PoplarMessage *msg = poplar_mailbox_add_message(mbox, uidl, 10 + i,
                                                    NULL);
    scribble_and_free(uidl);
    g_assert_nonnull(msg);
    if (i == 0) {
      listing->first = msg;
      listing->first_uidl = poplar_message_uidl(msg);
    }
  }
  char *why = plugin_buffer("a reason");
  poplar_mailbox_set_error(mbox, "%s", why);
  scribble_and_free(why);
  return POPLAR_STORE_OK;
}

/* Handles and UIDLs stay put while the store adds thousands more messages,
 * and for as long as the mailbox is open. */
static void test_messages_stay_put(void)
{
  PoplarSession s = {0};
  g_strlcpy(s.id, "own-2", sizeof s.id);
  Listing listing = {.n = 3 * POPLAR_MAILBOX_BLOCK + 7};
  PoplarStoreEntry store = {
      .ops = {.open = list_many, .message_open = msg_open,
              .message_read = msg_read, .message_close = msg_close,
              .expunge = store_expunge, .close = store_close},
      .data = &listing,
  };
  char *location = plugin_buffer("/var/mail/own");
  PoplarMailbox *mbox =
      poplarpriv_mailbox_new(&s, &store, "own", location, NULL);
  scribble_and_free(location);
  g_assert_cmpint(poplarpriv_mailbox_open(mbox), ==, POPLAR_STORE_OK);
  g_assert_cmpstr(poplar_mailbox_location(mbox), ==, "/var/mail/own");
  /* set_error copies the text: the store may free its buffer at once.
   * (libpoplar logs and clears what open set, so set it again here.) */
  char *why = plugin_buffer("another reason");
  poplar_mailbox_set_error(mbox, "%s", why);
  scribble_and_free(why);
  g_assert_cmpstr(mbox->error, ==, "another reason");
  poplarpriv_mailbox_clear_error(mbox);

  g_assert_true(poplar_mailbox_message(mbox, 0) == listing.first);
  g_assert_cmpstr(listing.first_uidl, ==, "uidl-00000");
  g_assert_true(poplar_message_uidl(listing.first) == listing.first_uidl);

  char *name = plugin_buffer("X-Own");
  char *value = plugin_buffer("checked");
  g_assert_true(poplar_message_add_header(listing.first, name, value));
  scribble_and_free(name);
  scribble_and_free(value);
  g_assert_cmpstr(listing.first->prefix, ==, "X-Own: checked\r\n");
  poplarpriv_mailbox_free(mbox);
}

/* ---- sessions -------------------------------------------------------------- */

static void test_hook_reply_copied(void)
{
  PoplarSession s = {0};
  char *code = plugin_buffer("sys/perm");
  char *text = plugin_buffer("read-only");
  poplar_hook_reply(&s, code, "%s", text);
  scribble_and_free(code);
  scribble_and_free(text);
  g_assert_cmpstr(s.reply_code, ==, "SYS/PERM");
  g_assert_cmpstr(s.reply_text, ==, "read-only");
  poplarpriv_session_clear(&s);
}

static unsigned slot_frees;
static void count_slot_free(void *data)
{
  g_free(data);
  slot_frees++;
}

/* A slot's data stays the plugin's; the free function is the core's only
 * way to give it back, exactly once. */
static void test_slot_data_given_back_once(void)
{
  PoplarRegistry *registry = poplarpriv_registry_new();
  PoplarPlugin *plugin =
      poplarpriv_plugin_new(registry, "unit-owner", "/plugins/x.so");
  PoplarSession s = {0};
  slot_frees = 0;
  char *first = plugin_buffer("first");
  poplar_session_set_data(&s, plugin, first, count_slot_free);
  poplar_session_set_data(&s, plugin, first, count_slot_free);
  g_assert_cmpuint(slot_frees, ==, 0);
  poplar_session_set_data(&s, plugin, plugin_buffer("second"),
                          count_slot_free);
  g_assert_cmpuint(slot_frees, ==, 1);
  g_assert_cmpstr(poplar_session_get_data(&s, plugin), ==, "second");
  poplarpriv_session_clear(&s);
  g_assert_cmpuint(slot_frees, ==, 2);
  poplarpriv_registry_free(registry);
}

/* ---- configuration --------------------------------------------------------- */

static void test_config_values_stay_valid(void)
{
  static const char text[] = "[own]\n"
                             "path = /etc/own\n"
                             "list = a; b ;c\n"
                             "count = 3\n";
  PoplarConfigFile *file =
      poplarpriv_config_parse("own.conf", text, sizeof text - 1);
  PoplarConfig *config = poplarpriv_config_section(file, "own");
  g_assert_nonnull(config);

  const char *path = poplar_config_get_string(config, "path", NULL);
  size_t n = 0;
  const char *const *list = poplar_config_get_list(config, "list", &n);
  const char *const *absent = poplar_config_get_list(config, "none", NULL);
  static const char fallback[] = "/default";
  const char *def = poplar_config_get_string(config, "other", fallback);

  /* Later accessor calls change nothing already returned. */
  long long count;
  g_assert_true(poplar_config_get_int(config, "count", 0, 0, 9, &count));
  for (int i = 0; i < 100; i++) {
    g_autofree char *key = g_strdup_printf("k%d", i);
    g_assert_nonnull(poplar_config_get_list(config, key, NULL));
  }
  g_assert_true(poplar_config_get_list(config, "list", NULL) == list);
  poplar_config_error(config, "path", "%s", "a check the plugin made");

  g_assert_cmpstr(path, ==, "/etc/own");
  g_assert_cmpuint(n, ==, 3);
  g_assert_cmpstr(list[0], ==, "a");
  g_assert_cmpstr(list[1], ==, "b");
  g_assert_cmpstr(list[2], ==, "c");
  g_assert_null(list[3]);
  g_assert_null(absent[0]);
  g_assert_true(def == fallback); /* the caller's own pointer, handed back */
  poplarpriv_config_free(file);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/ownership/request/copies",
                  test_request_copies_what_it_is_given);
  g_test_add_func("/ownership/request/outlive-replacement",
                  test_request_strings_outlive_replacement);
  g_test_add_func("/ownership/request/set-from-own-value",
                  test_request_set_from_own_value);
  g_test_add_func("/ownership/request/fields-outlive-request",
                  test_mailbox_fields_outlive_request);
  g_test_add_func("/ownership/registration",
                  test_registration_copies_names_and_tables);
  g_test_add_func("/ownership/messages-stay-put", test_messages_stay_put);
  g_test_add_func("/ownership/hook-reply", test_hook_reply_copied);
  g_test_add_func("/ownership/session-slot", test_slot_data_given_back_once);
  g_test_add_func("/ownership/config", test_config_values_stay_valid);
  return g_test_run();
}
