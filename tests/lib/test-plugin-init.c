/* SPDX-License-Identifier: MIT */
#include "test-plugin-init.h"

#include <string.h>

bool test_plugin_init(PoplarPlugin *plugin,
                      const PoplarPluginDescriptor *desc,
                      const char *section, const char *body,
                      PoplarConfigFile **conf)
{
  g_autofree char *text = g_strdup_printf(
      "[server]\nlisten = 127.0.0.1:0\n\n[%s]\n%s", section, body);
  *conf = poplarpriv_config_parse("test.conf", text, strlen(text));
  g_assert_cmpuint((*conf)->errors->len, ==, 0);
  PoplarConfig *s = poplarpriv_config_section_ensure(*conf, section);
  g_assert_cmphex(desc->magic, ==, POPLAR_PLUGIN_MAGIC);
  plugin->config = s;
  plugin->registering = true;
  bool ok = desc->init(plugin, s);
  plugin->registering = false;
  poplarpriv_config_report_unused(s);
  return ok;
}

bool test_has_message(GPtrArray *list, const char *a, const char *b)
{
  for (guint i = 0; i < list->len; i++) {
    const char *e = g_ptr_array_index(list, i);
    if (strstr(e, a) && (!b || strstr(e, b)))
      return true;
  }
  return false;
}

void test_dump_messages(GPtrArray *list)
{
  for (guint i = 0; i < list->len; i++)
    g_printerr("  %s\n", (const char *)g_ptr_array_index(list, i));
}

void test_assert_config_error(PoplarConfigFile *conf, const char *a,
                              const char *b)
{
  if (test_has_message(conf->errors, a, b))
    return;
  test_dump_messages(conf->errors);
  g_error("no config error with '%s'%s%s", a, b ? " and " : "", b ? b : "");
}
