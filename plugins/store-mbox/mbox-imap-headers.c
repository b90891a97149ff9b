/* SPDX-License-Identifier: MIT */
/*
 * The headers IMAP servers keep in an mbox: c-client (UW-IMAP, Pine) and
 * Dovecot write the mailbox's UIDVALIDITY and last UID into its first
 * message,
 *
 *   X-IMAPbase: <uidvalidity> <last-uid> [keywords...]
 *
 * or, in a first "pseudo" message that only carries folder data (sent by
 * MAILER-DAEMON, Subject "DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL
 * DATA"; Dovecot and c-client know it by its X-IMAP header), into
 *
 *   X-IMAP: <uidvalidity> <last-uid> [keywords...]
 *
 * and each message's IMAP UID into "X-UID: <uid>".  Dovecot's POP3 makes
 * its UIDLs from these (pop3_uidl_format = %08Xu%08Xv by default), so
 * reading them lets uidl-format give the UIDLs Dovecot gave, without
 * writing to the mbox.
 *
 * The values are read and checked as Dovecot 2.3 reads them when it syncs
 * an mbox without its index: a UID counts only when UIDs grow through the
 * file and none is beyond the next one X-IMAPbase allows, so a header
 * that came in with a delivered message (or was copied by an MUA) cannot
 * take the UID of another message.
 */
#include "mbox.h"

#include <string.h>

static bool is_lwsp(char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Reads decimal digits at @v[*i]; false when there are none or the value
 * does not fit 32 bits. */
static bool parse_u32(const char *v, size_t len, size_t *i, uint32_t *out)
{
  uint64_t value = 0;
  size_t start = *i;
  for (; *i < len && v[*i] >= '0' && v[*i] <= '9'; (*i)++) {
    value = value * 10 + (uint64_t)(v[*i] - '0');
    if (value > UINT32_MAX)
      return false;
  }
  *out = (uint32_t)value;
  return *i > start;
}

bool mbox_imap_base_parse(const char *v, size_t len, uint32_t *uidvalidity,
                          uint32_t *uid_last)
{
  size_t i = 0;
  while (i < len && (v[i] == ' ' || v[i] == '\t'))
    i++;
  uint32_t validity = 0, last = 0;
  if (!parse_u32(v, len, &i, &validity) || validity == 0)
    return false;
  /* Dovecot separates the two numbers with a space; whatever follows the
   * last UID (keywords) must be set off by white space too. */
  if (i < len && v[i] != ' ')
    return false;
  while (i < len && is_lwsp(v[i]))
    i++;
  if (i < len && !parse_u32(v, len, &i, &last))
    return false;
  if (i < len && !is_lwsp(v[i]))
    return false;
  *uidvalidity = validity;
  *uid_last = last;
  return true;
}

bool mbox_imap_uid_parse(const char *v, size_t len, uint32_t *uid)
{
  size_t i = 0;
  while (i < len && (v[i] == ' ' || v[i] == '\t'))
    i++;
  uint32_t value = 0;
  if (!parse_u32(v, len, &i, &value) || value == 0)
    return false;
  for (; i < len; i++) {
    if (!is_lwsp(v[i]))
      return false;
  }
  *uid = value;
  return true;
}

void mbox_imap_uids_resolve(MboxMsg *msgs, size_t n, uint32_t *uidvalidity)
{
  *uidvalidity = 0;
  if (n == 0 || msgs[0].uidvalidity == 0 ||
      (msgs[0].flags & MBOX_MSG_HEADLESS)) {
    for (size_t i = 0; i < n; i++)
      msgs[i].x_uid = 0;
    return;
  }
  *uidvalidity = msgs[0].uidvalidity;
  /* Dovecot's next_uid and prev_msg_uid, as its sync walks the file. */
  uint64_t next = (uint64_t)msgs[0].uid_last + 1;
  uint64_t prev = 0;
  for (size_t i = 0; i < n; i++) {
    MboxMsg *m = &msgs[i];
    if (m->flags & MBOX_MSG_PSEUDO) {
      m->x_uid = 0;
      continue;
    }
    uint64_t v = m->x_uid;
    if (v != 0 && v > prev && v <= next) {
      if (v == next)
        next++;
      prev = v;
      continue;
    }
    /* Dovecot would give this message the next UID and write it into
     * the mbox; Poplar writes nothing, so it gets no UID here (and the
     * default UIDL), but later UIDs must still be above that one. */
    m->x_uid = 0;
    prev = next;
    next++;
  }
}
