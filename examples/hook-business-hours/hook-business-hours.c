/* SPDX-License-Identifier: MIT */
/*
 * hook-business-hours - refuse POP3 logins outside configured hours.
 *
 * A complete Poplar hook plugin, written to be copied.  It hooks one point,
 * auth_before, which runs when a client tries to log in and before any
 * password database is asked.  Outside the configured hours it answers
 * POPLAR_REJECT, so the client gets
 *
 *   -ERR [AUTH] logins are allowed only during business hours
 *
 * and may try again later; the session itself goes on.  [AUTH] (RFC 3206)
 * is the response code for "you may not log in", which is what this is.
 * [LOGIN-DELAY] (RFC 2449) would be wrong: it tells the client that it
 * logged in too recently, and clients back off for the advertised delay.
 *
 * Configuration (section [hook-business-hours] of poplar.conf):
 *
 *   hours = 08:00-18:00            one or more windows, ';'-separated;
 *                                  22:00-06:00 runs past midnight;
 *                                  24:00 is allowed as an end
 *   days = mon-fri                 days or ranges, ';'-separated; a window
 *                                  counts on the day it starts
 *   exempt-networks = 10.0.0.0/8; 2001:db8::/32
 *                                  clients always let in (optional)
 *   message = ...                  the text after -ERR [AUTH] (optional)
 *
 * Times are the server's local time: localtime_r() reads the TZ
 * environment variable of poplard (or /etc/localtime).  Run poplard with
 * TZ=Europe/Berlin to use Berlin hours on a server kept in UTC.
 *
 * Threading: the configuration is read once in init and never written
 * again, so the callback reads it from any number of threads without a
 * lock.  localtime_r() (not localtime()) keeps the time conversion
 * thread-safe.
 *
 * Plain C11 + POSIX; build with the Makefile next to this file.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <poplar/plugin.h>

#define MINUTES_PER_DAY (24 * 60)
#define MAX_WINDOWS 16
#define MAX_NETWORKS 64
#define MAX_MESSAGE 200

/* One span of the day, in minutes since midnight.  start > end means the
 * window runs past midnight into the next day. */
struct window {
  int start;
  int end;
};

/* An address block.  IPv4 blocks are stored as IPv4-mapped IPv6
 * (::ffff:a.b.c.d, prefix + 96) so that one comparison handles both
 * families and a client shown as ::ffff:192.0.2.7 still matches
 * 192.0.2.0/24. */
struct network {
  unsigned char addr[16];
  unsigned prefix_len;
};

/* Everything the hook needs, filled in by init and read-only afterwards. */
struct business_hours {
  PoplarPlugin *plugin;
  struct window windows[MAX_WINDOWS];
  size_t n_windows;
  unsigned days; /* bit n set: struct tm's tm_wday == n is a working day */
  struct network networks[MAX_NETWORKS];
  size_t n_networks;
  char message[MAX_MESSAGE];
};

/* ---- configuration parsing ------------------------------------------ */

/* Parses "H:MM" or "HH:MM" (00:00 to 24:00) into minutes since midnight.
 * Returns false on anything else. */
static bool parse_time_of_day(const char *text, size_t len, int *minutes)
{
  int hours = 0;
  size_t i = 0;

  if (len < 4 || len > 5)
    return false;
  for (; i < len && text[i] != ':'; i++) {
    if (text[i] < '0' || text[i] > '9')
      return false;
    hours = hours * 10 + (text[i] - '0');
  }
  if (i == 0 || i > 2 || i + 3 != len)
    return false;
  if (text[i + 1] < '0' || text[i + 1] > '5' || text[i + 2] < '0' ||
      text[i + 2] > '9')
    return false;
  int mins = (text[i + 1] - '0') * 10 + (text[i + 2] - '0');
  if (hours > 24 || (hours == 24 && mins != 0))
    return false;
  *minutes = hours * 60 + mins;
  return true;
}

/* Parses "08:00-18:00".  Reports a bad item through the config error
 * mechanism, which names the file and line of the key. */
static bool parse_window(PoplarConfig *config, const char *item,
                         struct window *w)
{
  const char *dash = strchr(item, '-');

  if (dash == NULL ||
      !parse_time_of_day(item, (size_t)(dash - item), &w->start) ||
      !parse_time_of_day(dash + 1, strlen(dash + 1), &w->end) ||
      w->start == MINUTES_PER_DAY) {
    poplar_config_error(config, "hours",
                        "'%s' is not a window like 08:00-18:00", item);
    return false;
  }
  if (w->start == w->end) {
    poplar_config_error(config, "hours",
                        "'%s' is empty; write 00:00-24:00 for the whole day",
                        item);
    return false;
  }
  return true;
}

/* Returns tm_wday (0 = Sunday) for a three-letter English day name, or -1. */
static int parse_day(const char *text, size_t len)
{
  static const char *const names[] = {"sun", "mon", "tue", "wed",
                                      "thu", "fri", "sat"};

  if (len != 3)
    return -1;
  for (int d = 0; d < 7; d++)
    if (strncasecmp(text, names[d], 3) == 0)
      return d;
  return -1;
}

/* Adds "mon" or "mon-fri" (or "fri-mon", which wraps over the weekend) to
 * the day mask. */
static bool parse_days(PoplarConfig *config, const char *item, unsigned *mask)
{
  const char *dash = strchr(item, '-');
  int first, last;

  if (dash == NULL) {
    first = last = parse_day(item, strlen(item));
  } else {
    first = parse_day(item, (size_t)(dash - item));
    last = parse_day(dash + 1, strlen(dash + 1));
  }
  if (first < 0 || last < 0) {
    poplar_config_error(config, "days",
                        "'%s' is not a day (mon..sun) or a range (mon-fri)",
                        item);
    return false;
  }
  for (int d = first;; d = (d + 1) % 7) {
    *mask |= 1u << d;
    if (d == last)
      break;
  }
  return true;
}

/* Turns a textual address into the 16-octet form of struct network. */
static bool parse_address(const char *text, unsigned char out[16],
                          bool *is_ipv4)
{
  unsigned char v4[4];

  if (inet_pton(AF_INET, text, v4) == 1) {
    static const unsigned char mapped_prefix[12] = {0, 0, 0, 0, 0,    0,
                                                    0, 0, 0, 0, 0xff, 0xff};
    memcpy(out, mapped_prefix, 12);
    memcpy(out + 12, v4, 4);
    *is_ipv4 = true;
    return true;
  }
  *is_ipv4 = false;
  return inet_pton(AF_INET6, text, out) == 1;
}

/* Parses "192.0.2.0/24", "2001:db8::/32" or a single address. */
static bool parse_network(PoplarConfig *config, const char *item,
                          struct network *net)
{
  char addr[64];
  const char *slash = strchr(item, '/');
  size_t addr_len = slash ? (size_t)(slash - item) : strlen(item);
  bool is_ipv4 = false;

  if (addr_len >= sizeof addr)
    goto bad;
  memcpy(addr, item, addr_len);
  addr[addr_len] = '\0';
  if (!parse_address(addr, net->addr, &is_ipv4))
    goto bad;

  unsigned max_len = is_ipv4 ? 32 : 128;
  unsigned len = max_len;
  if (slash != NULL) {
    char *end;
    unsigned long parsed = strtoul(slash + 1, &end, 10);
    if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || parsed > max_len)
      goto bad;
    len = (unsigned)parsed;
  }
  net->prefix_len = is_ipv4 ? len + 96 : len;
  return true;

bad:
  poplar_config_error(config, "exempt-networks",
                      "'%s' is not an address or a network like "
                      "192.0.2.0/24 or 2001:db8::/32",
                      item);
  return false;
}

/* ---- the check -------------------------------------------------------- */

static bool network_contains(const struct network *net,
                             const unsigned char addr[16])
{
  unsigned full = net->prefix_len / 8, rest = net->prefix_len % 8;

  if (memcmp(net->addr, addr, full) != 0)
    return false;
  if (rest == 0)
    return true;
  unsigned char mask = (unsigned char)(0xffu << (8 - rest));
  return (net->addr[full] & mask) == (addr[full] & mask);
}

static bool is_exempt(const struct business_hours *bh, const char *remote)
{
  unsigned char addr[16];
  bool is_ipv4;

  if (bh->n_networks == 0 || remote == NULL ||
      !parse_address(remote, addr, &is_ipv4))
    return false;
  for (size_t i = 0; i < bh->n_networks; i++)
    if (network_contains(&bh->networks[i], addr))
      return true;
  return false;
}

static bool works_on(const struct business_hours *bh, int wday)
{
  return (bh->days >> wday) & 1u;
}

/* True when @now falls in one of the windows, counting a window that runs
 * past midnight on the day it started. */
static bool is_business_time(const struct business_hours *bh, time_t now)
{
  struct tm tm;

  if (localtime_r(&now, &tm) == NULL)
    return false; /* cannot tell the time: fail closed */
  int minute = tm.tm_hour * 60 + tm.tm_min;
  int today = tm.tm_wday, yesterday = (tm.tm_wday + 6) % 7;

  for (size_t i = 0; i < bh->n_windows; i++) {
    const struct window *w = &bh->windows[i];
    if (w->start < w->end) {
      if (minute >= w->start && minute < w->end && works_on(bh, today))
        return true;
    } else {
      /* 22:00-06:00: the evening part belongs to today, the early
       * morning part to the window that began yesterday. */
      if (minute >= w->start && works_on(bh, today))
        return true;
      if (minute < w->end && works_on(bh, yesterday))
        return true;
    }
  }
  return false;
}

/* The hook point.  The user name and mechanism are known here; the
 * password never is (hooks never see passwords). */
static PoplarVerdict on_auth_before(void *data, PoplarSession *s,
                                    PoplarAuthRequest *req)
{
  const struct business_hours *bh = data;
  const char *remote = poplar_session_remote_address(s);

  if (is_exempt(bh, remote) || is_business_time(bh, time(NULL)))
    return POPLAR_CONTINUE; /* let the next hook and the passdbs decide */

  const char *user = poplar_auth_request_user(req);
  poplar_session_log(s, bh->plugin, POPLAR_LOG_INFO,
                     "login of %s from %s refused outside business hours",
                     user ? user : "(unknown)", remote ? remote : "?");
  /* Pass the configured text as an argument, never as the format. */
  poplar_hook_reply(s, "AUTH", "%s", bh->message);
  return POPLAR_REJECT;
}

static void business_hours_destroy(void *data)
{
  free(data);
}

/* ---- life cycle ------------------------------------------------------- */

static bool business_hours_init(PoplarPlugin *plugin, PoplarConfig *config)
{
  struct business_hours *bh = calloc(1, sizeof *bh);
  bool ok = true;

  if (bh == NULL) {
    poplar_log(plugin, POPLAR_LOG_ERROR, "out of memory");
    return false;
  }
  bh->plugin = plugin;

  /* Read every key even after an error, so that one --check-config run
   * reports every problem of the section. */
  size_t n = 0;
  const char *const *hours = poplar_config_get_list(config, "hours", &n);
  static const char *const default_hours[] = {"08:00-18:00", NULL};
  if (n == 0)
    hours = default_hours;
  for (size_t i = 0; hours[i] != NULL; i++) {
    if (bh->n_windows == MAX_WINDOWS) {
      poplar_config_error(config, "hours", "more than %d windows",
                          MAX_WINDOWS);
      ok = false;
      break;
    }
    if (parse_window(config, hours[i], &bh->windows[bh->n_windows]))
      bh->n_windows++;
    else
      ok = false;
  }

  const char *const *days = poplar_config_get_list(config, "days", &n);
  static const char *const default_days[] = {"mon-fri", NULL};
  if (n == 0)
    days = default_days;
  for (size_t i = 0; days[i] != NULL; i++)
    ok = parse_days(config, days[i], &bh->days) && ok;

  const char *const *nets =
      poplar_config_get_list(config, "exempt-networks", NULL);
  for (size_t i = 0; nets[i] != NULL; i++) {
    if (bh->n_networks == MAX_NETWORKS) {
      poplar_config_error(config, "exempt-networks", "more than %d networks",
                          MAX_NETWORKS);
      ok = false;
      break;
    }
    if (parse_network(config, nets[i], &bh->networks[bh->n_networks]))
      bh->n_networks++;
    else
      ok = false;
  }

  const char *message = poplar_config_get_string(
      config, "message", "logins are allowed only during business hours");
  if (strlen(message) >= sizeof bh->message) {
    poplar_config_error(config, "message", "longer than %d characters",
                        MAX_MESSAGE - 1);
    ok = false;
  } else {
    snprintf(bh->message, sizeof bh->message, "%s", message);
  }

  if (!ok) {
    free(bh);
    return false;
  }

  /* localtime_r() need not read TZ itself (POSIX); tzset() does, once,
   * here on the main thread. */
  tzset();

  /* Only the hook points we need; the rest stay NULL.  The size passed
   * with the table lets a newer core, whose table has more members, treat
   * the missing ones as NULL. */
  static const PoplarHookOps ops = {
      .auth_before = on_auth_before,
      .destroy = business_hours_destroy,
  };
  if (!poplar_register_hook(plugin, &ops, sizeof ops, bh)) {
    free(bh); /* not registered, so destroy will never run */
    return false;
  }
  poplar_log(plugin, POPLAR_LOG_DEBUG, "%zu window(s), %zu exempt network(s)",
             bh->n_windows, bh->n_networks);
  return true;
}

POPLAR_PLUGIN_DEFINE(hook_business_hours, "1.0.0",
                     "Refuses logins outside configured business hours",
                     NULL, business_hours_init, NULL)
