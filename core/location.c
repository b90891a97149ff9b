/* SPDX-License-Identifier: MIT */
#include "location.h"

#include <glib.h>

#include "poplar/expand.h"

/* Every variable, and path safety: the user name part comes from the
 * client and becomes a directory entry; the home comes from the password
 * database and is trusted. */
#define LOCATION_FLAGS                                                      \
  (POPLAR_EXPAND_USER | POPLAR_EXPAND_LOCAL_PART | POPLAR_EXPAND_DOMAIN |   \
   POPLAR_EXPAND_HOME | POPLAR_EXPAND_PATH_SAFE)

char *poplard_location_expand(const char *tmpl, const char *user,
                              const char *home, char **why)
{
  char error[POPLAR_EXPAND_ERROR_SIZE];
  char *location = poplar_expand(tmpl, user, home, LOCATION_FLAGS, NULL,
                                 NULL, error, sizeof error);
  if (!location)
    *why = g_strdup(error);
  return location;
}

bool poplard_location_check(const char *tmpl, char **why)
{
  char error[POPLAR_EXPAND_ERROR_SIZE];
  if (poplar_expand_check(tmpl, LOCATION_FLAGS, NULL, error, sizeof error))
    return true;
  *why = g_strdup(error);
  return false;
}
