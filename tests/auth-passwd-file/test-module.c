/* SPDX-License-Identifier: MIT */
/* auth-passwd-file: the built shared object is a well-formed plugin. */
#include <gmodule.h>
#include <poplar/plugin.h>

#ifndef PLUGIN_PATH
#error "PLUGIN_PATH must name the built auth-passwd-file.so"
#endif

static void test_descriptor(void)
{
  GModule *module = g_module_open(PLUGIN_PATH, G_MODULE_BIND_LOCAL);
  if (!module)
    g_error("%s", g_module_error());
  typedef const PoplarPluginDescriptor *(*Getter)(void);
  Getter getter = NULL;
  g_assert_true(g_module_symbol(module, "poplar_plugin_auth_passwd_file",
                                (gpointer *)&getter));
  g_assert_nonnull(getter);
  const PoplarPluginDescriptor *d = getter();
  g_assert_cmphex(d->magic, ==, POPLAR_PLUGIN_MAGIC);
  g_assert_cmpuint(d->abi_major, ==, POPLAR_ABI_MAJOR);
  g_assert_cmpuint(d->abi_minor, ==, POPLAR_ABI_MINOR);
  g_assert_cmpuint(d->struct_size, ==, sizeof(PoplarPluginDescriptor));
  g_assert_cmpstr(d->name, ==, "auth_passwd_file");
  g_assert_null(d->preinit);
  g_assert_nonnull(d->init);
  /* the internals stay hidden */
  gpointer internal = NULL;
  g_assert_false(g_module_symbol(module, "pw_password_check", &internal));
  g_assert_false(g_module_symbol(module, "pw_table_parse", &internal));
  g_module_close(module);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/passwd-file/module/descriptor", test_descriptor);
  return g_test_run();
}
