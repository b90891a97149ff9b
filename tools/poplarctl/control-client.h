/* SPDX-License-Identifier: MIT */
/* poplarctl's side of the control socket: asking, and printing answers. */
#ifndef POPLARCTL_CONTROL_CLIENT_H
#define POPLARCTL_CONTROL_CLIENT_H

#include <glib.h>
#include <stdbool.h>
#include <stdio.h>

typedef struct PoplarctlAnswer {
  GPtrArray *records; /* char** (split fields, [0] = "R") */
  char *error;        /* the ERR reason, or NULL after OK */
} PoplarctlAnswer;

/* The [control] socket of @config (NULL: the default file), or the
 * default path when the file does not say. */
char *poplarctl_socket_from_config(const char *config);

/* Sends @request (NULL-terminated fields) to the master at @path and
 * reads its answer.  False with *@error for a failure to ask (no server,
 * permission); an ERR answer is true with answer->error set. */
bool poplarctl_ask(const char *path, char **request, PoplarctlAnswer *answer,
                   char **error);
void poplarctl_answer_clear(PoplarctlAnswer *answer);

/* Prints @answer to the command @command for a person, or as JSON.
 * Returns the exit status. */
int poplarctl_print(const char *command, const PoplarctlAnswer *answer,
                    bool json, FILE *out);

#endif
