/* SPDX-License-Identifier: MIT */
/* Errors inside the plugin, carrying the store result to answer. */
#include "mbox.h"

#include <errno.h>
#include <stdarg.h>

G_DEFINE_QUARK(poplar-mbox-error-quark, mbox_error)

void mbox_set_errno_error(GError **error, int err_no, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *what = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error(error, MBOX_ERROR, poplar_store_result_from_errno(err_no),
              "%s: %s", what, g_strerror(err_no));
}

bool mbox_errno_is_full(int err_no)
{
  return err_no == ENOSPC || err_no == EDQUOT || err_no == EFBIG;
}

const char *mbox_format_name(MboxFormat format)
{
  return format == MBOX_FORMAT_MBOXRD ? "mboxrd" : "mboxo";
}
