/* SPDX-License-Identifier: MIT */
/*
 * The plugin loader (core/plugin-loader.c, core/elf-check.c): whatever the
 * file, it is refused with a message that names it and says why, and the
 * process never crashes or hangs.  The plugins under test are built next to
 * this test (tests/unit/bad-plugins/); POPLAR_UNIT_PLUGIN_DIR says where.
 */
#include <elf.h>
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <link.h>
#include <ltdl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elf-check.h"
#include "elf-symbols.h"
#include "plugin-loader.h"

static const char *plugin_dir(void)
{
  const char *dir = g_getenv("POPLAR_UNIT_PLUGIN_DIR");
  if (!dir)
    g_error("POPLAR_UNIT_PLUGIN_DIR is not set (run through meson test)");
  return dir;
}

static char *plugin_path(const char *name)
{
  return g_strdup_printf("%s/%s.so", plugin_dir(), name);
}

static char *make_tmpdir(void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp("poplar-loader-XXXXXX", &error);
  g_assert_no_error(error);
  return dir;
}

static void rm_rf(const char *path)
{
  GStatBuf st;
  if (g_lstat(path, &st) != 0)
    return;
  if (S_ISDIR(st.st_mode)) {
    GDir *d = g_dir_open(path, 0, NULL);
    if (d) {
      const char *e;
      while ((e = g_dir_read_name(d))) {
        g_autofree char *child = g_build_filename(path, e, NULL);
        rm_rf(child);
      }
      g_dir_close(d);
    }
    g_rmdir(path);
  } else {
    g_unlink(path);
  }
}

static GBytes *read_file(const char *path)
{
  char *data = NULL;
  gsize len = 0;
  g_autoptr(GError) error = NULL;
  g_assert_true(g_file_get_contents(path, &data, &len, &error));
  g_assert_no_error(error);
  return g_bytes_new_take(data, len);
}

static void write_file(const char *path, const void *data, size_t len)
{
  g_autoptr(GError) error = NULL;
  g_assert_true(g_file_set_contents(path, data, (gssize)len, &error));
  g_assert_no_error(error);
}

/* Loads @path into a fresh registry; returns the error, or NULL when it
 * loaded (then it is unloaded again). */
static char *try_load(const char *path)
{
  PoplarRegistry *reg = poplarpriv_registry_new();
  char *error = NULL;
  PoplarPlugin *p = poplard_loader_load(reg, "/nonexistent", path, &error);
  if (p) {
    g_assert_null(error);
    g_assert_cmpuint(reg->plugins->len, ==, 1);
  } else {
    g_assert_nonnull(error);
    /* nothing half-registered */
    g_assert_cmpuint(reg->plugins->len, ==, 0);
  }
  poplard_loader_unload_all(reg->plugins);
  poplarpriv_registry_free(reg);
  return error;
}

/* The load is refused with an error that names @path and contains
 * @reason. */
static void assert_refused(const char *path, const char *reason)
{
  g_autofree char *error = try_load(path);
  if (!error)
    g_error("%s was loaded, expected a refusal (%s)", path, reason);
  g_test_message("%s", error);
  g_assert_nonnull(strstr(error, path));
  if (!strstr(error, reason))
    g_error("error '%s' does not say '%s'", error, reason);
}

/* ---- plugins that load -------------------------------------------------- */

static void test_good_plugin(void)
{
  PoplarRegistry *reg = poplarpriv_registry_new();
  char *error = NULL;
  PoplarPlugin *p = poplard_loader_load(reg, plugin_dir(), "unit-good", &error);
  g_assert_null(error);
  g_assert_nonnull(p);
  g_autofree char *path = plugin_path("unit-good");
  g_assert_cmpstr(p->name, ==, "unit-good");
  g_assert_cmpstr(p->path, ==, path);
  g_assert_cmpstr(poplar_plugin_name(p), ==, "unit-good");
  g_assert_true(p->registry == reg);
  g_assert_cmpuint(reg->plugins->len, ==, 1);
  g_assert_nonnull(p->handle);

  g_assert_cmphex(p->desc.magic, ==, POPLAR_PLUGIN_MAGIC);
  g_assert_cmpuint(p->desc.abi_major, ==, POPLAR_ABI_MAJOR);
  g_assert_cmpuint(p->desc.abi_minor, ==, POPLAR_ABI_MINOR);
  g_assert_cmpuint(p->desc.struct_size, ==, sizeof(PoplarPluginDescriptor));
  g_assert_cmpstr(p->desc.name, ==, "unit_good");
  g_assert_cmpstr(p->desc.version, ==, "1.2.3");
  g_assert_cmpstr(p->desc.description, ==, "unit test plugin");
  g_assert_nonnull(p->desc.preinit);
  g_assert_nonnull(p->desc.init);
  g_assert_nonnull(p->desc.fini);

  /* the descriptor is a copy, equal to what the plugin returns */
  void *sym = lt_dlsym(p->handle, "poplar_plugin_unit_good");
  g_assert_nonnull(sym);
  const PoplarPluginDescriptor *(*getter)(void) = NULL;
  memcpy(&getter, &sym, sizeof getter);
  const PoplarPluginDescriptor *orig = getter();
  g_assert_true(orig != &p->desc);
  g_assert_cmpmem(orig, sizeof *orig, &p->desc, sizeof p->desc);
  g_assert_true(p->desc.preinit == orig->preinit);
  g_assert_true(p->desc.init == orig->init);
  g_assert_true(p->desc.fini == orig->fini);

  /* listed twice */
  PoplarPlugin *again = poplard_loader_load(reg, plugin_dir(), "unit-good",
                                           &error);
  g_assert_null(again);
  g_assert_nonnull(error);
  g_assert_nonnull(strstr(error, "unit-good"));
  g_assert_nonnull(strstr(error, "twice"));
  g_clear_pointer(&error, g_free);
  /* also when named by path */
  again = poplard_loader_load(reg, "/elsewhere", path, &error);
  g_assert_null(again);
  g_assert_nonnull(strstr(error, "twice"));
  g_clear_pointer(&error, g_free);
  g_assert_cmpuint(reg->plugins->len, ==, 1);

  poplard_loader_unload_all(reg->plugins);
  g_assert_null(p->handle);
  poplarpriv_registry_free(reg);

  /* by path, in a new registry */
  reg = poplarpriv_registry_new();
  p = poplard_loader_load(reg, "/nonexistent", path, &error);
  g_assert_null(error);
  g_assert_nonnull(p);
  g_assert_cmpstr(p->name, ==, "unit-good");
  poplard_loader_unload_all(reg->plugins);
  poplarpriv_registry_free(reg);
}

/* A descriptor from a later 1.x header (larger, same major): loads, and
 * only what this core knows is copied. */
static void test_big_descriptor(void)
{
  PoplarRegistry *reg = poplarpriv_registry_new();
  char *error = NULL;
  PoplarPlugin *p =
      poplard_loader_load(reg, plugin_dir(), "unit-big-descriptor", &error);
  g_assert_null(error);
  g_assert_nonnull(p);
  g_assert_cmpstr(p->desc.name, ==, "unit_big_descriptor");
  g_assert_cmpstr(p->desc.version, ==, "9.9");
  g_assert_cmpuint(p->desc.struct_size, >, sizeof(PoplarPluginDescriptor));
  poplard_loader_unload_all(reg->plugins);
  poplarpriv_registry_free(reg);
}

/* ---- plugins with a bad descriptor -------------------------------------- */

/* The ABI these headers (and so the loader) provide, e.g. "1.1". */
#define ABI_STRING_(major, minor) #major "." #minor
#define ABI_STRING(major, minor) ABI_STRING_(major, minor)
#define THIS_ABI ABI_STRING(POPLAR_ABI_MAJOR, POPLAR_ABI_MINOR)

typedef struct RefusedCase {
  const char *name;
  const char *reasons[3];
} RefusedCase;

static const RefusedCase refused_cases[] = {
    {"unit-bad-magic", {"not a Poplar plugin", "0x4c504f50", "0x504f504c"}},
    {"unit-abi-major-2", {"ABI 2.0", "provides ABI " THIS_ABI, "rebuild"}},
    {"unit-abi-minor-99", {"ABI 1.99", "newer", "upgrade poplard"}},
    {"unit-small-struct", {"12 bytes", "smaller than ABI 1.0", NULL}},
    {"unit-null-getter", {"returned NULL", NULL, NULL}},
    {"unit-name-mismatch",
     {"named for plugin 'unit-name-mismatch'", "'store_maildir'", NULL}},
    {"unit-no-name", {"no name", NULL, NULL}},
    {"unit-no-getter",
     {"does not export poplar_plugin_unit_no_getter", "POPLAR_PLUGIN_DEFINE",
      "exports no poplar_plugin_* symbol"}},
    /* what the file exports instead, from its dynamic symbol table */
    {"unit-wrong-getter",
     {"does not export poplar_plugin_unit_wrong_getter",
      "exports poplar_plugin_unit_renamed() instead", "(unit-renamed.so)"}},
    {"unit-mangled-getter",
     {"does not export poplar_plugin_unit_mangled_getter",
      "C++ (mangled) name _Z33poplar_plugin_unit_mangled_getterv",
      "extern \"C\""}},
    /* the dynamic loader's own words, not libltdl's "file not found" */
    {"unit-undefined-symbol",
     {"cannot be loaded", "undefined symbol: poplar_unit_no_such_function",
      "-Wl,--no-undefined"}},
    {"unit-missing-lib",
     {"cannot be loaded", "libpoplar-unit-gone.so.1: cannot open shared "
      "object file", "not installed"}},
};

static void test_refused(void)
{
  for (size_t i = 0; i < G_N_ELEMENTS(refused_cases); i++) {
    const RefusedCase *c = &refused_cases[i];
    g_autofree char *path = plugin_path(c->name);
    g_test_message("plugin %s", c->name);
    g_assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR));
    for (size_t k = 0; k < G_N_ELEMENTS(c->reasons) && c->reasons[k]; k++)
      assert_refused(path, c->reasons[k]);

    /* by name through the plugin directory, too */
    PoplarRegistry *reg = poplarpriv_registry_new();
    char *error = NULL;
    g_assert_null(poplard_loader_load(reg, plugin_dir(), c->name, &error));
    g_assert_nonnull(error);
    g_assert_nonnull(strstr(error, path));
    g_free(error);
    g_assert_cmpuint(reg->plugins->len, ==, 0);
    poplarpriv_registry_free(reg);
  }
}

/* A plugin refused for an unbound symbol leaves nothing behind: loading it
 * again gives the same answer (lazy binding would now "succeed", had the
 * object stayed mapped), and a good plugin loads after it. */
static void test_unbound_then_good(void)
{
  g_autofree char *bad = plugin_path("unit-undefined-symbol");
  for (int i = 0; i < 2; i++)
    assert_refused(bad, "undefined symbol: poplar_unit_no_such_function");
  g_autofree char *good = plugin_path("unit-good");
  g_autofree char *error = try_load(good);
  g_assert_null(error);
}

/* ---- files that are not plugins at all ---------------------------------- */

static void test_not_plugins(void)
{
  g_autofree char *dir = make_tmpdir();

  g_autofree char *missing = g_build_filename(dir, "missing.so", NULL);
  assert_refused(missing, "No such file");
  PoplarRegistry *reg = poplarpriv_registry_new();
  char *error = NULL;
  g_assert_null(poplard_loader_load(reg, dir, "missing", &error));
  g_assert_nonnull(strstr(error, missing));
  g_free(error);
  poplarpriv_registry_free(reg);

  g_autofree char *empty = g_build_filename(dir, "empty.so", NULL);
  write_file(empty, "", 0);
  assert_refused(empty, "not an ELF");

  g_autofree char *text = g_build_filename(dir, "x.so", NULL);
  write_file(text, "INPUT(-lz)\n", 11); /* a linker script, as some .so are */
  assert_refused(text, "not an ELF");

  g_autofree char *tiny = g_build_filename(dir, "tiny.so", NULL);
  write_file(tiny, "\x7f" "ELF", 4); /* the magic and nothing else */
  assert_refused(tiny, "not an ELF");

  g_autofree char *subdir = g_build_filename(dir, "subdir.so", NULL);
  g_assert_cmpint(g_mkdir(subdir, 0700), ==, 0);
  assert_refused(subdir, "not a regular file");

  g_autofree char *zero = g_build_filename(dir, "zero.so", NULL);
  g_assert_cmpint(symlink("/dev/zero", zero), ==, 0);
  assert_refused(zero, "not a regular file");

  g_autofree char *dangling = g_build_filename(dir, "dangling.so", NULL);
  g_assert_cmpint(symlink("/nonexistent/x.so", dangling), ==, 0);
  assert_refused(dangling, "No such file");

  /* a file without read permission (meaningless as root) */
  if (geteuid() != 0) {
    g_autofree char *unreadable = g_build_filename(dir, "unreadable.so",
                                                   NULL);
    write_file(unreadable, "x", 1);
    g_assert_cmpint(g_chmod(unreadable, 0), ==, 0);
    assert_refused(unreadable, "cannot be opened");
  }

  /* names that cannot be plugins */
  reg = poplarpriv_registry_new();
  g_assert_null(poplard_loader_load(reg, dir, "bad name!", &error));
  g_assert_nonnull(strstr(error, "not a valid plugin name"));
  g_free(error);
  g_assert_null(poplard_loader_load(reg, dir, "", &error));
  g_assert_nonnull(error);
  g_free(error);
  g_assert_cmpuint(reg->plugins->len, ==, 0);
  poplarpriv_registry_free(reg);

  rm_rf(dir);
}

/* A FIFO named like a plugin must not block the loader forever. */
static void test_fifo(void)
{
  if (g_test_subprocess()) {
    const char *fifo = g_getenv("POPLAR_UNIT_FIFO");
    g_assert_nonnull(fifo);
    g_autofree char *error = try_load(fifo);
    g_assert_nonnull(error);
    g_print("%s\n", error);
    return;
  }
  g_autofree char *dir = make_tmpdir();
  g_autofree char *fifo = g_build_filename(dir, "fifo.so", NULL);
  g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
  g_setenv("POPLAR_UNIT_FIFO", fifo, TRUE);
  g_test_trap_subprocess(NULL, 5 * G_USEC_PER_SEC,
                         G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_assert_false(g_test_trap_reached_timeout());
  g_test_trap_assert_passed();
  g_test_trap_assert_stdout("*fifo.so*");
  g_unsetenv("POPLAR_UNIT_FIFO");
  rm_rf(dir);
}

/* Finds a shared library of another project on this system. */
static char *find_foreign_library(void)
{
  static const char *const candidates[] = {
      "/usr/lib/x86_64-linux-gnu/libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1",
      "/usr/lib/aarch64-linux-gnu/libz.so.1", "/usr/lib64/libz.so.1",
      "/usr/lib/libz.so.1", "/lib64/libz.so.1", "/lib/libz.so.1",
  };
  for (size_t i = 0; i < G_N_ELEMENTS(candidates); i++)
    if (g_file_test(candidates[i], G_FILE_TEST_IS_REGULAR))
      return g_strdup(candidates[i]);
  /* else one this process has mapped (libltdl is always there) */
  g_autofree char *maps = NULL;
  if (!g_file_get_contents("/proc/self/maps", &maps, NULL, NULL))
    return NULL;
  g_auto(GStrv) lines = g_strsplit(maps, "\n", -1);
  for (char **l = lines; *l; l++) {
    const char *p = strchr(*l, '/');
    if (p && (strstr(p, "/libz.so") || strstr(p, "/libltdl.so")))
      return g_strdup(p);
  }
  return NULL;
}

static void test_foreign_library(void)
{
  g_autofree char *lib = find_foreign_library();
  if (!lib) {
    g_test_skip("no foreign shared library found");
    return;
  }
  g_test_message("foreign library: %s", lib);
  g_autofree char *dir = make_tmpdir();
  g_autoptr(GBytes) bytes = read_file(lib);
  g_autofree char *copy = g_build_filename(dir, "libz.so", NULL);
  write_file(copy, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
  assert_refused(copy, "does not export poplar_plugin_libz");
  /* named like a plugin */
  g_autofree char *named = g_build_filename(dir, "store-maildir.so", NULL);
  write_file(named, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
  assert_refused(named, "does not export poplar_plugin_store_maildir");
  rm_rf(dir);
}

/* ---- damaged copies of a real plugin: core/elf-check.c ------------------ */

/* The end of the last loadable segment in the file. */
static size_t load_end(GBytes *bytes)
{
  const unsigned char *data = g_bytes_get_data(bytes, NULL);
  ElfW(Ehdr) eh;
  memcpy(&eh, data, sizeof eh);
  size_t end = 0;
  for (unsigned i = 0; i < eh.e_phnum; i++) {
    ElfW(Phdr) ph;
    memcpy(&ph, data + eh.e_phoff + i * sizeof ph, sizeof ph);
    if (ph.p_type == PT_LOAD)
      end = MAX(end, (size_t)(ph.p_offset + ph.p_filesz));
  }
  return end;
}

static void test_truncated(void)
{
  g_autofree char *good = plugin_path("unit-good");
  g_autoptr(GBytes) bytes = read_file(good);
  size_t size = g_bytes_get_size(bytes);
  size_t end = load_end(bytes);
  g_assert_cmpuint(end, >, 1000);
  g_assert_cmpuint(end, <=, size);
  const char *data = g_bytes_get_data(bytes, NULL);
  g_autofree char *dir = make_tmpdir();

  /* cut inside the loadable part: refused before it is mapped */
  size_t cuts[] = {0,       1,       4,       16,      52,      63,
                   64,      65,      100,     1000,    end / 2, end - 4096,
                   end - 1};
  for (size_t i = 0; i < G_N_ELEMENTS(cuts); i++) {
    size_t n = cuts[i];
    if (n >= end)
      continue;
    /* a directory each: the dynamic loader remembers paths */
    g_autofree char *sub = g_strdup_printf("%s/%zu", dir, n);
    g_assert_cmpint(g_mkdir(sub, 0700), ==, 0);
    g_autofree char *path = g_build_filename(sub, "unit-good.so", NULL);
    write_file(path, data, n);
    g_test_message("first %zu of %zu octets (load end %zu)", n, size, end);
    const char *why = NULL;
    g_assert_false(poplard_elf_check(path, &why));
    g_assert_nonnull(why);
    g_autofree char *error = try_load(path);
    g_assert_nonnull(error);
    g_test_message("  %s", error);
    g_assert_true(g_str_has_prefix(error, path));
    g_assert_true(strstr(error, "truncated") || strstr(error, "not an ELF"));
  }

  /* cut past the loadable part (section headers lost): harmless, whether
   * it loads or not */
  size_t late[] = {end, (end + size) / 2, size - 1, size};
  for (size_t i = 0; i < G_N_ELEMENTS(late); i++) {
    size_t n = late[i];
    g_autofree char *sub = g_strdup_printf("%s/late-%zu", dir, i);
    g_assert_cmpint(g_mkdir(sub, 0700), ==, 0);
    g_autofree char *path = g_build_filename(sub, "unit-good.so", NULL);
    write_file(path, data, n);
    g_autofree char *error = try_load(path);
    g_test_message("first %zu of %zu octets: %s", n, size,
                   error ? error : "loaded");
    if (error)
      g_assert_true(g_str_has_prefix(error, path));
    if (n == size)
      g_assert_null(error);
  }
  rm_rf(dir);
}

typedef void (*ElfPatch)(unsigned char *data, size_t size);

static void patch_class(unsigned char *d, size_t n)
{
  (void)n;
  d[EI_CLASS] = sizeof(void *) == 8 ? ELFCLASS32 : ELFCLASS64;
}

static void patch_machine(unsigned char *d, size_t n)
{
  (void)n;
  ElfW(Ehdr) *eh = (ElfW(Ehdr) *)d;
  eh->e_machine = eh->e_machine == EM_AARCH64 ? EM_X86_64 : EM_AARCH64;
}

static void patch_type_exec(unsigned char *d, size_t n)
{
  (void)n;
  ((ElfW(Ehdr) *)d)->e_type = ET_EXEC;
}

static void patch_type_rel(unsigned char *d, size_t n)
{
  (void)n;
  ((ElfW(Ehdr) *)d)->e_type = ET_REL;
}

static void patch_phoff_beyond(unsigned char *d, size_t n)
{
  ((ElfW(Ehdr) *)d)->e_phoff = n;
}

static void patch_phoff_huge(unsigned char *d, size_t n)
{
  (void)n;
  ((ElfW(Ehdr) *)d)->e_phoff = (ElfW(Off))-1 - 8;
}

/* e_phoff + e_phnum * sizeof(Phdr) wraps around to a small number. */
static void patch_phoff_wrap(unsigned char *d, size_t n)
{
  (void)n;
  ElfW(Ehdr) *eh = (ElfW(Ehdr) *)d;
  eh->e_phoff = (ElfW(Off))0 - (ElfW(Off))eh->e_phnum * sizeof(ElfW(Phdr));
}

static void patch_phnum_zero(unsigned char *d, size_t n)
{
  (void)n;
  ((ElfW(Ehdr) *)d)->e_phnum = 0;
}

static void patch_phnum_many(unsigned char *d, size_t n)
{
  (void)n;
  ((ElfW(Ehdr) *)d)->e_phnum = 0xffff;
}

static void patch_phentsize(unsigned char *d, size_t n)
{
  (void)n;
  ((ElfW(Ehdr) *)d)->e_phentsize = 1;
}

static ElfW(Phdr) *first_load(unsigned char *d)
{
  ElfW(Ehdr) *eh = (ElfW(Ehdr) *)d;
  for (unsigned i = 0; i < eh->e_phnum; i++) {
    ElfW(Phdr) *ph = (ElfW(Phdr) *)(d + eh->e_phoff + i * sizeof *ph);
    if (ph->p_type == PT_LOAD)
      return ph;
  }
  g_assert_not_reached();
}

static void patch_filesz_beyond(unsigned char *d, size_t n)
{
  ElfW(Phdr) *ph = first_load(d);
  ph->p_filesz = n + 1;
  ph->p_memsz = MAX(ph->p_memsz, ph->p_filesz);
}

static void patch_offset_beyond(unsigned char *d, size_t n)
{
  ElfW(Phdr) *ph = first_load(d);
  ph->p_offset = n;
}

/* p_offset + p_filesz wraps around to a small number. */
static void patch_filesz_wrap(unsigned char *d, size_t n)
{
  (void)n;
  ElfW(Phdr) *ph = first_load(d);
  ph->p_offset = 0x1000;
  ph->p_filesz = (ElfW(Xword))0 - 0x1000;
}

typedef struct PatchCase {
  const char *name;
  ElfPatch patch;
  const char *reason; /* what poplard_elf_check() must say */
} PatchCase;

static const PatchCase patch_cases[] = {
    {"class", patch_class, "word size"},
    {"machine", patch_machine, "processor architecture"},
    {"type-exec", patch_type_exec, "not a shared object"},
    {"type-rel", patch_type_rel, "not a shared object"},
    {"phoff-beyond", patch_phoff_beyond, "truncated"},
    {"phoff-huge", patch_phoff_huge, "truncated"},
    {"phoff-wrap", patch_phoff_wrap, "truncated"},
    {"phnum-zero", patch_phnum_zero, "program headers"},
    {"phnum-many", patch_phnum_many, "truncated"},
    {"phentsize", patch_phentsize, "program headers"},
    {"filesz-beyond", patch_filesz_beyond, "truncated"},
    {"offset-beyond", patch_offset_beyond, "truncated"},
    {"filesz-wrap", patch_filesz_wrap, "truncated"},
};

/* A copy of the good plugin with one ELF header field spoiled: the ELF
 * check names the problem, and the loader refuses the file without
 * crashing (checked in a subprocess, so that a crash fails this case
 * instead of ending the whole test program). */
static void test_patched_elf(gconstpointer data)
{
  const PatchCase *c = data;
  if (g_test_subprocess()) {
    const char *path = g_getenv("POPLAR_UNIT_PATCHED");
    g_assert_nonnull(path);
    g_autofree char *error = try_load(path);
    g_assert_nonnull(error);
    g_assert_true(g_str_has_prefix(error, path));
    return;
  }
  g_autofree char *good = plugin_path("unit-good");
  g_autoptr(GBytes) bytes = read_file(good);
  size_t size = g_bytes_get_size(bytes);
  g_autofree unsigned char *copy =
      g_memdup2(g_bytes_get_data(bytes, NULL), size);
  c->patch(copy, size);
  g_autofree char *dir = make_tmpdir();
  g_autofree char *path = g_build_filename(dir, "unit-good.so", NULL);
  write_file(path, copy, size);

  const char *why = NULL;
  bool passed_check = poplard_elf_check(path, &why);
  g_test_message("poplard_elf_check: %s", passed_check ? "passed" : why);

  g_setenv("POPLAR_UNIT_PATCHED", path, TRUE);
  g_test_trap_subprocess(NULL, 20 * G_USEC_PER_SEC,
                         G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_unsetenv("POPLAR_UNIT_PATCHED");
  rm_rf(dir);
  g_test_trap_assert_passed();

  g_assert_false(passed_check);
  if (!strstr(why, c->reason))
    g_error("'%s' does not say '%s'", why, c->reason);
}

/* ---- exported names: core/elf-symbols.c --------------------------------- */

static ElfW(Shdr) *section_of_type(unsigned char *d, unsigned type)
{
  ElfW(Ehdr) *eh = (ElfW(Ehdr) *)d;
  for (unsigned i = 0; i < eh->e_shnum; i++) {
    ElfW(Shdr) *sh = (ElfW(Shdr) *)(d + eh->e_shoff + i * sizeof *sh);
    if (sh->sh_type == type)
      return sh;
  }
  g_assert_not_reached();
}

static void spoil_shoff(unsigned char *d, size_t n)
{
  ((ElfW(Ehdr) *)d)->e_shoff = n;
}

static void spoil_shnum(unsigned char *d, size_t n)
{
  (void)n;
  ((ElfW(Ehdr) *)d)->e_shnum = 0xffff;
}

static void spoil_shentsize(unsigned char *d, size_t n)
{
  (void)n;
  ((ElfW(Ehdr) *)d)->e_shentsize = 3;
}

static void spoil_dynsym_offset(unsigned char *d, size_t n)
{
  section_of_type(d, SHT_DYNSYM)->sh_offset = n - 8;
}

static void spoil_dynsym_size_wrap(unsigned char *d, size_t n)
{
  (void)n;
  section_of_type(d, SHT_DYNSYM)->sh_size = (ElfW(Xword))0 - 8;
}

static void spoil_dynsym_link(unsigned char *d, size_t n)
{
  (void)n;
  section_of_type(d, SHT_DYNSYM)->sh_link = 0xffff;
}

static void spoil_dynstr_size(unsigned char *d, size_t n)
{
  ElfW(Shdr) *sym = section_of_type(d, SHT_DYNSYM);
  ElfW(Ehdr) *eh = (ElfW(Ehdr) *)d;
  ElfW(Shdr) *str =
      (ElfW(Shdr) *)(d + eh->e_shoff + sym->sh_link * sizeof *str);
  str->sh_size = n;
}

/* Names point past the end of the string table: skipped, not read. */
static void spoil_name_offsets(unsigned char *d, size_t n)
{
  (void)n;
  ElfW(Shdr) *sym = section_of_type(d, SHT_DYNSYM);
  for (size_t i = 0; i < sym->sh_size / sizeof(ElfW(Sym)); i++)
    ((ElfW(Sym) *)(d + sym->sh_offset))[i].st_name = 0x7fffffff;
}

typedef struct SymbolCase {
  const char *name;
  ElfPatch patch;
  bool readable; /* the reader still answers (with no names) */
} SymbolCase;

static const SymbolCase symbol_cases[] = {
    {"shoff", spoil_shoff, false},
    {"shnum", spoil_shnum, false},
    {"shentsize", spoil_shentsize, false},
    {"dynsym-offset", spoil_dynsym_offset, false},
    {"dynsym-size-wrap", spoil_dynsym_size_wrap, false},
    {"dynsym-link", spoil_dynsym_link, false},
    {"dynstr-size", spoil_dynstr_size, false},
    {"name-offsets", spoil_name_offsets, true},
};

static void test_exported_symbols(void)
{
  g_autofree char *path = plugin_path("unit-wrong-getter");
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
  g_assert_true(
      poplard_elf_exported_symbols(path, "poplar_plugin_", 8, names));
  g_assert_cmpuint(names->len, ==, 1);
  g_assert_cmpstr(names->pdata[0], ==, "poplar_plugin_unit_renamed");

  /* a name the plugin imports (undefined in it) is not one it exports */
  g_ptr_array_set_size(names, 0);
  g_autofree char *gone = plugin_path("unit-missing-lib");
  g_assert_true(poplard_elf_exported_symbols(gone, "poplar_unit_gone", 8,
                                             names));
  g_assert_cmpuint(names->len, ==, 0);

  /* at most @max */
  g_assert_true(poplard_elf_exported_symbols(path, "poplar", 0, names));
  g_assert_cmpuint(names->len, ==, 0);

  /* not ELF, not there */
  g_assert_false(poplard_elf_exported_symbols("/nonexistent.so", "x", 8,
                                              names));
  g_assert_false(poplard_elf_exported_symbols("/dev/zero", "x", 8, names));

  g_autoptr(GBytes) bytes = read_file(path);
  size_t size = g_bytes_get_size(bytes);
  g_autofree char *dir = make_tmpdir();
  for (size_t i = 0; i < G_N_ELEMENTS(symbol_cases); i++) {
    const SymbolCase *c = &symbol_cases[i];
    g_autofree unsigned char *copy =
        g_memdup2(g_bytes_get_data(bytes, NULL), size);
    c->patch(copy, size);
    g_autofree char *spoilt = g_strdup_printf("%s/%s.so", dir, c->name);
    write_file(spoilt, copy, size);
    g_test_message("spoilt %s", c->name);
    g_ptr_array_set_size(names, 0);
    bool ok = poplard_elf_exported_symbols(spoilt, "", 8, names);
    g_assert_cmpint(ok, ==, c->readable);
    g_assert_cmpuint(names->len, ==, 0);
  }
  rm_rf(dir);
}

/* ---- listing a plugin directory ----------------------------------------- */

static void copy_plugin(const char *name, const char *dir)
{
  g_autofree char *src = plugin_path(name);
  g_autofree char *dst = g_strdup_printf("%s/%s.so", dir, name);
  g_autoptr(GBytes) bytes = read_file(src);
  write_file(dst, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
}

static void test_list(void)
{
  g_autofree char *dir = make_tmpdir();
  copy_plugin("unit-good", dir);
  copy_plugin("unit-big-descriptor", dir);
  unsigned n_bad = 0;
  for (size_t i = 0; i < G_N_ELEMENTS(refused_cases); i++, n_bad++)
    copy_plugin(refused_cases[i].name, dir);
  g_autofree char *text = g_build_filename(dir, "notes.so", NULL);
  write_file(text, "not a library\n", 14);
  n_bad++;
  g_autofree char *other = g_build_filename(dir, "README", NULL);
  write_file(other, "ignored: not *.so\n", 18);

  GString *out = g_string_new(NULL);
  unsigned refused = poplard_loader_list(dir, out);
  g_test_message("%s", out->str);
  g_assert_cmpuint(refused, ==, n_bad);
  g_auto(GStrv) lines = g_strsplit(out->str, "\n", -1);
  /* a header, one line per *.so, and the final empty string */
  g_assert_cmpuint(g_strv_length(lines), ==, 1 + 2 + n_bad + 1);
  g_assert_true(g_str_has_prefix(lines[0], "PLUGIN"));
  bool good_seen = false;
  for (char **l = lines + 1; *l && **l; l++) {
    if (g_str_has_prefix(*l, "unit-good ")) {
      good_seen = true;
      g_assert_nonnull(strstr(*l, "1.2.3"));
      g_assert_nonnull(strstr(*l, THIS_ABI));
      g_assert_nonnull(strstr(*l, "unit test plugin"));
      g_assert_null(strstr(*l, "refused"));
    } else if (g_str_has_prefix(*l, "unit-big-descriptor ")) {
      g_assert_null(strstr(*l, "refused"));
    } else {
      g_assert_nonnull(strstr(*l, " refused: "));
      g_assert_nonnull(strstr(*l, dir));
    }
  }
  g_assert_true(good_seen);
  g_assert_null(strstr(out->str, "README"));
  g_string_free(out, TRUE);

  /* a directory that is not there */
  g_autofree char *missing = g_build_filename(dir, "missing", NULL);
  out = g_string_new(NULL);
  g_assert_cmpuint(poplard_loader_list(missing, out), ==, 1);
  g_assert_nonnull(strstr(out->str, missing));
  g_string_free(out, TRUE);

  rm_rf(dir);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  if (!poplard_loader_init())
    g_error("lt_dlinit failed");
  g_test_add_func("/loader/good", test_good_plugin);
  g_test_add_func("/loader/big-descriptor", test_big_descriptor);
  g_test_add_func("/loader/refused", test_refused);
  g_test_add_func("/loader/unbound-then-good", test_unbound_then_good);
  g_test_add_func("/loader/not-plugins", test_not_plugins);
  g_test_add_func("/loader/fifo", test_fifo);
  g_test_add_func("/loader/foreign-library", test_foreign_library);
  g_test_add_func("/loader/truncated", test_truncated);
  for (size_t i = 0; i < G_N_ELEMENTS(patch_cases); i++) {
    g_autofree char *name =
        g_strdup_printf("/loader/patched-elf/%s", patch_cases[i].name);
    g_test_add_data_func(name, &patch_cases[i], test_patched_elf);
  }
  g_test_add_func("/loader/exported-symbols", test_exported_symbols);
  g_test_add_func("/loader/list", test_list);
  int r = g_test_run();
  poplard_loader_shutdown();
  return r;
}
