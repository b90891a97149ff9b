/* SPDX-License-Identifier: MIT */
/*
 * A plugin's init run as the core runs it, on a configuration made of
 * one section, and the checks of what it reported about that section.
 */
#ifndef POPLAR_TEST_PLUGIN_INIT_H
#define POPLAR_TEST_PLUGIN_INIT_H

#include <glib.h>
#include <stdbool.h>

#include "poplar-private.h"

/* Parses a test.conf of a [server] section and [@section] with the lines
 * @body into *@conf (which the caller frees), then runs @desc's init for
 * @plugin on that section as the core does: registering allowed, keys the
 * plugin did not read reported afterwards.  Returns what init returned. */
bool test_plugin_init(PoplarPlugin *plugin,
                      const PoplarPluginDescriptor *desc,
                      const char *section, const char *body,
                      PoplarConfigFile **conf);

/* True when a message of @list (a PoplarConfigFile's errors or warnings)
 * contains @a and, unless NULL, @b. */
bool test_has_message(GPtrArray *list, const char *a, const char *b);
/* Prints every message of @list to stderr. */
void test_dump_messages(GPtrArray *list);
/* Fails the test, showing the errors, unless @conf has an error with @a
 * and, unless NULL, @b. */
void test_assert_config_error(PoplarConfigFile *conf, const char *a,
                              const char *b);

#endif
