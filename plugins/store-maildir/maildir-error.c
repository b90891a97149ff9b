/* SPDX-License-Identifier: MIT */
/* Errors inside the plugin, carrying the store result to answer. */
#include "maildir.h"

#include <stdarg.h>

G_DEFINE_QUARK(poplar-maildir-error-quark, maildir_error)

void maildir_set_errno_error(GError **error, int err_no, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *what = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error(error, MAILDIR_ERROR, poplar_store_result_from_errno(err_no),
              "%s: %s", what, g_strerror(err_no));
}
