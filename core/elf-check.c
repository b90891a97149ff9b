/* SPDX-License-Identifier: MIT */
#include "elf-check.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__x86_64__)
#define POPLAR_ELF_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define POPLAR_ELF_MACHINE EM_AARCH64
#elif defined(__i386__)
#define POPLAR_ELF_MACHINE EM_386
#elif defined(__arm__)
#define POPLAR_ELF_MACHINE EM_ARM
#elif defined(__powerpc64__)
#define POPLAR_ELF_MACHINE EM_PPC64
#elif defined(__s390x__)
#define POPLAR_ELF_MACHINE EM_S390
#elif defined(__riscv)
#define POPLAR_ELF_MACHINE EM_RISCV
#endif

static bool read_at(int fd, void *buf, size_t len, off_t off)
{
  ssize_t n = pread(fd, buf, len, off);
  return n == (ssize_t)len;
}

bool poplard_elf_check(const char *path, const char **why)
{
  /* O_NONBLOCK: a FIFO named like a plugin must not hang the loader. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    *why = "cannot be opened";
    return false;
  }
  bool ok = false;
  struct stat st;
  ElfW(Ehdr) eh;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    *why = "is not a regular file";
    goto out;
  }
  if (!read_at(fd, &eh, sizeof eh, 0) ||
      memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
    *why = "is not an ELF shared object (wrong magic number)";
    goto out;
  }
  if (eh.e_ident[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64
                                                   : ELFCLASS32)) {
    *why = "is an ELF object for another word size (32/64-bit)";
    goto out;
  }
#ifdef POPLAR_ELF_MACHINE
  if (eh.e_machine != POPLAR_ELF_MACHINE) {
    *why = "is an ELF object for another processor architecture";
    goto out;
  }
#endif
  if (eh.e_type != ET_DYN) {
    *why = "is an ELF file but not a shared object";
    goto out;
  }
  uint64_t size = (uint64_t)st.st_size;
  if (eh.e_phentsize != sizeof(ElfW(Phdr)) || eh.e_phnum == 0) {
    *why = "has no usable program headers";
    goto out;
  }
  /* Written so that no sum can wrap around. */
  if (eh.e_phoff > size ||
      (uint64_t)eh.e_phnum * sizeof(ElfW(Phdr)) > size - eh.e_phoff) {
    *why = "is truncated (program headers lie beyond the end of the file)";
    goto out;
  }
  for (unsigned i = 0; i < eh.e_phnum; i++) {
    ElfW(Phdr) ph;
    if (!read_at(fd, &ph, sizeof ph,
                 (off_t)(eh.e_phoff + (uint64_t)i * sizeof ph))) {
      *why = "cannot be read";
      goto out;
    }
    if (ph.p_type == PT_LOAD &&
        (ph.p_offset > size || ph.p_filesz > size - ph.p_offset)) {
      *why = "is truncated (a segment lies beyond the end of the file)";
      goto out;
    }
  }
  ok = true;
out:
  close(fd);
  return ok;
}
