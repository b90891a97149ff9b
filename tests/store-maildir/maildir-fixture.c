/* SPDX-License-Identifier: MIT */
#include "maildir-fixture.h"
#include "maildir-test-util.h"

#include <string.h>

const PoplarPluginDescriptor *poplar_plugin_store_maildir(void);

bool maildir_fixture_load(Fixture *f, const char *conf)
{
  f->registry = poplarpriv_registry_new();
  f->config = poplarpriv_config_parse("test.conf", conf, strlen(conf));
  g_assert_cmpuint(f->config->errors->len, ==, 0);
  PoplarConfig *section =
      poplarpriv_config_section_ensure(f->config, "store-maildir");
  f->plugin = poplarpriv_plugin_new(f->registry, "store-maildir",
                                    "store-maildir.so");
  f->plugin->config = section;
  f->plugin->registering = true;
  const PoplarPluginDescriptor *desc = poplar_plugin_store_maildir();
  g_assert_cmpuint(desc->magic, ==, POPLAR_PLUGIN_MAGIC);
  g_assert_cmpstr(desc->name, ==, "store_maildir");
  bool ok = desc->init(f->plugin, section);
  f->plugin->registering = false;
  poplarpriv_config_report_unused(section);
  f->store = poplarpriv_registry_store(f->registry, "maildir");
  return ok;
}

void maildir_fixture_setup(Fixture *f, const char *prefix, const char *conf)
{
  f->tmp = test_make_tmp_dir(prefix);
  f->maildir = g_build_filename(f->tmp, "Maildir", NULL);
  f->cur = g_build_filename(f->maildir, "cur", NULL);
  f->new_dir = g_build_filename(f->maildir, "new", NULL);
  memset(&f->session, 0, sizeof f->session);
  g_strlcpy(f->session.id, "s1", sizeof f->session.id);
  test_log_capture_start(POPLAR_LOG_DEBUG);
  test_log_clear();
  g_assert_true(maildir_fixture_load(f, conf ? conf : ""));
  g_assert_nonnull(f->store);
}

void maildir_fixture_teardown(Fixture *f)
{
  poplarpriv_registry_free(f->registry);
  poplarpriv_config_free(f->config);
  g_free(f->open_error);
  test_remove_tree(f->tmp);
  g_free(f->tmp);
  g_free(f->maildir);
  g_free(f->cur);
  g_free(f->new_dir);
}
