/* SPDX-License-Identifier: MIT */
#include "server-config.h"

#include <grp.h>
#include <unistd.h>

#include "poplar-limits.h"
#include "listener.h"
#include "location.h"

#ifndef POPLAR_PLUGIN_DIR
#error "POPLAR_PLUGIN_DIR must be defined by the build"
#endif

static char **copy_list(PoplarConfig *section, const char *key,
                        const char *const *def)
{
  size_t n = 0;
  const char *const *items = poplar_config_get_list(section, key, &n);
  if (n == 0 && !poplar_config_has_key(section, key))
    items = def;
  return g_strdupv((char **)items);
}

/* The group that owns the mail spool (Debian: /var/mail, root:mail 2775):
 * processes of users' own uids need it to create dotlocks there. */
static bool read_privileged_group(PoplarConfig *s, PoplarServerConfig *cfg)
{
  const char *name = poplar_config_get_string(s, "mail-privileged-group",
                                              NULL);
  if (!name)
    return true;
  char buf[4096];
  struct group gr, *found = NULL;
  if (getgrnam_r(name, &gr, buf, sizeof buf, &found) != 0 || !found) {
    poplar_config_error(s, "mail-privileged-group", "no such group '%s'",
                        name);
    return false;
  }
  if (found->gr_gid == 0) {
    poplar_config_error(s, "mail-privileged-group",
                        "'%s' is root's group: name the mail spool's group "
                        "(mail)", name);
    return false;
  }
  cfg->mail_privileged_group = g_strdup(name);
  cfg->mail_privileged_gid = found->gr_gid;
  return true;
}

static bool read_unsigned(PoplarConfig *s, const char *key, long long def,
                          long long min, long long max, unsigned *out)
{
  long long v = def;
  bool ok = poplar_config_get_int(s, key, def, min, max, &v);
  *out = (unsigned)v;
  return ok;
}

/* The longest duration any setting takes: deadlines are microseconds in an
 * int64_t, so an unbounded value would overflow them. */
#define POPLAR_DURATION_MAX_MS (365ULL * 24 * 3600 * 1000)

static bool read_duration(PoplarConfig *s, const char *key, uint64_t def_ms,
                          uint64_t *out_ms)
{
  if (!poplar_config_get_duration(s, key, def_ms, out_ms))
    return false;
  if (*out_ms > POPLAR_DURATION_MAX_MS) {
    poplar_config_error(s, key, "%s is longer than a year",
                        poplar_config_get_string(s, key, ""));
    *out_ms = def_ms;
    return false;
  }
  return true;
}

/* RFC 8314 asks for TLS 1.2 or later. */
#define POPLAR_DEFAULT_TLS_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define POPLAR_DEFAULT_HANDSHAKE_TIMEOUT_MS (30 * 1000)

static bool read_tls(PoplarConfigFile *file, PoplarServerConfig *cfg)
{
  static const char *const none[] = {NULL};
  PoplarConfig *t = poplarpriv_config_section_ensure(file, "tls");
  bool ok = true;
  cfg->tls.certificates = copy_list(t, "certificates", none);
  cfg->tls.priority = g_strdup(poplar_config_get_string(
      t, "priority", POPLAR_DEFAULT_TLS_PRIORITY));
  g_autofree char *err = NULL;
  if (!poplard_tls_priority_check(cfg->tls.priority, &err)) {
    poplar_config_error(t, "priority", "%s", err);
    ok = false;
  }
  ok &= read_duration(t, "handshake-timeout",
                                   POPLAR_DEFAULT_HANDSHAKE_TIMEOUT_MS,
                                   &cfg->tls.handshake_timeout_ms);
  ok &= poplar_config_get_bool(t, "session-tickets", true,
                               &cfg->tls.session_tickets);
  for (char **item = cfg->tls.certificates; *item; item++) {
    g_autofree char *cert = g_strdup(*item);
    char *key = strchr(cert, ':');
    if (key)
      *key++ = '\0';
    if (!g_file_test(cert, G_FILE_TEST_IS_REGULAR)) {
      poplar_config_error(t, "certificates", "'%s' does not exist", cert);
      ok = false;
    } else if (key && !g_file_test(key, G_FILE_TEST_IS_REGULAR)) {
      poplar_config_error(t, "certificates", "key '%s' does not exist", key);
      ok = false;
    }
  }
  if (cfg->listen_tls[0] && !cfg->tls.certificates[0]) {
    PoplarConfig *s = poplarpriv_config_section_ensure(file, "server");
    poplar_config_error(s, "listen-tls",
                        "implicit TLS needs [tls] certificates");
    ok = false;
  }
  poplarpriv_config_report_unused(t);
  return ok;
}

static bool read_log_level(PoplarConfig *s, PoplarLogLevel *out)
{
  static const char *const names[] = {"error", "warning", "info", "debug"};
  const char *v = poplar_config_get_string(s, "log-level", "info");
  for (unsigned i = 0; i < G_N_ELEMENTS(names); i++) {
    if (g_ascii_strcasecmp(v, names[i]) == 0) {
      *out = (PoplarLogLevel)i;
      return true;
    }
  }
  poplar_config_error(s, "log-level",
                      "'%s' is not one of error, warning, info, debug", v);
  return false;
}

static bool read_expire(PoplarConfig *s, long long *out)
{
  *out = POPLAR_EXPIRE_UNSET;
  const char *v = poplar_config_get_string(s, "expire", NULL);
  if (!v)
    return true;
  if (g_ascii_strcasecmp(v, "never") == 0) {
    *out = POPLAR_EXPIRE_NEVER;
    return true;
  }
  /* RFC 2449 6.7: EXPIRE takes days, or NEVER. */
  return poplar_config_get_int(s, "expire", 0, 0, 36500, out);
}

static bool read_trusted(PoplarConfig *s, PoplarNetList *list)
{
  static const char *const def[] = {"127.0.0.0/8", "::1/128", NULL};
  g_auto(GStrv) nets = copy_list(s, "trusted-networks", def);
  bool ok = true;
  for (char **n = nets; *n; n++) {
    const char *why = NULL;
    if (!poplard_netlist_add(list, *n, &why)) {
      poplar_config_error(s, "trusted-networks", "'%s': %s", *n, why);
      ok = false;
    }
  }
  return ok;
}

bool poplard_server_config_read(PoplarServerConfig *cfg, PoplarConfigFile *file,
                               const char *plugin_dir_override)
{
  static const char *const default_listen[] = {"0.0.0.0:110", "[::]:110",
                                               NULL};
  guint errors_before = file->errors->len;
  PoplarConfig *s = poplarpriv_config_section_ensure(file, "server");
  PoplarConfig *p = poplarpriv_config_section_ensure(file, "plugins");
  bool ok = true;

  cfg->listen = copy_list(s, "listen", default_listen);
  static const char *const none[] = {NULL};
  cfg->listen_tls = copy_list(s, "listen-tls", none);
  if (!cfg->listen[0] && !cfg->listen_tls[0]) {
    poplar_config_error(s, "listen", "no address to listen on (listen and "
                                     "listen-tls are both empty)");
    ok = false;
  }
  const char *const keys[] = {"listen", "listen-tls"};
  char **const lists[] = {cfg->listen, cfg->listen_tls};
  for (unsigned k = 0; k < G_N_ELEMENTS(keys); k++) {
    for (char **spec = lists[k]; *spec; spec++) {
      g_autofree char *err = NULL;
      if (!poplard_listener_check(*spec, &err)) {
        poplar_config_error(s, keys[k], "%s", err);
        ok = false;
      }
    }
  }
  cfg->plugin_dir = g_strdup(
      poplar_config_get_string(s, "plugin-dir", POPLAR_PLUGIN_DIR));
  if (plugin_dir_override) {
    g_free(cfg->plugin_dir);
    cfg->plugin_dir = g_strdup(plugin_dir_override);
  }
  cfg->mail = g_strdup(
      poplar_config_get_string(s, "mail", "maildir:%h/Maildir"));
  const char *why = NULL;
  if (!poplard_location_check(cfg->mail, &why)) {
    poplar_config_error(s, "mail", "'%s': %s", cfg->mail, why);
    ok = false;
  } else if (!strchr(cfg->mail, ':')) {
    poplar_config_error(s, "mail",
                        "'%s' has no scheme (e.g. maildir:%%h/Maildir)",
                        cfg->mail);
    ok = false;
  }
  cfg->user = g_strdup(poplar_config_get_string(s, "user", NULL));
  cfg->group = g_strdup(poplar_config_get_string(s, "group", NULL));
  ok &= read_privileged_group(s, cfg);
  char host[256] = "localhost";
  if (gethostname(host, sizeof host - 1) != 0)
    g_strlcpy(host, "localhost", sizeof host);
  cfg->hostname = g_strdup(poplar_config_get_string(s, "hostname", host));
  cfg->greeting = g_strdup(
      poplar_config_get_string(s, "greeting", "Poplar POP3 server ready"));
  cfg->implementation = g_strdup(poplar_config_get_string(
      s, "implementation", "Poplar " POPLAR_VERSION));

  ok &= read_duration(s, "idle-timeout",
                                   POPLAR_DEFAULT_IDLE_TIMEOUT_MS,
                                   &cfg->idle_timeout_ms);
  if (cfg->idle_timeout_ms == 0) {
    poplar_config_error(s, "idle-timeout", "must be more than 0");
    ok = false;
  }
  ok &= read_duration(s, "auth-failure-delay",
                                   POPLAR_DEFAULT_AUTH_FAILURE_DELAY_MS,
                                   &cfg->auth_failure_delay_ms);
  ok &= read_duration(s, "auth-failure-delay-max",
                                   POPLAR_DEFAULT_AUTH_FAILURE_DELAY_MAX_MS,
                                   &cfg->auth_failure_delay_max_ms);
  ok &= read_duration(s, "auth-failure-window",
                                   POPLAR_DEFAULT_AUTH_FAILURE_WINDOW_MS,
                                   &cfg->auth_failure_window_ms);
  ok &= read_unsigned(s, "max-connections", POPLAR_DEFAULT_MAX_CONNECTIONS, 1,
                      1000000, &cfg->max_connections);
  ok &= read_unsigned(s, "max-connections-per-ip",
                      POPLAR_DEFAULT_MAX_CONNECTIONS_PER_IP, 1, 1000000,
                      &cfg->max_connections_per_ip);
  ok &= read_unsigned(s, "threads", 0, 0, 256, &cfg->threads);
  if (cfg->threads == 0)
    cfg->threads = MAX(1u, g_get_num_processors());
  ok &= read_unsigned(s, "workers", 1, 1, 64, &cfg->workers);
  ok &= read_duration(s, "shutdown-timeout", 30 * 1000,
                                   &cfg->shutdown_timeout_ms);
  ok &= poplar_config_get_bool(s, "allow-root", false, &cfg->allow_root);
  ok &= read_unsigned(s, "first-valid-uid", POPLAR_DEFAULT_FIRST_VALID_UID, 1,
                      UINT32_MAX - 1, &cfg->first_valid_uid);
  ok &= read_duration(s, "user-process-idle",
                      POPLAR_DEFAULT_USER_PROCESS_IDLE_MS,
                      &cfg->user_process_idle_ms);
  ok &= read_unsigned(s, "plugin-threads", POPLAR_DEFAULT_PLUGIN_THREADS, 1,
                      1024, &cfg->plugin_threads);
  ok &= poplar_config_get_int(s, "login-delay", -1, 0, 86400 * 365,
                              &cfg->login_delay);
  ok &= read_expire(s, &cfg->expire);
  ok &= read_log_level(s, &cfg->log_level);
  cfg->trusted = poplard_netlist_new();
  ok &= read_trusted(s, cfg->trusted);
  ok &= poplar_config_get_bool(s, "proxy-protocol", false,
                               &cfg->proxy_protocol);
  cfg->trusted_proxies = poplard_netlist_new();
  size_t n_proxies = 0;
  const char *const *proxies =
      poplar_config_get_list(s, "trusted-proxies", &n_proxies);
  for (size_t i = 0; i < n_proxies; i++) {
    const char *bad = NULL;
    if (!poplard_netlist_add(cfg->trusted_proxies, proxies[i], &bad)) {
      poplar_config_error(s, "trusted-proxies", "'%s': %s", proxies[i], bad);
      ok = false;
    }
  }
  if (cfg->proxy_protocol && n_proxies == 0) {
    poplar_config_error(s, "proxy-protocol",
                        "needs trusted-proxies: the addresses of the load "
                        "balancers allowed to send PROXY headers");
    ok = false;
  }

  cfg->load = copy_list(p, "load", none);
  ok &= read_tls(file, cfg);

  poplarpriv_config_report_unused(s);
  poplarpriv_config_report_unused(p);
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
  poplard_netlist_free(cfg->trusted);
  poplard_netlist_free(cfg->trusted_proxies);
  memset(cfg, 0, sizeof *cfg);
}
