/* SPDX-License-Identifier: MIT */
/*
 * The one place a password database's operations are called from.  The
 * answer is checked before anyone acts on it: a value outside the enum or
 * an OK from lookup_secret without a secret would otherwise reach the
 * login logic as something it never expects, so both become TEMPFAIL (the
 * client may retry; no database is skipped) and are logged once, here.
 */
#include "poplar-private.h"

static bool result_known(PoplarPassdbResult r)
{
  return r == POPLAR_PASSDB_OK || r == POPLAR_PASSDB_DENIED ||
         r == POPLAR_PASSDB_NO_SUCH_USER || r == POPLAR_PASSDB_TEMPFAIL;
}

static const char *result_name(PoplarPassdbResult r)
{
  switch (r) {
  case POPLAR_PASSDB_OK:
    return "ok";
  case POPLAR_PASSDB_DENIED:
    return "denied";
  case POPLAR_PASSDB_NO_SUCH_USER:
    return "no such user";
  default:
    return "tempfail";
  }
}

static PoplarPassdbResult checked(const PoplarPassdbEntry *db,
                                  PoplarAuthRequest *req, const char *op,
                                  PoplarPassdbResult r)
{
  if (!result_known(r)) {
    poplar_session_log(req->session, db->plugin, POPLAR_LOG_ERROR,
                       "passdb %s %s: returned invalid result %d: treated "
                       "as tempfail", db->name, op, (int)r);
    return POPLAR_PASSDB_TEMPFAIL;
  }
  if (poplarpriv_log_enabled(POPLAR_LOG_DEBUG))
    poplar_session_log(req->session, db->plugin, POPLAR_LOG_DEBUG,
                       "passdb %s %s: %s", db->name, op, result_name(r));
  return r;
}

PoplarPassdbResult poplarpriv_passdb_verify_plain(const PoplarPassdbEntry *db,
                                                  PoplarAuthRequest *req,
                                                  const char *password)
{
  if (!db->ops.verify_plain)
    return POPLAR_PASSDB_NO_SUCH_USER;
  return checked(db, req, "verify_plain",
                 db->ops.verify_plain(db->data, req, password));
}

PoplarPassdbResult poplarpriv_passdb_lookup_secret(const PoplarPassdbEntry *db,
                                                   PoplarAuthRequest *req)
{
  if (!db->ops.lookup_secret)
    return POPLAR_PASSDB_NO_SUCH_USER;
  PoplarPassdbResult r = checked(db, req, "lookup_secret",
                                 db->ops.lookup_secret(db->data, req));
  if (r == POPLAR_PASSDB_OK && !req->secret) {
    poplar_session_log(req->session, db->plugin, POPLAR_LOG_ERROR,
                       "passdb %s answered OK without a secret: treated as "
                       "tempfail", db->name);
    return POPLAR_PASSDB_TEMPFAIL;
  }
  return r;
}

PoplarPassdbResult poplarpriv_passdb_lookup_user(const PoplarPassdbEntry *db,
                                                 PoplarAuthRequest *req)
{
  if (!db->ops.lookup_user)
    return POPLAR_PASSDB_NO_SUCH_USER;
  return checked(db, req, "lookup_user", db->ops.lookup_user(db->data, req));
}
