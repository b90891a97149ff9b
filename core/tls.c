/* SPDX-License-Identifier: MIT */
#include "tls.h"

#include <glib.h>
#include <string.h>

struct PoplarTls {
  gint refs;
  gnutls_certificate_credentials_t creds;
  gnutls_priority_t priority;
  gnutls_datum_t ticket_key; /* empty when tickets are off */
};

static const gnutls_datum_t alpn_pop3 = {(unsigned char *)"pop3", 4};

bool poplard_tls_priority_check(const char *priority, char **error)
{
  gnutls_priority_t p;
  const char *err_pos = NULL;
  int r = gnutls_priority_init(&p, priority, &err_pos);
  if (r < 0) {
    *error = g_strdup_printf("'%s': %s near '%s'", priority,
                             gnutls_strerror(r), err_pos ? err_pos : "");
    return false;
  }
  gnutls_priority_deinit(p);
  return true;
}

static bool load_pair(PoplarTls *tls, const char *item, char **error)
{
  g_autofree char *cert = g_strdup(item);
  char *key = strchr(cert, ':');
  if (key)
    *key++ = '\0';
  int r = gnutls_certificate_set_x509_key_file2(
      tls->creds, cert, key ? key : cert, GNUTLS_X509_FMT_PEM, NULL, 0);
  if (r < 0) {
    *error = g_strdup_printf("certificate %s with key %s: %s", cert,
                             key ? key : cert, gnutls_strerror(r));
    return false;
  }
  return true;
}

PoplarTls *poplard_tls_new(const PoplarTlsConfig *cfg, char **error)
{
  PoplarTls *tls = g_new0(PoplarTls, 1);
  tls->refs = 1;
  if (gnutls_certificate_allocate_credentials(&tls->creds) < 0) {
    *error = g_strdup("cannot allocate TLS credentials");
    g_free(tls);
    return NULL;
  }
  for (char **item = cfg->certificates; item && *item; item++) {
    if (!load_pair(tls, *item, error)) {
      poplard_tls_unref(tls);
      return NULL;
    }
  }
  const char *err_pos = NULL;
  int r = gnutls_priority_init(&tls->priority, cfg->priority, &err_pos);
  if (r < 0) {
    *error = g_strdup_printf("priority '%s': %s", cfg->priority,
                             gnutls_strerror(r));
    tls->priority = NULL;
    poplard_tls_unref(tls);
    return NULL;
  }
  /* GnuTLS derives the keys that encrypt tickets from this master key and
   * rotates them by itself; a reload makes a new master key. */
  if (cfg->session_tickets &&
      gnutls_session_ticket_key_generate(&tls->ticket_key) < 0) {
    *error = g_strdup("cannot generate a session ticket key");
    poplard_tls_unref(tls);
    return NULL;
  }
  return tls;
}

PoplarTls *poplard_tls_ref(PoplarTls *tls)
{
  g_atomic_int_inc(&tls->refs);
  return tls;
}

void poplard_tls_unref(PoplarTls *tls)
{
  if (!tls || !g_atomic_int_dec_and_test(&tls->refs))
    return;
  if (tls->ticket_key.data) {
    gnutls_memset(tls->ticket_key.data, 0, tls->ticket_key.size);
    gnutls_free(tls->ticket_key.data);
  }
  if (tls->priority)
    gnutls_priority_deinit(tls->priority);
  gnutls_certificate_free_credentials(tls->creds);
  g_free(tls);
}

bool poplard_tls_session_new(PoplarTls *tls, int fd, gnutls_session_t *out,
                            char **error)
{
  gnutls_session_t s;
  int r = gnutls_init(&s, GNUTLS_SERVER | GNUTLS_NONBLOCK);
  if (r < 0)
    goto fail;
  if ((r = gnutls_priority_set(s, tls->priority)) < 0 ||
      (r = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, tls->creds)) <
          0)
    goto fail_session;
  if (tls->ticket_key.data &&
      (r = gnutls_session_ticket_enable_server(s, &tls->ticket_key)) < 0)
    goto fail_session;
  /* ALPN "pop3" (RFC 8314 registers it): accepted, never required. */
  gnutls_alpn_set_protocols(s, &alpn_pop3, 1, GNUTLS_ALPN_SERVER_PRECEDENCE);
  gnutls_certificate_server_set_request(s, GNUTLS_CERT_IGNORE);
  /* The loop enforces the handshake timeout itself. */
  gnutls_handshake_set_timeout(s, 0);
  gnutls_transport_set_int(s, fd);
  *out = s;
  return true;

fail_session:
  gnutls_deinit(s);
fail:
  *error = g_strdup_printf("TLS session: %s", gnutls_strerror(r));
  return false;
}
