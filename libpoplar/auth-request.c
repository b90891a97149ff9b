/* SPDX-License-Identifier: MIT */
/* The authentication request passed to passdbs, mechanisms and hooks. */
#include "poplar-private.h"

#include <string.h>

PoplarAuthRequest *poplarpriv_auth_request_new(PoplarSession *s,
                                               const char *mech,
                                               const char *user)
{
  PoplarAuthRequest *req = g_new0(PoplarAuthRequest, 1);
  req->session = s;
  req->mechanism = g_strdup(mech);
  req->user = g_strdup(user);
  req->fields = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  req->retired = g_ptr_array_new_with_free_func(g_free);
  return req;
}

void poplarpriv_auth_request_forget_secret(PoplarAuthRequest *req)
{
  if (req->secret) {
    explicit_bzero(req->secret, strlen(req->secret));
    g_clear_pointer(&req->secret, g_free);
  }
}

void poplarpriv_auth_request_free(PoplarAuthRequest *req)
{
  if (!req)
    return;
  poplarpriv_auth_request_forget_secret(req);
  g_free(req->user);
  g_free(req->mechanism);
  g_free(req->home);
  g_free(req->mail);
  g_free(req->reason_code);
  g_free(req->reason_text);
  g_free(req->master_user);
  g_hash_table_unref(req->fields);
  g_ptr_array_unref(req->retired);
  g_free(req);
}

PoplarSession *poplar_auth_request_session(const PoplarAuthRequest *req)
{
  return req->session;
}

const char *poplar_auth_request_user(const PoplarAuthRequest *req)
{
  return req->user;
}

const char *poplar_auth_request_mechanism(const PoplarAuthRequest *req)
{
  return req->mechanism;
}

const char *poplar_auth_request_master_user(const PoplarAuthRequest *req)
{
  return req->master_user;
}

void poplarpriv_auth_request_set_master(PoplarAuthRequest *req,
                                        const char *master)
{
  g_free(req->master_user);
  req->master_user = g_strdup(master);
}

/* The old value is retired, not freed: a plugin may still hold it (the
 * user name it read before canonicalising it, typically). */
static void replace_string(PoplarAuthRequest *req, char **slot,
                           const char *value)
{
  char *copy = g_strdup(value);
  if (*slot)
    g_ptr_array_add(req->retired, *slot);
  *slot = copy;
}

void poplar_auth_request_set_user(PoplarAuthRequest *req, const char *user)
{
  if (user && user[0])
    replace_string(req, &req->user, user);
}

void poplar_auth_request_set_home(PoplarAuthRequest *req, const char *home)
{
  replace_string(req, &req->home, home);
}

const char *poplar_auth_request_home(const PoplarAuthRequest *req)
{
  return req->home;
}

void poplar_auth_request_set_mail(PoplarAuthRequest *req, const char *location)
{
  replace_string(req, &req->mail, location);
}

const char *poplar_auth_request_mail(const PoplarAuthRequest *req)
{
  return req->mail;
}

void poplar_auth_request_set_field(PoplarAuthRequest *req, const char *key,
                                   const char *value)
{
  if (!key)
    return;
  /* Copies first: @key or @value may be what an accessor returned. */
  char *new_key = value ? g_strdup(key) : NULL;
  char *new_value = g_strdup(value);
  gpointer old_key = NULL, old_value = NULL;
  if (g_hash_table_steal_extended(req->fields, key, &old_key, &old_value)) {
    g_free(old_key);
    g_ptr_array_add(req->retired, old_value);
  }
  if (new_value)
    g_hash_table_insert(req->fields, new_key, new_value);
}

const char *poplar_auth_request_field(const PoplarAuthRequest *req,
                                      const char *key)
{
  return key ? g_hash_table_lookup(req->fields, key) : NULL;
}

void poplar_auth_request_set_secret(PoplarAuthRequest *req, const char *secret)
{
  poplarpriv_auth_request_forget_secret(req);
  req->secret = g_strdup(secret);
}

void poplar_auth_request_set_reason(PoplarAuthRequest *req,
                                    const char *resp_code, const char *text)
{
  replace_string(req, &req->reason_code, resp_code);
  replace_string(req, &req->reason_text, text);
  if (req->reason_text) {
    for (char *p = req->reason_text; *p; p++) {
      if ((unsigned char)*p < 0x20 || *p == 0x7f)
        *p = ' ';
    }
  }
}

const char *poplar_auth_request_reason_code(const PoplarAuthRequest *req)
{
  return req->reason_code;
}

const char *poplar_auth_request_reason_text(const PoplarAuthRequest *req)
{
  return req->reason_text;
}
