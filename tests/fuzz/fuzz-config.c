/* SPDX-License-Identifier: MIT */
/*
 * poplar.conf: the reader (libpoplar/config-parse.c), the typed accessors
 * plugins use (libpoplar/config.c) and the core's reading of [server],
 * [plugins] and [tls] (core/server-config.c), on any file content.
 * Checks that every problem is reported as "path:line: ..." or "path: ...",
 * and that a file with no error gives a usable configuration: in
 * particular every duration the core turns into microseconds of an int64_t
 * clock fits there.
 */
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-check.h"
#include "server-config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  poplarpriv_set_log_level(POPLAR_LOG_ERROR);
  return 0;
}

static void check_messages(const GPtrArray *messages)
{
  for (guint i = 0; i < messages->len; i++) {
    const char *m = g_ptr_array_index(messages, i);
    CHECK(g_str_has_prefix(m, "fuzz.conf"));
  }
}

/* What a plugin does with its section: ask for every key in every type. */
static void read_like_a_plugin(PoplarConfig *section)
{
  for (guint i = 0; i < section->entries->len; i++) {
    PoplarConfigEntry *e = g_ptr_array_index(section->entries, i);
    long long n;
    bool b;
    uint64_t u;
    size_t count;
    CHECK(poplar_config_has_key(section, e->key));
    CHECK(poplar_config_get_string(section, e->key, NULL) == e->value);
    (void)poplar_config_get_int(section, e->key, 7, -100, 1000000, &n);
    (void)poplar_config_get_bool(section, e->key, false, &b);
    (void)poplar_config_get_duration(section, e->key, 1000, &u);
    (void)poplar_config_get_size(section, e->key, 4096, &u);
    const char *const *list = poplar_config_get_list(section, e->key, &count);
    CHECK(list != NULL);
    for (size_t k = 0; k < count; k++)
      CHECK(list[k] != NULL);
    CHECK(list[count] == NULL);
  }
  poplarpriv_config_report_unused(section);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  PoplarConfigFile *file =
      poplarpriv_config_parse("fuzz.conf", (const char *)data, size);
  CHECK(file != NULL);

  PoplarServerConfig cfg = {0};
  bool ok = poplard_server_config_read(&cfg, file, NULL);
  if (ok) {
    CHECK(cfg.listen && cfg.listen[0]);
    CHECK(!cfg.mail || strchr(cfg.mail, ':')); /* optional since 1.1 */
    CHECK(cfg.idle_timeout_ms > 0);
    CHECK(cfg.threads >= 1 && cfg.plugin_threads >= 1);
    CHECK(cfg.max_connections >= 1 && cfg.max_connections_per_ip >= 1);
    /* core/client.c computes deadlines as (int64_t)ms * 1000. */
    CHECK(cfg.idle_timeout_ms <= INT64_MAX / 1000 &&
          cfg.auth_failure_delay_ms <= INT64_MAX / 1000 &&
          cfg.auth_failure_delay_max_ms <= INT64_MAX / 1000 &&
          cfg.auth_failure_window_ms <= INT64_MAX / 1000 &&
          cfg.shutdown_timeout_ms <= INT64_MAX / 1000 &&
          cfg.tls.handshake_timeout_ms <= INT64_MAX / 1000);
  }
  for (guint i = 0; i < file->sections->len; i++) {
    PoplarConfig *section = g_ptr_array_index(file->sections, i);
    if (strcmp(section->name, "server") != 0 &&
        strcmp(section->name, "plugins") != 0 &&
        strcmp(section->name, "tls") != 0)
      read_like_a_plugin(section);
  }
  check_messages(file->errors);
  check_messages(file->warnings);
  poplard_server_config_clear(&cfg);
  poplarpriv_config_free(file);
  return 0;
}
