/* SPDX-License-Identifier: MIT */
#include "master-login.h"

#include <string.h>

bool poplard_master_setup(PoplarServer *server)
{
  const char *name = server->cfg.master_passdb;
  if (!name || !name[0])
    return true;
  unsigned found = 0;
  for (guint i = 0; i < server->registry->passdbs->len; i++) {
    PoplarPassdbEntry *db = g_ptr_array_index(server->registry->passdbs, i);
    db->master = strcmp(db->plugin->name, name) == 0;
    found += db->master;
  }
  if (found == 0) {
    poplar_config_error(
        poplarpriv_config_section_ensure(server->config_file, "server"),
        "master-passdb",
        "no loaded plugin named '%s' provides a password database (name "
        "a plugin of [plugins] load, e.g. auth-passwd-file)", name);
    return false;
  }
  if (found == server->registry->passdbs->len)
    poplar_config_error(
        poplarpriv_config_section_ensure(server->config_file, "server"),
        "master-passdb",
        "'%s' is the only password database: master users need another "
        "one for the users they log in as", name);
  return found < server->registry->passdbs->len;
}

bool poplard_master_enabled(const PoplarServer *server)
{
  return server->cfg.master_passdb && server->cfg.master_passdb[0];
}

bool poplard_master_split(const PoplarServer *server, const char *arg,
                          char **target, char **master)
{
  if (!poplard_master_enabled(server))
    return false;
  const char *sep = strrchr(arg, POPLAR_MASTER_SEPARATOR);
  if (!sep || sep == arg || !sep[1])
    return false;
  *target = g_strndup(arg, (gsize)(sep - arg));
  *master = g_strdup(sep + 1);
  return true;
}

static PoplarPassdbResult verify_master(PoplarClient *c,
                                        const PoplarAuthRequest *req)
{
  const PoplarRegistry *registry = c->server->registry;
  PoplarAuthRequest *mreq = poplarpriv_auth_request_new(
      &c->session, req->mechanism, req->master_user);
  PoplarPassdbResult r = POPLAR_PASSDB_NO_SUCH_USER;
  for (guint i = 0; i < registry->passdbs->len; i++) {
    const PoplarPassdbEntry *db = g_ptr_array_index(registry->passdbs, i);
    if (!db->master)
      continue;
    r = poplarpriv_passdb_verify_plain(db, mreq, c->login.password);
    if (r != POPLAR_PASSDB_NO_SUCH_USER)
      break;
  }
  poplarpriv_auth_request_free(mreq);
  return r;
}

static PoplarPassdbResult lookup_target(PoplarClient *c,
                                        PoplarAuthRequest *req)
{
  const PoplarRegistry *registry = c->server->registry;
  for (guint i = 0; i < registry->passdbs->len; i++) {
    const PoplarPassdbEntry *db = g_ptr_array_index(registry->passdbs, i);
    if (db->master)
      continue;
    PoplarPassdbResult r = poplarpriv_passdb_lookup_user(db, req);
    if (r != POPLAR_PASSDB_NO_SUCH_USER)
      return r;
  }
  return POPLAR_PASSDB_NO_SUCH_USER;
}

PoplarPassdbResult poplard_master_check(PoplarClient *c,
                                        PoplarAuthRequest *req)
{
  const char *target = req->user;
  PoplarPassdbResult r = verify_master(c, req);
  if (r == POPLAR_PASSDB_OK) {
    r = lookup_target(c, req);
    if (r == POPLAR_PASSDB_NO_SUCH_USER)
      poplarpriv_log(c->session.id, POPLAR_LOG_INFO,
                     "master login refused: master=%s target=%s: no such "
                     "user", req->master_user, target);
  } else {
    poplarpriv_log(c->session.id, POPLAR_LOG_INFO,
                   "master login failed: master=%s target=%s (%s)",
                   req->master_user, target,
                   r == POPLAR_PASSDB_TEMPFAIL ? "temporary failure"
                   : r == POPLAR_PASSDB_DENIED ? "wrong credentials"
                                                : "unknown master user");
  }
  if (r == POPLAR_PASSDB_OK)
    poplarpriv_log(c->session.id, POPLAR_LOG_INFO,
                   "master login: user=%s master=%s mech=%s remote=%s",
                   req->user, req->master_user, req->mechanism,
                   c->session.remote_address);
  return r;
}
