/* SPDX-License-Identifier: MIT */
/*
 * The signing ceiling: how many handshake signatures GnuTLS (through
 * Nettle and GMP) makes per second on one thread with a given key, the
 * signature a TLS 1.3 server makes in every full handshake (RSA-PSS with
 * SHA-256 for an RSA key, ECDSA with SHA-256 for a P-256 key).  A server
 * that signs with this key can do no more full handshakes per second per
 * core than this, whatever else it does.  The rate is per second of
 * this thread's CPU time, as `openssl speed` counts by default, so other
 * work on a shared machine does not lower it.
 *
 *   sign-speed --key PEM [--seconds S] [--json FILE] [--label TEXT]
 * Prints one JSON object (appended to FILE, or to stdout).
 */
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_s(clockid_t clock)
{
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int r)
{
  fprintf(stderr, "sign-speed: %s: %s\n", what, gnutls_strerror(r));
  exit(1);
}

/* The signature TLS 1.3 makes with a key of this kind. */
static bool handshake_signature(gnutls_pk_algorithm_t pk,
                                gnutls_sign_algorithm_t *sign,
                                const char **name)
{
  switch (pk) {
  case GNUTLS_PK_RSA:
    *sign = GNUTLS_SIGN_RSA_PSS_RSAE_SHA256;
    *name = "rsa-pss-rsae-sha256";
    return true;
  case GNUTLS_PK_ECDSA:
    *sign = GNUTLS_SIGN_ECDSA_SECP256R1_SHA256;
    *name = "ecdsa-secp256r1-sha256";
    return true;
  default:
    return false;
  }
}

int main(int argc, char **argv)
{
  const char *key_path = NULL, *json_path = NULL, *label = "gnutls-sign";
  double seconds = 2.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--key") == 0)
      key_path = argv[i + 1];
    else if (strcmp(argv[i], "--seconds") == 0)
      seconds = atof(argv[i + 1]);
    else if (strcmp(argv[i], "--json") == 0)
      json_path = argv[i + 1];
    else if (strcmp(argv[i], "--label") == 0)
      label = argv[i + 1];
    else {
      fprintf(stderr, "sign-speed: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (!key_path || seconds <= 0) {
    fprintf(stderr, "usage: sign-speed --key PEM [--seconds S] "
                    "[--json FILE] [--label TEXT]\n");
    return 2;
  }
  gnutls_datum_t pem;
  int r = gnutls_load_file(key_path, &pem);
  if (r < 0)
    die(key_path, r);
  gnutls_privkey_t key;
  if ((r = gnutls_privkey_init(&key)) < 0)
    die("privkey_init", r);
  r = gnutls_privkey_import_x509_raw(key, &pem, GNUTLS_X509_FMT_PEM, NULL, 0);
  gnutls_free(pem.data);
  if (r < 0)
    die(key_path, r);
  unsigned int bits = 0;
  gnutls_pk_algorithm_t pk = gnutls_privkey_get_pk_algorithm(key, &bits);
  gnutls_sign_algorithm_t sign;
  const char *sign_name;
  if (!handshake_signature(pk, &sign, &sign_name)) {
    fprintf(stderr, "sign-speed: %s: neither an RSA nor an ECDSA key\n",
            key_path);
    return 1;
  }

  /* What TLS 1.3 signs is 64 spaces, a context string and a transcript
   * hash: about 130 octets. */
  unsigned char message[130];
  memset(message, 0x20, sizeof message);
  const gnutls_datum_t data = {message, sizeof message};
  unsigned long count = 0;
  double t0 = clock_s(CLOCK_MONOTONIC), t = t0;
  double cpu0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
  while (t - t0 < seconds) {
    gnutls_datum_t sig;
    if ((r = gnutls_privkey_sign_data2(key, sign, 0, &data, &sig)) < 0)
      die("sign", r);
    gnutls_free(sig.data);
    message[0] = (unsigned char)count; /* no two messages alike */
    count++;
    if (count % 16 == 0)
      t = clock_s(CLOCK_MONOTONIC);
  }
  t = clock_s(CLOCK_MONOTONIC);
  double cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - cpu0;
  gnutls_privkey_deinit(key);

  FILE *out = json_path ? fopen(json_path, "a") : stdout;
  if (!out) {
    perror(json_path);
    return 1;
  }
  fprintf(out,
          "{\"scenario\": \"sign\", \"label\": \"%s\", \"library\": "
          "\"gnutls %s\", \"algorithm\": \"%s\", \"bits\": %u, "
          "\"signatures\": %lu, \"seconds\": %.3f, \"cpu_seconds\": %.3f, "
          "\"signs_per_s\": %.1f, \"signs_per_wall_s\": %.1f}\n",
          label, gnutls_check_version(NULL), sign_name, bits, count, t - t0,
          cpu, cpu > 0 ? (double)count / cpu : 0, (double)count / (t - t0));
  if (out != stdout && fclose(out) != 0) {
    perror(json_path);
    return 1;
  }
  return 0;
}
