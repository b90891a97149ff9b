/* SPDX-License-Identifier: MIT */
/*
 * The PAM conversation.  A POP3 client gave a user name and a password up
 * front, so every prompt is answered from those: a hidden prompt gets the
 * password, a visible one the user name.  Messages a module shows the user
 * ("your password expires in 3 days") are logged, since POP3 has no way to
 * show them.  A module that asks for anything else (a binary prompt) gets
 * PAM_CONV_ERR: this login cannot answer it.
 */
#include "auth-pam.h"

#include <stdlib.h>
#include <string.h>

char *auth_pam_loggable(const char *text)
{
  if (!text)
    return g_strdup("");
  size_t len = strlen(text);
  /* Modules end their messages with a newline more often than not. */
  while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
    len--;
  g_autofree char *cut = g_strndup(text, MIN(len, AUTH_PAM_LOG_TEXT_MAX));
  char *escaped = g_strescape(cut, NULL);
  if (len > AUTH_PAM_LOG_TEXT_MAX) {
    char *longer = g_strconcat(escaped, "...", NULL);
    g_free(escaped);
    escaped = longer;
  }
  return escaped;
}

static void conv_log(const PamConvData *cd, PoplarLogLevel level,
                     const char *what, const char *text)
{
  g_autofree char *shown = auth_pam_loggable(text);
  if (cd->session)
    poplar_session_log(cd->session, cd->plugin, level, "PAM %s: %s", what,
                       shown);
  else
    poplar_log(cd->plugin, level, "PAM %s: %s", what, shown);
}

/* Frees an answer array PAM has not taken, wiping the passwords in it. */
static void free_responses(struct pam_response *resp, int n)
{
  for (int i = 0; i < n; i++) {
    if (resp[i].resp) {
      explicit_bzero(resp[i].resp, strlen(resp[i].resp));
      free(resp[i].resp);
    }
  }
  free(resp);
}

int auth_pam_conversation(int n_msgs, const struct pam_message **msgs,
                          struct pam_response **resp_out, void *appdata)
{
  PamConvData *cd = appdata;
  if (n_msgs <= 0 || n_msgs > PAM_MAX_NUM_MSG || !msgs || !cd)
    return PAM_CONV_ERR;

  /* PAM frees the answers with free(): they must come from malloc. */
  struct pam_response *resp = calloc((size_t)n_msgs, sizeof *resp);
  if (!resp)
    return PAM_BUF_ERR;
  bool prompted = false;
  for (int i = 0; i < n_msgs; i++) {
    const struct pam_message *m = msgs[i];
    const char *answer = NULL;
    switch (m->msg_style) {
    case PAM_PROMPT_ECHO_OFF:
      answer = cd->password;
      break;
    case PAM_PROMPT_ECHO_ON:
      answer = cd->user;
      break;
    case PAM_TEXT_INFO:
      conv_log(cd, POPLAR_LOG_INFO, "info", m->msg);
      continue;
    case PAM_ERROR_MSG:
      conv_log(cd, POPLAR_LOG_INFO, "error message", m->msg);
      continue;
    default: {
      g_autofree char *style = g_strdup_printf("%d", m->msg_style);
      conv_log(cd, POPLAR_LOG_WARNING,
               "asked a question of a kind POP3 cannot answer (style)",
               style);
      cd->refused = true;
      free_responses(resp, n_msgs);
      return PAM_CONV_ERR;
    }
    }
    resp[i].resp = strdup(answer ? answer : "");
    if (!resp[i].resp) {
      free_responses(resp, n_msgs);
      return PAM_BUF_ERR;
    }
    prompted = true;
    cd->prompts++;
  }
  if (resp_out && prompted) {
    *resp_out = resp;
    return PAM_SUCCESS;
  }
  /* Messages alone get no answer array: modules that show a message often
   * never free one (PAM accepts NULL here).  Some pass no answer pointer
   * at all; a prompt without one cannot be answered. */
  free_responses(resp, n_msgs);
  if (resp_out)
    *resp_out = NULL;
  return prompted ? PAM_CONV_ERR : PAM_SUCCESS;
}
