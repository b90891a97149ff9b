/* SPDX-License-Identifier: MIT */
/* The control protocol (core/control-protocol.c), the master asking its
 * workers (core/control-fanout.c) with the workers' real answering thread
 * (core/control-worker.c), and merging their counters (core/stats.c). */
#include <glib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth-throttle.h"
#include "control-fanout.h"
#include "control-protocol.h"
#include "control-worker.h"
#include "control.h"
#include "stats.h"

static void test_escape_round_trip(void)
{
  const char *values[] = {"plain", "tab\there", "new\nline", "back\\slash",
                          "cr\r", "", "\\t literally", NULL};
  g_autoptr(GString) line = g_string_new(NULL);
  for (const char **v = values; *v; v++) {
    if (v != values)
      g_string_append_c(line, '\t');
    poplard_control_escape(line, *v);
  }
  g_assert_null(strchr(line->str, '\n'));
  g_auto(GStrv) fields = poplard_control_split(line->str);
  g_assert_nonnull(fields);
  g_assert_cmpuint(g_strv_length(fields), ==, G_N_ELEMENTS(values) - 1);
  for (guint i = 0; values[i]; i++)
    g_assert_cmpstr(fields[i], ==, values[i]);
}

static void test_malformed_escape(void)
{
  g_assert_null(poplard_control_split("who\\"));
  g_assert_null(poplard_control_split("who\\x"));
}

static void test_record(void)
{
  GString *rec = poplard_control_record_new();
  poplard_control_record_add(rec, "user", "a=b\tc");
  poplard_control_record_addf(rec, "in", "%d", 42);
  g_autoptr(GString) out = g_string_new(NULL);
  poplard_control_record_finish(out, rec);
  g_assert_true(g_str_has_suffix(out->str, "\n"));
  out->str[out->len - 1] = '\0';
  g_auto(GStrv) fields = poplard_control_split(out->str);
  g_assert_cmpstr(fields[0], ==, "R");
  g_assert_cmpstr(poplard_control_record_get(fields, "user"), ==, "a=b\tc");
  g_assert_cmpstr(poplard_control_record_get(fields, "in"), ==, "42");
  g_assert_null(poplard_control_record_get(fields, "us"));
}

/* Two workers with their real answering threads, each with a throttle of
 * its own (a worker's login failures are its own). */
typedef struct TwoWorkers {
  PoplarServer servers[2];
  PoplarControlWorker *threads[2];
  int fds[2]; /* the master's ends */
} TwoWorkers;

static void two_workers_start(TwoWorkers *w)
{
  memset(w, 0, sizeof *w);
  for (int i = 0; i < 2; i++) {
    int pair[2];
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair),
                    ==, 0);
    w->servers[i].throttle = poplard_throttle_new(100, 1000, 60000, 100);
    w->threads[i] = poplard_control_worker_start(&w->servers[i], pair[1]);
    w->fds[i] = pair[0];
  }
}

static void two_workers_stop(TwoWorkers *w)
{
  for (int i = 0; i < 2; i++) {
    close(w->fds[i]);
    poplard_control_worker_stop(w->threads[i]);
    poplard_throttle_free(w->servers[i].throttle);
  }
}

static void test_fanout_merges_answers(void)
{
  TwoWorkers w;
  two_workers_start(&w);
  int64_t now = g_get_monotonic_time();
  poplard_throttle_failure(w.servers[0].throttle, "192.0.2.1", "alice", now);
  poplard_throttle_failure(w.servers[1].throttle, "192.0.2.2", NULL, now);
  poplard_throttle_failure(w.servers[1].throttle, "192.0.2.2", NULL, now);

  char *list[] = {"penalty", NULL};
  g_autoptr(GString) records = g_string_new(NULL);
  g_autoptr(GString) error = g_string_new(NULL);
  g_assert_true(poplard_control_fanout(w.fds, 2, list, records, error));
  g_assert_cmpstr(error->str, ==, "");
  g_assert_nonnull(strstr(records->str, "name=192.0.2.1"));
  g_assert_nonnull(strstr(records->str, "name=alice"));
  g_assert_nonnull(strstr(records->str, "name=192.0.2.2\tfailures=2\t"
                                        "delay_ms=200"));

  /* A reset reaches every worker. */
  char *reset[] = {"penalty", "reset", "192.0.2.2", NULL};
  g_string_truncate(records, 0);
  g_assert_true(poplard_control_fanout(w.fds, 2, reset, records, error));
  g_assert_cmpuint(poplard_throttle_penalty(w.servers[1].throttle,
                                            "192.0.2.2", now), ==, 0);
  g_assert_cmpuint(poplard_throttle_penalty(w.servers[0].throttle,
                                            "192.0.2.1", now), ==, 100);

  /* kick names someone: an empty name does not mean everyone. */
  char *kick_all[] = {"kick", "", NULL};
  g_string_truncate(records, 0);
  g_string_truncate(error, 0);
  g_assert_false(poplard_control_fanout(w.fds, 2, kick_all, records, error));
  g_assert_cmpstr(error->str, ==, "kick needs a user name or a session id");
  g_string_truncate(error, 0);

  /* An unknown command is an error with the worker's reason. */
  char *bad[] = {"frobnicate", NULL};
  g_string_truncate(records, 0);
  g_assert_false(poplard_control_fanout(w.fds, 2, bad, records, error));
  g_assert_cmpstr(error->str, ==, "unknown command");
  two_workers_stop(&w);
}

static void test_fanout_worker_gone(void)
{
  TwoWorkers w;
  two_workers_start(&w);
  /* The second worker's end goes away, as when it dies. */
  poplard_control_worker_stop(w.threads[1]);
  w.threads[1] = NULL;
  char *list[] = {"penalty", NULL};
  g_autoptr(GString) records = g_string_new(NULL);
  g_autoptr(GString) error = g_string_new(NULL);
  g_assert_false(poplard_control_fanout(w.fds, 2, list, records, error));
  g_assert_cmpstr(error->str, !=, "");
  close(w.fds[0]);
  close(w.fds[1]);
  poplard_control_worker_stop(w.threads[0]);
  poplard_throttle_free(w.servers[0].throttle);
  poplard_throttle_free(w.servers[1].throttle);
}

static double merged_value(GHashTable *merged, const char *name,
                           const char *labels)
{
  g_autofree char *key = g_strdup_printf("%s\t%s", name, labels);
  double *v = g_hash_table_lookup(merged, key);
  return v ? *v : -1;
}

static void test_stats_summed_over_workers(void)
{
  poplard_stats_reset();
  g_autofree char *labels =
      poplard_stats_labels("result", "success", "mechanism", "USER", NULL);
  poplard_stats_add("poplar_logins_total", labels, 3);
  poplard_stats_observe("poplar_plugin_call_duration_seconds",
                        "plugin=\"p\",operation=\"o\"", 0.02);
  TwoWorkers w;
  two_workers_start(&w);
  PoplarMasterView view = {.worker_fds = w.fds, .n_workers = 2,
                           .worker_restarts = 4};
  g_autoptr(GHashTable) merged = poplard_stats_merged_new();
  g_autoptr(GString) error = g_string_new(NULL);
  g_assert_true(poplard_control_collect_stats(&view, merged, error));
  /* Both workers of this test share one process's counters: each reports
   * them, and the master adds them up. */
  g_assert_cmpfloat(merged_value(merged, "poplar_logins_total", labels), ==,
                    6);
  g_assert_cmpfloat(
      merged_value(merged, "poplar_plugin_call_duration_seconds_count",
                   "plugin=\"p\",operation=\"o\""),
      ==, 2);
  g_assert_cmpfloat(
      merged_value(merged, "poplar_plugin_call_duration_seconds_bucket",
                   "plugin=\"p\",operation=\"o\",le=\"0.01\""),
      ==, 0);
  g_assert_cmpfloat(
      merged_value(merged, "poplar_plugin_call_duration_seconds_bucket",
                   "plugin=\"p\",operation=\"o\",le=\"0.05\""),
      ==, 2);
  g_assert_cmpfloat(merged_value(merged, "poplar_worker_restarts_total", ""),
                    ==, 4);
  g_assert_cmpfloat(merged_value(merged, "poplar_workers", ""), ==, 2);
  two_workers_stop(&w);
  poplard_stats_reset();
}

static void test_labels_escaped(void)
{
  g_autofree char *l =
      poplard_stats_labels("a", "x\"y", "b", "back\\slash\nnl", NULL);
  g_assert_cmpstr(l, ==, "a=\"x\\\"y\",b=\"back\\\\slash\\nnl\"");
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/control/escape-round-trip", test_escape_round_trip);
  g_test_add_func("/control/malformed-escape", test_malformed_escape);
  g_test_add_func("/control/record", test_record);
  g_test_add_func("/control/fanout-merges-answers",
                  test_fanout_merges_answers);
  g_test_add_func("/control/fanout-worker-gone", test_fanout_worker_gone);
  g_test_add_func("/control/stats-summed-over-workers",
                  test_stats_summed_over_workers);
  g_test_add_func("/control/labels-escaped", test_labels_escaped);
  return g_test_run();
}
