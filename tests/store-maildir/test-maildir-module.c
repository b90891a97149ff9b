/* SPDX-License-Identifier: MIT */
/* The built store-maildir.so, as the loader sees it: it exports its
 * descriptor getter and nothing of its internals. */
#include <dlfcn.h>
#include <glib.h>
#include <poplar/plugin.h>

static const char *module_path;

static void test_descriptor(void)
{
  void *handle = dlopen(module_path, RTLD_NOW | RTLD_LOCAL);
  if (!handle)
    g_error("cannot load %s: %s", module_path, dlerror());
  const PoplarPluginDescriptor *(*getter)(void);
  *(void **)&getter = dlsym(handle, "poplar_plugin_store_maildir");
  g_assert_nonnull(getter);
  const PoplarPluginDescriptor *desc = getter();
  g_assert_cmpuint(desc->magic, ==, POPLAR_PLUGIN_MAGIC);
  g_assert_cmpuint(desc->abi_major, ==, POPLAR_ABI_MAJOR);
  g_assert_cmpuint(desc->abi_minor, ==, POPLAR_ABI_MINOR);
  g_assert_cmpuint(desc->struct_size, ==, sizeof(PoplarPluginDescriptor));
  g_assert_cmpstr(desc->name, ==, "store_maildir");
  g_assert_nonnull(desc->init);
  /* Internals stay hidden, so two plugins never clash. */
  const char *hidden[] = {"maildir_uidl_for_base", "maildir_lock_acquire",
                          "maildir_expunge", "maildir_log"};
  for (size_t i = 0; i < G_N_ELEMENTS(hidden); i++)
    g_assert_null(dlsym(handle, hidden[i]));
  dlclose(handle);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  if (argc != 2)
    g_error("usage: %s PATH-OF-store-maildir.so", argv[0]);
  module_path = argv[1];
  g_test_add_func("/maildir-module/descriptor", test_descriptor);
  return g_test_run();
}
