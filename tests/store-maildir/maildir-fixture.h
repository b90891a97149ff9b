/* SPDX-License-Identifier: MIT */
/* store-maildir initialised the way the core does it, over a Maildir in a
 * temporary directory: the fixture of the store and index tests. */
#ifndef MAILDIR_FIXTURE_H
#define MAILDIR_FIXTURE_H

#include "maildir.h"

#include "poplar-private.h"

typedef struct Fixture {
  char *tmp;
  char *maildir; /* tmp/Maildir, not created by the fixture */
  char *cur;
  char *new_dir;
  PoplarRegistry *registry;
  PoplarConfigFile *config;
  PoplarPlugin *plugin;
  const PoplarStoreEntry *store;
  PoplarSession session;
  char *open_error; /* the log line of the last failed open */
} Fixture;

/* Loads the plugin with @conf as the text of poplar.conf; false when its
 * init fails (f->config->errors says why). */
bool maildir_fixture_load(Fixture *f, const char *conf);
/* A new temporary directory named after @prefix, a session, the log
 * captured, and the plugin loaded with @conf (which must succeed). */
void maildir_fixture_setup(Fixture *f, const char *prefix, const char *conf);
/* Frees what setup and load made, and removes the directory. */
void maildir_fixture_teardown(Fixture *f);

#endif
