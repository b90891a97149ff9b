/* SPDX-License-Identifier: MIT */
/* What the password-database checks share. */
#ifndef POPLAR_KIT_PASSDB_H
#define POPLAR_KIT_PASSDB_H

#include "kit.h"

typedef struct KitPassdbRun {
  const PoplarPassdbEntry *db;
  const KitOptions *opts;
  KitReport *report;
  const char *user;
  const char *password;
  const char *wrong_password;
  const char *unknown_user;
} KitPassdbRun;

/* What one USER/PASS attempt got, as the core would see it. */
typedef struct KitAnswer {
  PoplarPassdbResult result;
  char *reason_code; /* "" when none */
  char *user;        /* the canonical user name after the call */
  char *mail;        /* the mail location set, or NULL */
  char *log;         /* warnings and errors logged for the attempt */
} KitAnswer;

/* One verify_plain through the core's call site, on a session of its
 * own. */
KitAnswer kit_passdb_try(const PoplarPassdbEntry *db, const char *user,
                         const char *password);
void kit_answer_clear(KitAnswer *answer);
const char *kit_passdb_result_name(PoplarPassdbResult r);

void kit_check_passdb_timing(const KitPassdbRun *run);

#endif
