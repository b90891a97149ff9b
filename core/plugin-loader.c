/* SPDX-License-Identifier: MIT */
/*
 * Every check here exists because the file may not be what its name says:
 * a library of another program, a plugin for another major version, a copy
 * cut short.  Each refusal names the file, the reason and the fix, and none
 * of them can crash the server: the ELF is checked before it is mapped, the
 * descriptor's fixed head (magic, ABI, size) before anything else is read,
 * and only the members its size covers after that.
 */
#include "plugin-loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <ltdl.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>

#include "elf-check.h"
#include "elf-symbols.h"

/* The descriptor members every 1.x plugin has: up to and including fini. */
#define DESCRIPTOR_1_0_SIZE \
  (offsetof(PoplarPluginDescriptor, fini) + sizeof(PoplarPluginFiniFunc))

bool poplard_loader_init(void)
{
  return lt_dlinit() == 0;
}

void poplard_loader_shutdown(void)
{
  lt_dlexit();
}

/* "store-maildir" from ".../store-maildir.so". */
static char *plugin_name_from_path(const char *path)
{
  g_autofree char *base = g_path_get_basename(path);
  if (g_str_has_suffix(base, ".so"))
    base[strlen(base) - 3] = '\0';
  return g_steal_pointer(&base);
}

static char *getter_symbol(const char *name)
{
  GString *sym = g_string_new("poplar_plugin_");
  for (const char *p = name; *p; p++)
    g_string_append_c(sym, *p == '-' ? '_' : *p);
  return g_string_free(sym, FALSE);
}

static bool valid_plugin_name(const char *name)
{
  if (!name[0])
    return false;
  for (const char *p = name; *p; p++) {
    if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_')
      return false;
  }
  return true;
}

/* Checks a descriptor; on success copies what this core knows of it into
 * @copy (zeroed beyond the plugin's size). */
static bool check_descriptor(const PoplarPluginDescriptor *d,
                             const char *path, const char *name,
                             PoplarPluginDescriptor *copy, char **error)
{
  if (!d) {
    *error = g_strdup_printf("%s: its descriptor getter returned NULL", path);
    return false;
  }
  if (d->magic != POPLAR_PLUGIN_MAGIC) {
    *error = g_strdup_printf(
        "%s: not a Poplar plugin (descriptor magic 0x%08x, expected 0x%08x)",
        path, d->magic, POPLAR_PLUGIN_MAGIC);
    return false;
  }
  if (d->abi_major != POPLAR_ABI_MAJOR) {
    *error = g_strdup_printf(
        "%s: built for plugin ABI %u.%u, but this poplard provides ABI %d.%d; "
        "rebuild the plugin against the poplar %d.x headers",
        path, d->abi_major, d->abi_minor, POPLAR_ABI_MAJOR, POPLAR_ABI_MINOR,
        POPLAR_ABI_MAJOR);
    return false;
  }
  if (d->abi_minor > POPLAR_ABI_MINOR) {
    *error = g_strdup_printf(
        "%s: built for plugin ABI %u.%u, newer than this poplard's ABI %d.%d; "
        "upgrade poplard, or rebuild the plugin against the %d.%d headers",
        path, d->abi_major, d->abi_minor, POPLAR_ABI_MAJOR, POPLAR_ABI_MINOR,
        POPLAR_ABI_MAJOR, POPLAR_ABI_MINOR);
    return false;
  }
  if (d->struct_size < DESCRIPTOR_1_0_SIZE) {
    *error = g_strdup_printf(
        "%s: descriptor is %u bytes, smaller than ABI 1.0's %zu: damaged or "
        "not built with POPLAR_PLUGIN_DEFINE()",
        path, d->struct_size, (size_t)DESCRIPTOR_1_0_SIZE);
    return false;
  }
  memset(copy, 0, sizeof *copy);
  memcpy(copy, d, MIN((size_t)d->struct_size, sizeof *copy));
  if (!copy->name || !copy->version) {
    *error = g_strdup_printf("%s: descriptor has no name or version", path);
    return false;
  }
  g_autofree char *want = getter_symbol(name);
  g_autofree char *have = getter_symbol(copy->name);
  if (strcmp(want, have) != 0) {
    *error = g_strdup_printf(
        "%s: the file is named for plugin '%s' but its descriptor says '%s'",
        path, name, copy->name);
    return false;
  }
  return true;
}

static char *resolve_path(const char *dir, const char *spec)
{
  if (strchr(spec, '/'))
    return g_strdup(spec);
  return g_strdup_printf("%s/%s.so", dir, spec);
}

/* What the dynamic loader's own words mean for a plugin author. */
static const char *dlopen_hint(const char *reason)
{
  if (strstr(reason, "undefined symbol"))
    return "; the plugin uses a symbol that neither it nor the libraries it "
           "is linked with define: link it with the library that does (and "
           "with -Wl,--no-undefined, which catches this when it is built)";
  if (strstr(reason, "cannot open shared object file"))
    return "; a library the plugin is linked with is not installed or not "
           "on the dynamic loader's path (see ldd)";
  return "";
}

/* libltdl opens lazily (RTLD_LAZY): a symbol no library defines would pass
 * here and kill the first worker process that calls it, again after every
 * restart.  So the file is first opened binding every symbol, and any
 * failure is reported in the dynamic loader's words, which name the
 * missing library or symbol (libltdl says "file not found" for all of
 * them).  The probe holds the object while libltdl opens it, so libltdl
 * gets the object already bound; libltdl stays the loader. */
static void *probe_bind_now(const char *path, char **error)
{
  dlerror();
  void *probe = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!probe) {
    const char *reason = dlerror();
    if (!reason)
      reason = "unknown error";
    *error = g_strdup_printf("%s cannot be loaded: %s%s", path, reason,
                             dlopen_hint(reason));
  }
  return probe;
}

static lt_dlhandle open_checked(const char *path, char **error)
{
  struct stat st;
  const char *why = NULL;
  if (stat(path, &st) != 0) {
    *error = g_strdup_printf("%s: %s", path, g_strerror(errno));
    return NULL;
  }
  if (!poplard_elf_check(path, &why)) {
    *error = g_strdup_printf("%s %s", path, why);
    return NULL;
  }
  void *probe = probe_bind_now(path, error);
  if (!probe)
    return NULL;
  lt_dladvise advise;
  lt_dladvise_init(&advise);
  lt_dladvise_local(&advise);
  lt_dlhandle h = lt_dlopenadvise(path, advise);
  lt_dladvise_destroy(&advise);
  if (!h) {
    const char *err = lt_dlerror();
    *error = g_strdup_printf("%s cannot be loaded: %s", path,
                             err ? err : "unknown error");
  }
  dlclose(probe);
  return h;
}

/* "store-maildir.so" from "poplar_plugin_store_maildir". */
static char *file_name_for_getter(const char *getter)
{
  g_autofree char *name = g_strdup(getter + strlen("poplar_plugin_"));
  g_strdelimit(name, "_", '-');
  return g_strconcat(name, ".so", NULL);
}

/* Why the getter @sym is missing, as far as the exported names tell:
 * a getter for another name, or one whose name C++ mangled. */
static char *missing_getter_error(const char *path, const char *sym)
{
  GString *msg = g_string_new(NULL);
  g_string_append_printf(msg,
                         "%s is not a Poplar plugin: it does not export %s() "
                         "(see POPLAR_PLUGIN_DEFINE in poplar/plugin.h)",
                         path, sym);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
  if (!poplard_elf_exported_symbols(path, "poplar_plugin_", 8, names))
    return g_string_free(msg, FALSE);
  GString *plain = g_string_new(NULL);
  GString *mangled = g_string_new(NULL);
  g_autofree char *file_name = NULL;
  for (guint i = 0; i < names->len; i++) {
    const char *name = names->pdata[i];
    if (g_str_has_prefix(name, "poplar_plugin_")) {
      g_string_append_printf(plain, "%s%s()", plain->len ? ", " : "", name);
      if (!file_name)
        file_name = file_name_for_getter(name);
    } else if (g_str_has_prefix(name, "_Z")) {
      g_string_append_printf(mangled, "%s%s", mangled->len ? ", " : "", name);
    }
  }
  if (plain->len)
    g_string_append_printf(msg,
                           "; it exports %s instead: a plugin's file is "
                           "named after its POPLAR_PLUGIN_DEFINE name (%s)",
                           plain->str, file_name);
  if (mangled->len)
    g_string_append_printf(msg,
                           "; it exports the C++ (mangled) name %s: declare "
                           "the getter extern \"C\" (POPLAR_PLUGIN_DEFINE "
                           "from current headers does)", mangled->str);
  else if (!plain->len)
    g_string_append(msg, "; it exports no poplar_plugin_* symbol at all");
  g_string_free(plain, TRUE);
  g_string_free(mangled, TRUE);
  return g_string_free(msg, FALSE);
}

/* Opens @path and validates its descriptor.  On success returns the
 * handle and fills @desc. */
static lt_dlhandle open_plugin(const char *path, const char *name,
                               PoplarPluginDescriptor *desc, char **error)
{
  if (!valid_plugin_name(name)) {
    *error = g_strdup_printf(
        "%s: '%s' is not a valid plugin name (letters, digits, '-', '_')",
        path, name);
    return NULL;
  }
  lt_dlhandle h = open_checked(path, error);
  if (!h)
    return NULL;
  g_autofree char *sym = getter_symbol(name);
  void *fn = lt_dlsym(h, sym);
  if (!fn) {
    *error = missing_getter_error(path, sym);
    lt_dlclose(h);
    return NULL;
  }
  const PoplarPluginDescriptor *(*getter)(void) = NULL;
  memcpy(&getter, &fn, sizeof getter);
  if (!check_descriptor(getter(), path, name, desc, error)) {
    lt_dlclose(h);
    return NULL;
  }
  return h;
}

PoplarPlugin *poplard_loader_load(PoplarRegistry *registry, const char *dir,
                                 const char *spec, char **error)
{
  g_autofree char *path = resolve_path(dir, spec);
  g_autofree char *name = plugin_name_from_path(path);
  for (guint i = 0; i < registry->plugins->len; i++) {
    PoplarPlugin *other = g_ptr_array_index(registry->plugins, i);
    if (strcmp(other->name, name) == 0) {
      *error = g_strdup_printf("plugin %s is listed twice in load", name);
      return NULL;
    }
  }
  PoplarPluginDescriptor desc;
  lt_dlhandle h = open_plugin(path, name, &desc, error);
  if (!h)
    return NULL;
  PoplarPlugin *plugin = poplarpriv_plugin_new(registry, name, path);
  plugin->desc = desc;
  plugin->handle = h;
  return plugin;
}

void poplard_loader_unload_all(GPtrArray *plugins)
{
  for (guint i = plugins->len; i-- > 0;) {
    PoplarPlugin *plugin = g_ptr_array_index(plugins, i);
    if (plugin->handle)
      lt_dlclose(plugin->handle);
    plugin->handle = NULL;
  }
}

static gint compare_strings(gconstpointer a, gconstpointer b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

unsigned poplard_loader_list(const char *dir, GString *out)
{
  g_autoptr(GError) err = NULL;
  GDir *d = g_dir_open(dir, 0, &err);
  if (!d) {
    g_string_append_printf(out, "cannot read plugin directory %s: %s\n", dir,
                           err->message);
    return 1;
  }
  g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
  const char *entry;
  while ((entry = g_dir_read_name(d)))
    if (g_str_has_suffix(entry, ".so"))
      g_ptr_array_add(files, g_strdup(entry));
  g_dir_close(d);
  g_ptr_array_sort(files, compare_strings);

  unsigned refused = 0;
  g_string_append_printf(out, "%-22s %-10s %-5s %s\n", "PLUGIN", "VERSION",
                         "ABI", "DESCRIPTION");
  for (guint i = 0; i < files->len; i++) {
    g_autofree char *path = g_build_filename(dir, files->pdata[i], NULL);
    g_autofree char *name = plugin_name_from_path(path);
    g_autofree char *error = NULL;
    PoplarPluginDescriptor desc;
    lt_dlhandle h = open_plugin(path, name, &desc, &error);
    if (!h) {
      g_string_append_printf(out, "%-22s refused: %s\n", name, error);
      refused++;
      continue;
    }
    g_autofree char *abi = g_strdup_printf("%u.%u", desc.abi_major,
                                           desc.abi_minor);
    g_string_append_printf(out, "%-22s %-10s %-5s %s\n", name, desc.version,
                           abi, desc.description ? desc.description : "");
    lt_dlclose(h);
  }
  return refused;
}
