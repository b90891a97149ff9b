/* SPDX-License-Identifier: MIT */
#include "pw-test-util.h"

#include <crypt.h>

char *pwt_hash(const char *prefix, unsigned long count, const char *password)
{
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  if (!crypt_gensalt_rn(prefix, count, NULL, 0, setting, sizeof setting))
    g_error("crypt_gensalt_rn(%s, %lu) failed", prefix, count);
  struct crypt_data *work = g_new0(struct crypt_data, 1);
  const char *hash = crypt_r(password, setting, work);
  if (!hash || hash[0] == '*')
    g_error("crypt_r with setting %s failed", setting);
  char *copy = g_strdup(hash);
  g_free(work);
  return copy;
}
