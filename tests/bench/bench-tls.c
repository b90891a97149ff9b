/* SPDX-License-Identifier: MIT */
/* The client side of TLS: one set of credentials and one priority cache
 * shared by every connection of the run. */
#include "bench.h"

#include <string.h>

bool bench_tls_init(BenchTls *tls, const BenchOptions *opt, char **error)
{
  memset(tls, 0, sizeof *tls);
  int r = gnutls_certificate_allocate_credentials(&tls->creds);
  if (r < 0) {
    *error = bench_strdup_printf("TLS credentials: %s", gnutls_strerror(r));
    return false;
  }
  if (opt->ca_file) {
    r = gnutls_certificate_set_x509_trust_file(tls->creds, opt->ca_file,
                                               GNUTLS_X509_FMT_PEM);
    if (r <= 0) {
      *error = bench_strdup_printf("--ca-file %s: %s", opt->ca_file,
                                   r < 0 ? gnutls_strerror(r)
                                         : "no certificate in it");
      bench_tls_free(tls);
      return false;
    }
    tls->verify = true;
  }
  const char *err_pos = NULL;
  r = gnutls_priority_init(&tls->priority, opt->priority, &err_pos);
  if (r < 0) {
    *error = bench_strdup_printf("--priority '%s': %s near '%s'",
                                 opt->priority, gnutls_strerror(r),
                                 err_pos ? err_pos : "");
    tls->priority = NULL;
    bench_tls_free(tls);
    return false;
  }
  return true;
}

void bench_tls_free(BenchTls *tls)
{
  if (tls->priority)
    gnutls_priority_deinit(tls->priority);
  if (tls->creds)
    gnutls_certificate_free_credentials(tls->creds);
  memset(tls, 0, sizeof *tls);
}
