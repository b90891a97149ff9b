/* SPDX-License-Identifier: MIT */
/* The OpenMetrics text (core/metrics-text.c) and the HTTP endpoint's
 * routing (core/metrics-http.c). */
#include <glib.h>
#include <string.h>

#include "control-protocol.h"
#include "metrics-http.h"
#include "metrics-text.h"
#include "stats.h"

static char *render(GHashTable *merged)
{
  GString *out = g_string_new(NULL);
  poplard_metrics_render(merged, false, out);
  return g_string_free(out, FALSE);
}

static void test_text_format(void)
{
  g_autoptr(GHashTable) merged = poplard_stats_merged_new();
  poplard_stats_merged_add(merged, "poplar_logins_total",
                           "result=\"success\",mechanism=\"USER\"", 2);
  g_autoptr(GString) out = g_string_new(NULL);
  poplard_metrics_render(merged, true, out);
  g_assert_nonnull(strstr(out->str, "# TYPE poplar_logins_total counter\n"
                                    "# HELP poplar_logins_total "));
  g_assert_null(strstr(out->str, "# UNIT"));
  g_assert_null(strstr(out->str, "# EOF"));
  g_assert_true(poplard_metrics_http_wants_text(
      "GET /metrics HTTP/1.1\r\nAccept: text/plain; version=0.0.4\r\n\r\n"));
  g_assert_false(poplard_metrics_http_wants_text(
      "GET /metrics HTTP/1.1\r\naccept: application/openmetrics-text;"
      "version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n\r\n"));
  g_assert_false(
      poplard_metrics_http_wants_text("GET /metrics HTTP/1.1\r\n\r\n"));
}

static void test_families_and_eof(void)
{
  g_autoptr(GHashTable) merged = poplard_stats_merged_new();
  poplard_stats_merged_add(merged, "poplar_logins_total",
                           "result=\"success\",mechanism=\"USER\"", 2);
  poplard_stats_merged_add(merged, "poplar_sent_bytes_total",
                           "command=\"RETR\"", 1234);
  g_autofree char *text = render(merged);
  g_assert_true(g_str_has_suffix(text, "\n# EOF\n"));
  g_assert_nonnull(strstr(text, "# TYPE poplar_logins counter\n"));
  g_assert_nonnull(strstr(
      text, "poplar_logins_total{result=\"success\",mechanism=\"USER\"} 2\n"));
  /* A unit is part of the family's name and has its own line. */
  g_assert_nonnull(strstr(text, "# TYPE poplar_sent_bytes counter\n"
                                "# UNIT poplar_sent_bytes bytes\n"));
  g_assert_nonnull(
      strstr(text, "poplar_sent_bytes_total{command=\"RETR\"} 1234\n"));
  /* Families without samples still say what they are. */
  g_assert_nonnull(strstr(text, "# TYPE poplar_worker_restarts counter\n"));
  /* Samples come under their own family, once. */
  const char *first = strstr(text, "poplar_logins_total{");
  g_assert_null(strstr(first + 1, "poplar_logins_total{"));
}

static void test_histogram_bucket_order(void)
{
  g_autoptr(GHashTable) merged = poplard_stats_merged_new();
  poplard_stats_reset();
  poplard_stats_observe("poplar_plugin_call_duration_seconds",
                        "plugin=\"a\",operation=\"b\"", 0.2);
  poplard_stats_observe("poplar_plugin_call_duration_seconds",
                        "plugin=\"a\",operation=\"b\"", 7);
  g_autoptr(GString) dump = g_string_new(NULL);
  poplard_stats_dump(dump);
  g_auto(GStrv) lines = g_strsplit(dump->str, "\n", -1);
  for (char **l = lines; *l; l++) {
    g_auto(GStrv) f = **l ? poplard_control_split(*l) : NULL;
    if (f)
      g_assert_true(poplard_stats_merged_add_record(merged, f));
  }
  poplard_stats_reset();
  g_autofree char *text = render(merged);
  const char *prefix = "poplar_plugin_call_duration_seconds_bucket{plugin="
                       "\"a\",operation=\"b\",le=\"";
  /* Increasing bounds, +Inf last, counts cumulative. */
  double last = -1;
  unsigned n = 0;
  double last_count = 0;
  for (const char *p = strstr(text, prefix); p; p = strstr(p + 1, prefix)) {
    const char *v = p + strlen(prefix);
    double le = g_str_has_prefix(v, "+Inf") ? G_MAXDOUBLE
                                            : g_ascii_strtod(v, NULL);
    g_assert_cmpfloat(le, >, last);
    last = le;
    const char *space = strchr(v, ' ');
    double count = g_ascii_strtod(space + 1, NULL);
    g_assert_cmpfloat(count, >=, last_count);
    last_count = count;
    n++;
  }
  g_assert_cmpuint(n, ==, poplard_stats_n_buckets);
  g_assert_cmpfloat(last, ==, G_MAXDOUBLE);
  g_assert_cmpfloat(last_count, ==, 2);
  g_assert_nonnull(strstr(text, "poplar_plugin_call_duration_seconds_count{"
                                "plugin=\"a\",operation=\"b\"} 2\n"));
  g_assert_nonnull(strstr(text, "poplar_plugin_call_duration_seconds_sum{"
                                "plugin=\"a\",operation=\"b\"} 7.2"));
}

static void test_http_routing(void)
{
  g_assert_cmpint(poplard_metrics_http_status(
                      "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), ==, 200);
  g_assert_cmpint(poplard_metrics_http_status("GET /metrics?x=1 HTTP/1.0\r\n"
                                              "\r\n"), ==, 200);
  g_assert_cmpint(poplard_metrics_http_status("GET / HTTP/1.1\r\n\r\n"), ==,
                  404);
  g_assert_cmpint(poplard_metrics_http_status("GET /metricsx HTTP/1.1\r\n"
                                              "\r\n"), ==, 404);
  g_assert_cmpint(poplard_metrics_http_status("POST /metrics HTTP/1.1\r\n"
                                              "\r\n"), ==, 405);
  g_assert_cmpint(poplard_metrics_http_status("GET /metrics\r\n\r\n"), ==,
                  400);
  g_assert_cmpint(poplard_metrics_http_status("garbage\r\n\r\n"), ==, 400);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/metrics/families-and-eof", test_families_and_eof);
  g_test_add_func("/metrics/histogram-bucket-order",
                  test_histogram_bucket_order);
  g_test_add_func("/metrics/http-routing", test_http_routing);
  g_test_add_func("/metrics/text-format", test_text_format);
  return g_test_run();
}
