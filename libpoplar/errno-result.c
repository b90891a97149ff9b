/* SPDX-License-Identifier: MIT */
/* The store result for a failed system call (poplar_store_result_from_errno). */
#include <errno.h>

#include "poplar/store.h"

PoplarStoreResult poplar_store_result_from_errno(int err)
{
  switch (err) {
  case EACCES:
  case EPERM:
  case ENOTDIR:
  case EISDIR:
  case ELOOP:
  case ENAMETOOLONG:
  case EROFS:
    return POPLAR_STORE_PERMFAIL;
  default:
    /* Retrying is harmless, so an errno nobody expected is transient. */
    return POPLAR_STORE_TEMPFAIL;
  }
}
