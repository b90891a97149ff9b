/* SPDX-License-Identifier: MIT */
/* Session accessors for plugins, and per-plugin data slots. */
#include "poplar-private.h"

#include <stdarg.h>
#include <string.h>

const char *poplar_session_id(const PoplarSession *s) { return s->id; }

const char *poplar_session_remote_address(const PoplarSession *s)
{
  return s->remote_address;
}

unsigned poplar_session_remote_port(const PoplarSession *s)
{
  return s->remote_port;
}

const char *poplar_session_local_address(const PoplarSession *s)
{
  return s->local_address;
}

unsigned poplar_session_local_port(const PoplarSession *s)
{
  return s->local_port;
}

bool poplar_session_is_trusted(const PoplarSession *s) { return s->trusted; }
bool poplar_session_is_tls(const PoplarSession *s) { return s->tls; }

const char *poplar_session_tls_version(const PoplarSession *s)
{
  return s->tls ? s->tls_version : NULL;
}

const char *poplar_session_tls_cipher(const PoplarSession *s)
{
  return s->tls ? s->tls_cipher : NULL;
}

const char *poplar_session_tls_sni(const PoplarSession *s)
{
  return s->tls ? s->tls_sni : NULL;
}

const char *poplar_session_user(const PoplarSession *s) { return s->user; }

PoplarMailbox *poplar_session_mailbox(const PoplarSession *s)
{
  return s->mailbox && s->mailbox->open ? s->mailbox : NULL;
}

int64_t poplar_session_start_time(const PoplarSession *s)
{
  return s->start_time;
}

uint64_t poplar_session_bytes_in(const PoplarSession *s) { return s->bytes_in; }
uint64_t poplar_session_bytes_out(const PoplarSession *s)
{
  return s->bytes_out;
}

void *poplar_session_get_data(const PoplarSession *s,
                              const PoplarPlugin *plugin)
{
  if (!plugin || plugin->index >= s->n_slots)
    return NULL;
  return s->slots[plugin->index].data;
}

void poplar_session_set_data(PoplarSession *s, const PoplarPlugin *plugin,
                             void *data, void (*free_func)(void *data))
{
  g_return_if_fail(plugin != NULL);
  if (plugin->index >= s->n_slots) {
    unsigned n = plugin->index + 1;
    s->slots = g_renew(PoplarSlot, s->slots, n);
    memset(s->slots + s->n_slots, 0, (n - s->n_slots) * sizeof *s->slots);
    s->n_slots = n;
  }
  PoplarSlot *slot = &s->slots[plugin->index];
  if (slot->data && slot->free_func && slot->data != data)
    slot->free_func(slot->data);
  slot->data = data;
  slot->free_func = free_func;
}

void poplarpriv_session_set_user(PoplarSession *s, const char *user)
{
  g_free(s->user);
  s->user = g_strdup(user);
}

void poplarpriv_session_clear_reply(PoplarSession *s)
{
  g_clear_pointer(&s->reply_code, g_free);
  g_clear_pointer(&s->reply_text, g_free);
}

void poplarpriv_session_clear(PoplarSession *s)
{
  for (unsigned i = 0; i < s->n_slots; i++) {
    if (s->slots[i].data && s->slots[i].free_func)
      s->slots[i].free_func(s->slots[i].data);
  }
  g_clear_pointer(&s->slots, g_free);
  s->n_slots = 0;
  g_clear_pointer(&s->tls_version, g_free);
  g_clear_pointer(&s->tls_cipher, g_free);
  g_clear_pointer(&s->tls_sni, g_free);
  g_clear_pointer(&s->user, g_free);
  poplarpriv_session_clear_reply(s);
}

/* Keeps a reply on one line of printable text, whatever the plugin wrote. */
static char *sanitize_reply(const char *text, size_t max)
{
  GString *out = g_string_sized_new(64);
  for (const char *p = text; *p && out->len < max; p++) {
    unsigned char ch = (unsigned char)*p;
    g_string_append_c(out, (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch);
  }
  return g_string_free(out, FALSE);
}

/* RFC 2449: a response code is a sequence of atoms separated by '/'. */
static bool valid_resp_code(const char *code)
{
  size_t len = strlen(code);
  if (len == 0 || len > 40 || code[0] == '/' || code[len - 1] == '/' ||
      strstr(code, "//"))
    return false;
  for (const char *p = code; *p; p++) {
    if (!(g_ascii_isalnum(*p) || *p == '-' || *p == '/'))
      return false;
  }
  return true;
}

void poplar_hook_reply(PoplarSession *s, const char *resp_code,
                       const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *text = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  poplarpriv_session_clear_reply(s);
  if (resp_code && valid_resp_code(resp_code))
    s->reply_code = g_ascii_strup(resp_code, -1);
  /* RFC 2449 4: a response line is at most 512 octets with CRLF. */
  s->reply_text = sanitize_reply(text, 400);
}
