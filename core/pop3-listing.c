/* SPDX-License-Identifier: MIT */
/*
 * LIST and UIDL: streamed, so that a 100,000-message listing never sits
 * in memory whole.  Lines are written by hand into a batch that goes to
 * the output queue in one append: a printf and a copy per line were a
 * measurable share of a large listing's time.
 */
#include <string.h>

#include "pop3-commands.h"

/* Lines are at most 10 + 1 + 70 + 2 octets (UIDL) or 10 + 1 + 20 + 2
 * (LIST); a batch ends when the next line might not fit. */
#define LISTING_BATCH 8192

/* Writes @v in decimal at @p; returns the end. */
static char *put_decimal(char *p, uint64_t v)
{
  char digits[20];
  size_t n = 0;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n)
    *p++ = digits[--n];
  return p;
}

/* "<number> <uidl or size>\r\n" at @p; returns the end.  @p has room for
 * POPLAR_RESPONSE_LINE_MAX octets, and a longer line is cut as
 * poplard_client_reply() cuts it. */
static char *put_line(char *p, const PoplarMessage *msg, bool uidl)
{
  char *start = p;
  p = put_decimal(p, msg->number);
  *p++ = ' ';
  if (uidl) {
    size_t room = POPLAR_RESPONSE_LINE_MAX - 2 - (size_t)(p - start);
    size_t len = strnlen(msg->uidl, room);
    memcpy(p, msg->uidl, len);
    p += len;
  } else {
    p = put_decimal(p, msg->size);
  }
  *p++ = '\r';
  *p++ = '\n';
  return p;
}

static bool listing_fill(PoplarClient *c, bool uidl)
{
  PoplarMailbox *mbox = c->session.mailbox;
  char batch[LISTING_BATCH];
  while (c->out.fill_cursor < mbox->n_visible &&
         poplard_client_pending(c) < POPLAR_OUTPUT_HIGH_WATER) {
    char *p = batch;
    while (c->out.fill_cursor < mbox->n_visible &&
           (size_t)(batch + sizeof batch - p) >= POPLAR_RESPONSE_LINE_MAX) {
      const PoplarMessage *msg = mbox->visible[c->out.fill_cursor++];
      if (!msg->deleted)
        p = put_line(p, msg, uidl);
    }
    poplard_out_queue_append(&c->out.queue, batch, (size_t)(p - batch));
  }
  if (c->out.fill_cursor < mbox->n_visible)
    return false;
  poplard_client_reply(c, ".");
  return true;
}

static bool list_fill(PoplarClient *c) { return listing_fill(c, false); }
static bool uidl_fill(PoplarClient *c) { return listing_fill(c, true); }

static void listing(PoplarClient *c, const PoplarCommandLine *cmd, bool uidl)
{
  if (cmd->argc == 1) {
    PoplarMessage *msg = poplard_pop3_message_arg(c, cmd->argv[0]);
    if (!msg)
      return;
    if (uidl)
      poplard_client_replyf(c, "+OK %u %s", msg->number, msg->uidl);
    else
      poplard_client_replyf(c, "+OK %u %" G_GUINT64_FORMAT, msg->number,
                           msg->size);
    return;
  }
  poplard_client_reply(c, uidl ? "+OK Unique-ID listing follows"
                              : "+OK Scan listing follows");
  c->out.fill_cursor = 0;
  c->out.fill = uidl ? uidl_fill : list_fill;
}

void poplard_cmd_list(PoplarClient *c, const PoplarCommandLine *cmd)
{
  listing(c, cmd, false);
}

void poplard_cmd_uidl(PoplarClient *c, const PoplarCommandLine *cmd)
{
  listing(c, cmd, true);
}
