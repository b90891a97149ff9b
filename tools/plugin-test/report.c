/* SPDX-License-Identifier: MIT */
/*
 * The kit's output: one line per check that a person reads and a CI greps
 * ("PASS name", "FAIL name: reason", "SKIP name: reason", then
 * "N passed, N failed"), or TAP with --tap.  Lines are flushed at once so
 * that a check that hangs shows where.
 */
#include "kit.h"

#include <stdio.h>

struct KitReport {
  bool tap;
  unsigned number;
  unsigned passed;
  unsigned failed;
  unsigned skipped;
};

KitReport *kit_report_new(bool tap)
{
  KitReport *report = g_new0(KitReport, 1);
  report->tap = tap;
  return report;
}

void kit_report_free(KitReport *report)
{
  g_free(report);
}

typedef enum { OUTCOME_PASS, OUTCOME_FAIL, OUTCOME_SKIP } Outcome;

/* The reason on one line: a plugin's log text may hold newlines. */
static void flatten(char *text)
{
  for (char *p = text; *p; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';
}

static void emit(KitReport *report, Outcome outcome, const char *name,
                 const char *fmt, va_list ap)
{
  g_autofree char *reason = fmt ? g_strdup_vprintf(fmt, ap) : NULL;
  if (reason)
    flatten(reason);
  bool has_reason = reason && *reason;
  report->number++;
  if (outcome == OUTCOME_PASS)
    report->passed++;
  else if (outcome == OUTCOME_FAIL)
    report->failed++;
  else
    report->skipped++;

  if (report->tap) {
    if (outcome == OUTCOME_SKIP)
      printf("ok %u - %s # SKIP %s\n", report->number, name,
             has_reason ? reason : "");
    else if (outcome == OUTCOME_FAIL)
      printf("not ok %u - %s%s%s\n", report->number, name,
             has_reason ? ": " : "", has_reason ? reason : "");
    else
      printf("ok %u - %s%s%s\n", report->number, name,
             has_reason ? " # " : "", has_reason ? reason : "");
  } else {
    static const char *const words[] = {"PASS", "FAIL", "SKIP"};
    /* A PASS may carry figures worth reading (timings); they go in
     * parentheses so that "PASS name" stays the line's start. */
    if (outcome == OUTCOME_PASS)
      printf("PASS %s%s%s%s\n", name, has_reason ? " (" : "",
             has_reason ? reason : "", has_reason ? ")" : "");
    else
      printf("%s %s%s%s\n", words[outcome], name, has_reason ? ": " : "",
             has_reason ? reason : "");
  }
  fflush(stdout);
}

void kit_pass(KitReport *report, const char *name, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  emit(report, OUTCOME_PASS, name, fmt, ap);
  va_end(ap);
}

void kit_fail(KitReport *report, const char *name, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  emit(report, OUTCOME_FAIL, name, fmt, ap);
  va_end(ap);
}

void kit_skip(KitReport *report, const char *name, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  emit(report, OUTCOME_SKIP, name, fmt, ap);
  va_end(ap);
}

void kit_check(KitReport *report, bool ok, const char *name,
               const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  /* The reason explains a failure; a passing check needs no text. */
  if (ok)
    emit(report, OUTCOME_PASS, name, NULL, ap);
  else
    emit(report, OUTCOME_FAIL, name, fmt, ap);
  va_end(ap);
}

unsigned kit_report_finish(KitReport *report)
{
  if (report->tap) {
    printf("1..%u\n", report->number);
    printf("# %u passed, %u failed, %u skipped\n", report->passed,
           report->failed, report->skipped);
  } else {
    if (report->skipped)
      printf("(%u skipped)\n", report->skipped);
    printf("%u passed, %u failed\n", report->passed, report->failed);
  }
  fflush(stdout);
  return report->failed;
}
