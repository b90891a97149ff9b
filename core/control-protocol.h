/* SPDX-License-Identifier: MIT */
/*
 * The text protocol of the control socket, spoken between poplarctl and
 * the master and between the master and its workers (Dovecot's doveadm
 * protocol is the model): a request is one line of TAB-separated fields,
 * the first the command; the answer is any number of record lines
 * ("R", then key=value fields), then "OK" or "ERR" and a reason.  Fields
 * escape backslash, TAB and newline, so any value fits on one line.
 */
#ifndef POPLAR_CONTROL_PROTOCOL_H
#define POPLAR_CONTROL_PROTOCOL_H

#include <glib.h>
#include <stdbool.h>

/* Longest request or answer line accepted. */
#define POPLAR_CONTROL_MAX_LINE (64 * 1024)

/* Appends @value to @out with backslash, TAB, CR and LF escaped. */
void poplard_control_escape(GString *out, const char *value);
/* Splits one line (without its newline) into unescaped fields.  Returns
 * NULL when an escape is malformed. */
char **poplard_control_split(const char *line);

/* A record under construction: poplard_control_record_add() appends
 * "\tkey=value" to @rec, which starts as "R". */
GString *poplard_control_record_new(void);
void poplard_control_record_add(GString *rec, const char *key,
                                const char *value);
void poplard_control_record_addf(GString *rec, const char *key,
                                 const char *fmt, ...) G_GNUC_PRINTF(3, 4);
/* Ends the record with a newline and appends it to @out; frees @rec. */
void poplard_control_record_finish(GString *out, GString *rec);

/* The value of @key in a split record (fields[0] is "R"), or NULL. */
const char *poplard_control_record_get(char *const *fields, const char *key);

#endif
