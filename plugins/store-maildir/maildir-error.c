/* SPDX-License-Identifier: MIT */
/* Errors inside the plugin, carrying the store result to answer. */
#include "maildir.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

G_DEFINE_QUARK(poplar-maildir-error-quark, maildir_error)

PoplarStoreResult maildir_result_for_errno(int err_no)
{
  switch (err_no) {
  case EACCES:
  case EPERM:
  case ENOTDIR:
  case EISDIR:
  case ELOOP:
  case ENAMETOOLONG:
  case EROFS:
    return POPLAR_STORE_PERMFAIL;
  default:
    return POPLAR_STORE_TEMPFAIL;
  }
}

void maildir_set_errno_error(GError **error, int err_no, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *what = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error(error, MAILDIR_ERROR, maildir_result_for_errno(err_no), "%s: %s",
              what, g_strerror(err_no));
}
