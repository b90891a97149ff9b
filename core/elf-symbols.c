/* SPDX-License-Identifier: MIT */
#include "elf-symbols.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Larger tables than any plugin has are not read: the answer only
 * decorates an error message, and must not cost a huge allocation. */
#define DYNSTR_MAX (16u << 20)
#define DYNSYM_MAX_COUNT (1u << 20)

static bool read_at(int fd, void *buf, size_t len, uint64_t off)
{
  if (off > (uint64_t)INT64_MAX)
    return false;
  ssize_t n = pread(fd, buf, len, (off_t)off);
  return n == (ssize_t)len;
}

/* @off and @len describe a range inside a file of @size octets; written so
 * that no sum can wrap around. */
static bool inside(uint64_t off, uint64_t len, uint64_t size)
{
  return off <= size && len <= size - off;
}

static bool read_section_header(int fd, const ElfW(Ehdr) *eh, unsigned index,
                                ElfW(Shdr) *sh)
{
  return read_at(fd, sh, sizeof *sh,
                 eh->e_shoff + (uint64_t)index * sizeof *sh);
}

static bool exported(const ElfW(Sym) *sym)
{
  unsigned bind = ELF64_ST_BIND(sym->st_info);
  unsigned vis = ELF64_ST_VISIBILITY(sym->st_other);
  return sym->st_shndx != SHN_UNDEF &&
         (bind == STB_GLOBAL || bind == STB_WEAK || bind == STB_GNU_UNIQUE) &&
         (vis == STV_DEFAULT || vis == STV_PROTECTED);
}

/* Walks the symbols of the dynamic symbol table @symtab, whose names are
 * in @strtab. */
static void collect(int fd, const ElfW(Shdr) *symtab, const char *strtab,
                    size_t strtab_size, const char *needle, unsigned max,
                    GPtrArray *out)
{
  uint64_t count = symtab->sh_size / sizeof(ElfW(Sym));
  if (count > DYNSYM_MAX_COUNT)
    count = DYNSYM_MAX_COUNT;
  unsigned found = 0;
  for (uint64_t i = 1; i < count && found < max; i++) {
    ElfW(Sym) sym;
    if (!read_at(fd, &sym, sizeof sym, symtab->sh_offset + i * sizeof sym))
      return;
    if (!exported(&sym) || sym.st_name >= strtab_size)
      continue;
    const char *name = strtab + sym.st_name;
    /* the table was read with a NUL appended, so strstr stops in time */
    if (name[0] && strstr(name, needle)) {
      g_ptr_array_add(out, g_strdup(name));
      found++;
    }
  }
}

bool poplard_elf_exported_symbols(const char *path, const char *needle,
                                  unsigned max, GPtrArray *out)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return false;
  bool ok = false;
  char *strtab = NULL;
  struct stat st;
  ElfW(Ehdr) eh;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      !read_at(fd, &eh, sizeof eh, 0) ||
      memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_shentsize != sizeof(ElfW(Shdr)) || eh.e_shnum == 0)
    goto out;
  uint64_t size = (uint64_t)st.st_size;
  if (!inside(eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(ElfW(Shdr)), size))
    goto out;
  for (unsigned i = 0; i < eh.e_shnum; i++) {
    ElfW(Shdr) symtab, strhdr;
    if (!read_section_header(fd, &eh, i, &symtab))
      goto out;
    if (symtab.sh_type != SHT_DYNSYM)
      continue;
    if (symtab.sh_entsize != sizeof(ElfW(Sym)) ||
        !inside(symtab.sh_offset, symtab.sh_size, size) ||
        symtab.sh_link >= eh.e_shnum ||
        !read_section_header(fd, &eh, symtab.sh_link, &strhdr) ||
        strhdr.sh_type != SHT_STRTAB ||
        !inside(strhdr.sh_offset, strhdr.sh_size, size) ||
        strhdr.sh_size > DYNSTR_MAX)
      goto out;
    strtab = g_malloc((size_t)strhdr.sh_size + 1);
    if (!read_at(fd, strtab, (size_t)strhdr.sh_size, strhdr.sh_offset))
      goto out;
    strtab[strhdr.sh_size] = '\0';
    collect(fd, &symtab, strtab, (size_t)strhdr.sh_size, needle, max, out);
    ok = true;
    break;
  }
out:
  g_free(strtab);
  close(fd);
  return ok;
}
