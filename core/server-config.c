/* SPDX-License-Identifier: MIT */
/*
 * The core's sections of poplar.conf ([server], [tls], [plugins]) as one
 * table: each key with its type, default, bounds and the field it fills,
 * read by one loop.  What a type alone cannot say (a listen address, a
 * mail location, a network) is a check run on the value once it is read;
 * rules between keys come after the loop.  Every problem names file,
 * line, key and why (poplar_config_error()).
 */
#include "server-config.h"

#include <grp.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "poplar-limits.h"
#include "listener.h"
#include "location.h"
#include "mail-fs.h"

#ifndef POPLAR_PLUGIN_DIR
#error "POPLAR_PLUGIN_DIR must be defined by the build"
#endif

/* The longest duration any setting takes: deadlines are microseconds in an
 * int64_t, so an unbounded value would overflow them. */
#define POPLAR_DURATION_MAX_MS (365ULL * 24 * 3600 * 1000)

/* RFC 8314 asks for TLS 1.2 or later. */
#define POPLAR_DEFAULT_TLS_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define POPLAR_DEFAULT_HANDSHAKE_TIMEOUT_MS (30 * 1000)
/* Each step of a login to a backend: connect, greeting, TLS, each reply. */
#define POPLAR_DEFAULT_PROXY_TIMEOUT_MS (10 * 1000)

typedef enum KeyType {
  KEY_STRING,   /* char *, a copy of the value or of def.string */
  KEY_LIST,     /* char **, NULL-terminated; def.list when the key is absent */
  KEY_BOOL,     /* bool */
  KEY_UNSIGNED, /* unsigned, def.number within [min, max] */
  KEY_INT,      /* long long, def.number within [min, max] */
  KEY_DURATION, /* uint64_t milliseconds, at most a year; min 1: not 0 */
  KEY_CUSTOM,   /* read by check alone */
} KeyType;

typedef struct ConfigKey ConfigKey;

/* Checks (or, for KEY_CUSTOM, reads) the value of @key in @section after
 * the loop has read it into @cfg.  Returns false when it reported a
 * problem. */
typedef bool (*KeyCheck)(PoplarConfig *section, const ConfigKey *key,
                         PoplarServerConfig *cfg);

struct ConfigKey {
  const char *section;
  const char *key;
  KeyType type;
  size_t field; /* offset in PoplarServerConfig */
  struct {
    const char *string;
    const char *const *list;
    long long number;
    bool boolean;
  } def;
  long long min, max;
  KeyCheck check;
};

#define FIELD(member) offsetof(PoplarServerConfig, member)

static void *field_of(PoplarServerConfig *cfg, const ConfigKey *k)
{
  return (char *)cfg + k->field;
}

/* ---- checks of single values ------------------------------------------ */

static bool check_listen(PoplarConfig *s, const ConfigKey *k,
                         PoplarServerConfig *cfg)
{
  bool ok = true;
  for (char **spec = *(char ***)field_of(cfg, k); *spec; spec++) {
    g_autofree char *err = NULL;
    if (!poplard_listener_check(*spec, &err)) {
      poplar_config_error(s, k->key, "%s", err);
      ok = false;
    }
  }
  return ok;
}

static bool check_metrics_listen(PoplarConfig *s, const ConfigKey *k,
                                 PoplarServerConfig *cfg)
{
  g_autofree char *err = NULL;
  if (!cfg->metrics_listen || poplard_listener_check(cfg->metrics_listen,
                                                     &err))
    return true;
  poplar_config_error(s, k->key, "%s", err);
  return false;
}

static bool check_mail(PoplarConfig *s, const ConfigKey *k,
                       PoplarServerConfig *cfg)
{
  const char *mail = cfg->mail;
  g_autofree char *why = NULL;
  if (!mail)
    return true;
  if (!poplard_location_check(mail, &why)) {
    poplar_config_error(s, k->key, "'%s': %s", mail, why);
    return false;
  }
  if (!strchr(mail, ':')) {
    poplar_config_error(s, k->key,
                        "'%s' has no scheme (e.g. maildir:%%h/Maildir)", mail);
    return false;
  }
  return true;
}

static bool default_hostname(PoplarConfig *s, const ConfigKey *k,
                             PoplarServerConfig *cfg)
{
  (void)s;
  (void)k;
  if (cfg->hostname)
    return true;
  char host[256] = "localhost";
  if (gethostname(host, sizeof host - 1) != 0)
    g_strlcpy(host, "localhost", sizeof host);
  cfg->hostname = g_strdup(host);
  return true;
}

static bool default_threads(PoplarConfig *s, const ConfigKey *k,
                            PoplarServerConfig *cfg)
{
  (void)s;
  (void)k;
  if (cfg->threads == 0)
    cfg->threads = MAX(1u, g_get_num_processors());
  return true;
}

/* RFC 2449 6.7: EXPIRE takes days, or NEVER. */
static bool read_expire(PoplarConfig *s, const ConfigKey *k,
                        PoplarServerConfig *cfg)
{
  cfg->expire = POPLAR_EXPIRE_UNSET;
  const char *v = poplar_config_get_string(s, k->key, NULL);
  if (!v)
    return true;
  if (g_ascii_strcasecmp(v, "never") == 0) {
    cfg->expire = POPLAR_EXPIRE_NEVER;
    return true;
  }
  return poplar_config_get_int(s, k->key, 0, 0, 36500, &cfg->expire);
}

/* unlink | trash:FOLDER | hide.  FOLDER is a Maildir++ folder name: one
 * path component starting with a dot. */
static bool read_delete(PoplarConfig *s, const ConfigKey *k,
                        PoplarServerConfig *cfg)
{
  const char *v = poplar_config_get_string(s, k->key, "unlink");
  cfg->delete_mode = POPLAR_DELETE_UNLINK;
  if (strcmp(v, "unlink") == 0)
    return true;
  if (strcmp(v, "hide") == 0) {
    cfg->delete_mode = POPLAR_DELETE_HIDE;
    return true;
  }
  if (g_str_has_prefix(v, "trash:")) {
    const char *folder = v + strlen("trash:");
    if (folder[0] == '.' && folder[1] && strcmp(folder, "..") != 0 &&
        !strchr(folder, '/')) {
      cfg->delete_mode = POPLAR_DELETE_TRASH;
      cfg->trash_folder = g_strdup(folder);
      return true;
    }
    poplar_config_error(s, k->key,
                        "trash:FOLDER needs a Maildir++ folder name such as "
                        ".Trash (a dot, then no slash), not \"%s\"", folder);
    return false;
  }
  poplar_config_error(s, k->key,
                      "must be unlink, trash:FOLDER or hide, not \"%s\"", v);
  return false;
}

static bool read_log_level(PoplarConfig *s, const ConfigKey *k,
                           PoplarServerConfig *cfg)
{
  static const char *const names[] = {"error", "warning", "info", "debug"};
  const char *v = poplar_config_get_string(s, k->key, "info");
  for (unsigned i = 0; i < G_N_ELEMENTS(names); i++) {
    if (g_ascii_strcasecmp(v, names[i]) == 0) {
      cfg->log_level = (PoplarLogLevel)i;
      return true;
    }
  }
  poplar_config_error(s, k->key,
                      "'%s' is not one of error, warning, info, debug", v);
  return false;
}

static bool read_netlist(PoplarConfig *s, const ConfigKey *k,
                         PoplarServerConfig *cfg)
{
  PoplarNetList **list = field_of(cfg, k);
  *list = poplard_netlist_new();
  size_t n = 0;
  const char *const *nets = poplar_config_get_list(s, k->key, &n);
  if (n == 0 && !poplar_config_has_key(s, k->key))
    nets = k->def.list;
  bool ok = true;
  for (; nets && *nets; nets++) {
    const char *why = NULL;
    if (!poplard_netlist_add(*list, *nets, &why)) {
      poplar_config_error(s, k->key, "'%s': %s", *nets, why);
      ok = false;
    }
  }
  return ok;
}

/* The group that owns the mail spool (Debian: /var/mail, root:mail 2775):
 * processes of users' own uids need it to create dotlocks there. */
static bool check_privileged_group(PoplarConfig *s, const ConfigKey *k,
                                   PoplarServerConfig *cfg)
{
  const char *name = cfg->mail_privileged_group;
  if (!name)
    return true;
  char buf[4096];
  struct group gr, *found = NULL;
  if (getgrnam_r(name, &gr, buf, sizeof buf, &found) != 0 || !found) {
    poplar_config_error(s, k->key, "no such group '%s'", name);
    return false;
  }
  if (found->gr_gid == 0) {
    poplar_config_error(s, k->key, "'%s' is root's group: name the mail "
                        "spool's group (mail)", name);
    return false;
  }
  cfg->mail_privileged_gid = found->gr_gid;
  return true;
}

static bool check_control_group(PoplarConfig *s, const ConfigKey *k,
                                PoplarServerConfig *cfg)
{
  const char *name = cfg->control_group;
  char buf[4096];
  struct group gr, *found = NULL;
  if (!name || (getgrnam_r(name, &gr, buf, sizeof buf, &found) == 0 && found))
    return true;
  poplar_config_error(s, k->key, "no such group '%s'", name);
  return false;
}

static bool check_priority(PoplarConfig *s, const ConfigKey *k,
                           PoplarServerConfig *cfg)
{
  g_autofree char *err = NULL;
  if (poplard_tls_priority_check(cfg->tls.priority, &err))
    return true;
  poplar_config_error(s, k->key, "%s", err);
  return false;
}

/* Each item is "cert.pem:key.pem" or a combined "cert.pem". */
static bool check_certificates(PoplarConfig *s, const ConfigKey *k,
                               PoplarServerConfig *cfg)
{
  bool ok = true;
  for (char **item = cfg->tls.certificates; *item; item++) {
    g_autofree char *cert = g_strdup(*item);
    char *key = strchr(cert, ':');
    if (key)
      *key++ = '\0';
    if (!g_file_test(cert, G_FILE_TEST_IS_REGULAR)) {
      poplar_config_error(s, k->key, "'%s' does not exist", cert);
      ok = false;
    } else if (key && !g_file_test(key, G_FILE_TEST_IS_REGULAR)) {
      poplar_config_error(s, k->key, "key '%s' does not exist", key);
      ok = false;
    }
  }
  return ok;
}

/* A file read later, after privileges are dropped: at least it exists. */
static bool check_readable_file(PoplarConfig *s, const ConfigKey *k,
                                PoplarServerConfig *cfg)
{
  const char *path = *(char **)field_of(cfg, k);
  if (!path || g_file_test(path, G_FILE_TEST_IS_REGULAR))
    return true;
  poplar_config_error(s, k->key, "'%s' does not exist", path);
  return false;
}

/* ---- the table ---------------------------------------------------------- */

static const char *const none[] = {NULL};
static const char *const default_listen[] = {"0.0.0.0:110", "[::]:110", NULL};
static const char *const loopback[] = {"127.0.0.0/8", "::1/128", NULL};

static const ConfigKey config_keys[] = {
    {.section = "server", .key = "listen", .type = KEY_LIST,
     .field = FIELD(listen), .def.list = default_listen,
     .check = check_listen},
    {.section = "server", .key = "listen-tls", .type = KEY_LIST,
     .field = FIELD(listen_tls), .def.list = none, .check = check_listen},
    {.section = "server", .key = "plugin-dir", .type = KEY_STRING,
     .field = FIELD(plugin_dir), .def.string = POPLAR_PLUGIN_DIR},
    /* Unset is fine when the password databases give every location. */
    {.section = "server", .key = "mail", .type = KEY_STRING,
     .field = FIELD(mail), .check = check_mail},
    {.section = "server", .key = "user", .type = KEY_STRING,
     .field = FIELD(user)},
    {.section = "server", .key = "group", .type = KEY_STRING,
     .field = FIELD(group)},
    {.section = "server", .key = "hostname", .type = KEY_STRING,
     .field = FIELD(hostname), .check = default_hostname},
    {.section = "server", .key = "greeting", .type = KEY_STRING,
     .field = FIELD(greeting), .def.string = "Poplar POP3 server ready"},
    {.section = "server", .key = "implementation", .type = KEY_STRING,
     .field = FIELD(implementation), .def.string = "Poplar " POPLAR_VERSION},
    {.section = "server", .key = "idle-timeout", .type = KEY_DURATION,
     .field = FIELD(idle_timeout_ms),
     .def.number = POPLAR_DEFAULT_IDLE_TIMEOUT_MS, .min = 1},
    {.section = "server", .key = "auth-failure-delay", .type = KEY_DURATION,
     .field = FIELD(auth_failure_delay_ms),
     .def.number = POPLAR_DEFAULT_AUTH_FAILURE_DELAY_MS},
    {.section = "server", .key = "auth-failure-delay-max",
     .type = KEY_DURATION, .field = FIELD(auth_failure_delay_max_ms),
     .def.number = POPLAR_DEFAULT_AUTH_FAILURE_DELAY_MAX_MS},
    {.section = "server", .key = "auth-failure-window", .type = KEY_DURATION,
     .field = FIELD(auth_failure_window_ms),
     .def.number = POPLAR_DEFAULT_AUTH_FAILURE_WINDOW_MS},
    {.section = "server", .key = "max-connections", .type = KEY_UNSIGNED,
     .field = FIELD(max_connections),
     .def.number = POPLAR_DEFAULT_MAX_CONNECTIONS, .min = 1, .max = 1000000},
    {.section = "server", .key = "max-connections-per-ip",
     .type = KEY_UNSIGNED, .field = FIELD(max_connections_per_ip),
     .def.number = POPLAR_DEFAULT_MAX_CONNECTIONS_PER_IP, .min = 1,
     .max = 1000000},
    /* 0: one loop thread per processor */
    {.section = "server", .key = "threads", .type = KEY_UNSIGNED,
     .field = FIELD(threads), .def.number = 0, .min = 0, .max = 256,
     .check = default_threads},
    {.section = "server", .key = "workers", .type = KEY_UNSIGNED,
     .field = FIELD(workers), .def.number = 1, .min = 1, .max = 64},
    {.section = "server", .key = "shutdown-timeout", .type = KEY_DURATION,
     .field = FIELD(shutdown_timeout_ms), .def.number = 30 * 1000},
    {.section = "server", .key = "allow-root", .type = KEY_BOOL,
     .field = FIELD(allow_root), .def.boolean = false},
    /* Sessions of users with their own uid (session-handoff.h). */
    {.section = "server", .key = "first-valid-uid", .type = KEY_UNSIGNED,
     .field = FIELD(first_valid_uid),
     .def.number = POPLAR_DEFAULT_FIRST_VALID_UID, .min = 1,
     .max = UINT32_MAX - 1},
    {.section = "server", .key = "user-process-idle", .type = KEY_DURATION,
     .field = FIELD(user_process_idle_ms),
     .def.number = POPLAR_DEFAULT_USER_PROCESS_IDLE_MS},
    {.section = "server", .key = "mail-privileged-group", .type = KEY_STRING,
     .field = FIELD(mail_privileged_group), .check = check_privileged_group},
    {.section = "server", .key = "plugin-threads", .type = KEY_UNSIGNED,
     .field = FIELD(plugin_threads),
     .def.number = POPLAR_DEFAULT_PLUGIN_THREADS, .min = 1, .max = 1024},
    /* RFC 2449 6.5: seconds; -1 when not advertised */
    {.section = "server", .key = "login-delay", .type = KEY_INT,
     .field = FIELD(login_delay), .def.number = -1, .min = 0,
     .max = 86400 * 365},
    {.section = "server", .key = "expire", .type = KEY_CUSTOM,
     .check = read_expire},
    {.section = "server", .key = "delete", .type = KEY_CUSTOM,
     .check = read_delete},
    {.section = "server", .key = "log-level", .type = KEY_CUSTOM,
     .check = read_log_level},
    {.section = "server", .key = "trusted-networks", .type = KEY_CUSTOM,
     .field = FIELD(trusted), .def.list = loopback, .check = read_netlist},
    {.section = "server", .key = "proxy-protocol", .type = KEY_BOOL,
     .field = FIELD(proxy_protocol), .def.boolean = false},
    {.section = "server", .key = "trusted-proxies", .type = KEY_CUSTOM,
     .field = FIELD(trusted_proxies), .def.list = none,
     .check = read_netlist},
    {.section = "plugins", .key = "load", .type = KEY_LIST,
     .field = FIELD(load), .def.list = none},
    {.section = "tls", .key = "certificates", .type = KEY_LIST,
     .field = FIELD(tls.certificates), .def.list = none,
     .check = check_certificates},
    {.section = "tls", .key = "priority", .type = KEY_STRING,
     .field = FIELD(tls.priority), .def.string = POPLAR_DEFAULT_TLS_PRIORITY,
     .check = check_priority},
    {.section = "tls", .key = "handshake-timeout", .type = KEY_DURATION,
     .field = FIELD(tls.handshake_timeout_ms),
     .def.number = POPLAR_DEFAULT_HANDSHAKE_TIMEOUT_MS},
    {.section = "tls", .key = "session-tickets", .type = KEY_BOOL,
     .field = FIELD(tls.session_tickets), .def.boolean = true},
    {.section = "control", .key = "socket", .type = KEY_STRING,
     .field = FIELD(control_socket), .def.string = POPLAR_CONTROL_SOCKET},
    {.section = "control", .key = "group", .type = KEY_STRING,
     .field = FIELD(control_group), .check = check_control_group},
    {.section = "metrics", .key = "listen", .type = KEY_STRING,
     .field = FIELD(metrics_listen), .check = check_metrics_listen},
    /* Proxy mode and master users. */
    {.section = "proxy", .key = "ca-file", .type = KEY_STRING,
     .field = FIELD(proxy_ca_file), .check = check_readable_file},
    {.section = "proxy", .key = "timeout", .type = KEY_DURATION,
     .field = FIELD(proxy_timeout_ms),
     .def.number = POPLAR_DEFAULT_PROXY_TIMEOUT_MS, .min = 1},
    {.section = "server", .key = "master-passdb", .type = KEY_STRING,
     .field = FIELD(master_passdb)},
};

/* ---- the loop ------------------------------------------------------------ */

static bool read_duration(PoplarConfig *s, const ConfigKey *k, uint64_t *out)
{
  uint64_t def = (uint64_t)k->def.number;
  if (!poplar_config_get_duration(s, k->key, def, out))
    return false;
  if (*out > POPLAR_DURATION_MAX_MS) {
    poplar_config_error(s, k->key, "%s is longer than a year",
                        poplar_config_get_string(s, k->key, ""));
    *out = def;
    return false;
  }
  if (*out < (uint64_t)k->min) {
    poplar_config_error(s, k->key, "must be more than 0");
    return false;
  }
  return true;
}

static bool read_key(PoplarConfig *s, const ConfigKey *k,
                     PoplarServerConfig *cfg)
{
  void *field = field_of(cfg, k);
  long long number = k->def.number;
  bool ok = true;
  switch (k->type) {
  case KEY_STRING:
    *(char **)field =
        g_strdup(poplar_config_get_string(s, k->key, k->def.string));
    break;
  case KEY_LIST: {
    size_t n = 0;
    const char *const *items = poplar_config_get_list(s, k->key, &n);
    if (n == 0 && !poplar_config_has_key(s, k->key))
      items = k->def.list;
    *(char ***)field = g_strdupv((char **)items);
    break;
  }
  case KEY_BOOL:
    ok = poplar_config_get_bool(s, k->key, k->def.boolean, field);
    break;
  case KEY_UNSIGNED:
    ok = poplar_config_get_int(s, k->key, k->def.number, k->min, k->max,
                               &number);
    *(unsigned *)field = (unsigned)number;
    break;
  case KEY_INT:
    ok = poplar_config_get_int(s, k->key, k->def.number, k->min, k->max,
                               field);
    break;
  case KEY_DURATION:
    ok = read_duration(s, k, field);
    break;
  case KEY_CUSTOM:
    break;
  }
  /* Also after a bad value: the checks complete defaults too. */
  if (k->check)
    ok &= k->check(s, k, cfg);
  return ok;
}

/* ---- rules between keys -------------------------------------------------- */

static bool check_across(PoplarConfigFile *file, PoplarServerConfig *cfg)
{
  PoplarConfig *s = poplarpriv_config_section_ensure(file, "server");
  bool ok = true;
  if (!cfg->listen[0] && !cfg->listen_tls[0]) {
    poplar_config_error(s, "listen", "no address to listen on (listen and "
                                     "listen-tls are both empty)");
    ok = false;
  }
  if (cfg->listen_tls[0] && !cfg->tls.certificates[0]) {
    poplar_config_error(s, "listen-tls",
                        "implicit TLS needs [tls] certificates");
    ok = false;
  }
  size_t n_proxies = 0;
  poplar_config_get_list(s, "trusted-proxies", &n_proxies);
  if (cfg->proxy_protocol && n_proxies == 0) {
    poplar_config_error(s, "proxy-protocol",
                        "needs trusted-proxies: the addresses of the load "
                        "balancers allowed to send PROXY headers");
    ok = false;
  }
  /* A warning, not an error: users whose password database gives them a
   * Maildir are served as configured; the mbox users' QUITs with DELE are
   * refused (nothing is lost), which the administrator should hear of
   * before they do. */
  if (cfg->delete_mode != POPLAR_DELETE_UNLINK && cfg->mail &&
      g_str_has_prefix(cfg->mail, "mbox:"))
    poplar_config_warning(s, "delete",
                          "mbox mailboxes can only unlink: with mail = %s, "
                          "every QUIT after DELE will be refused with "
                          "[SYS/PERM] and nothing deleted", cfg->mail);
  /* Only warnings: the filesystem may change before the server starts. */
  poplard_mail_fs_check(file, cfg->mail);
  return ok;
}

bool poplard_server_config_read(PoplarServerConfig *cfg, PoplarConfigFile *file,
                               const char *plugin_dir_override)
{
  static const char *const sections[] = {"server", "plugins", "tls",
                                         "control", "metrics", "proxy"};
  guint errors_before = file->errors->len;
  bool ok = true;
  for (size_t i = 0; i < G_N_ELEMENTS(config_keys); i++) {
    const ConfigKey *k = &config_keys[i];
    PoplarConfig *s = poplarpriv_config_section_ensure(file, k->section);
    ok &= read_key(s, k, cfg);
  }
  if (plugin_dir_override) {
    g_free(cfg->plugin_dir);
    cfg->plugin_dir = g_strdup(plugin_dir_override);
  }
  ok &= check_across(file, cfg);
  for (size_t i = 0; i < G_N_ELEMENTS(sections); i++)
    poplarpriv_config_report_unused(
        poplarpriv_config_section_ensure(file, sections[i]));
  return ok && file->errors->len == errors_before;
}

void poplard_server_config_clear(PoplarServerConfig *cfg)
{
  g_strfreev(cfg->listen);
  g_strfreev(cfg->listen_tls);
  g_strfreev(cfg->load);
  g_strfreev(cfg->tls.certificates);
  g_free(cfg->tls.priority);
  g_free(cfg->plugin_dir);
  g_free(cfg->mail);
  g_free(cfg->user);
  g_free(cfg->group);
  g_free(cfg->mail_privileged_group);
  g_free(cfg->hostname);
  g_free(cfg->greeting);
  g_free(cfg->implementation);
  g_free(cfg->trash_folder);
  g_free(cfg->control_socket);
  g_free(cfg->control_group);
  g_free(cfg->metrics_listen);
  poplard_netlist_free(cfg->trusted);
  poplard_netlist_free(cfg->trusted_proxies);
  g_free(cfg->proxy_ca_file);
  g_free(cfg->master_passdb);
  memset(cfg, 0, sizeof *cfg);
}
