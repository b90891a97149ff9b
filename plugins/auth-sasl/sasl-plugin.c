/* SPDX-License-Identifier: MIT */
/*
 * auth-sasl: Cyrus SASL (libsasl2) for POP3.  Reads the [auth-sasl]
 * section, starts libsasl2, registers its server mechanisms for AUTH
 * (PLAIN, LOGIN, CRAM-MD5, DIGEST-MD5, SCRAM-*, as the installed modules
 * provide) and a password database for USER/PASS.  No SASL security layer
 * is ever negotiated: TLS protects the connection.
 */
#include "auth-sasl.h"

#include <string.h>

/* Mechanisms that do not check a user's password against the sasldb or
 * saslauthd: offered only when the configuration names them. */
static bool password_based(const char *name)
{
  static const char *const others[] = {"ANONYMOUS", "EXTERNAL", "GSSAPI",
                                       "GSS-SPNEGO", "OTP"};
  for (size_t i = 0; i < G_N_ELEMENTS(others); i++) {
    if (strcmp(name, others[i]) == 0)
      return false;
  }
  /* GS2-KRB5 and friends are Kerberos; *-PLUS needs channel bindings the
   * server does not hand to libsasl2. */
  return !g_str_has_prefix(name, "GS2-") && !g_str_has_suffix(name, "-PLUS");
}

static const SaslMechInfo *find(GPtrArray *mechs, const char *name)
{
  for (guint i = 0; i < mechs->len; i++) {
    const SaslMechInfo *m = g_ptr_array_index(mechs, i);
    if (strcmp(m->name, name) == 0)
      return m;
  }
  return NULL;
}

static char *names_of(GPtrArray *mechs)
{
  GString *out = g_string_new(NULL);
  for (guint i = 0; i < mechs->len; i++) {
    const SaslMechInfo *m = g_ptr_array_index(mechs, i);
    g_string_append_printf(out, "%s%s", out->len ? " " : "", m->name);
  }
  return g_string_free(out, FALSE);
}

/* The mechanisms to register, as borrowed SaslMechInfo*; NULL after
 * reporting a configuration error. */
static GPtrArray *choose(PoplarConfig *config, const SaslSettings *s,
                         GPtrArray *available)
{
  bool saslauthd = s->pwcheck == SASL_PWCHECK_SASLAUTHD;
  GPtrArray *chosen = g_ptr_array_new();
  if (!s->mechanisms) {
    for (guint i = 0; i < available->len; i++) {
      const SaslMechInfo *m = g_ptr_array_index(available, i);
      if (password_based(m->name) && (m->plaintext || !saslauthd))
        g_ptr_array_add(chosen, (gpointer)m);
    }
    return chosen;
  }
  bool ok = true;
  for (char **name = s->mechanisms; *name; name++) {
    const SaslMechInfo *m = find(available, *name);
    if (!m) {
      g_autofree char *have = names_of(available);
      poplar_config_error(config, "mechanisms",
                          "%s is not offered by libsasl2 here (it offers: "
                          "%s); its module may not be installed (Debian: "
                          "libsasl2-modules)",
                          *name, have[0] ? have : "none");
      ok = false;
    } else if (saslauthd && !m->plaintext) {
      poplar_config_error(config, "mechanisms",
                          "%s needs each user's secret from the sasldb, "
                          "which saslauthd cannot supply: use "
                          "pwcheck-method = auxprop, or list only PLAIN and "
                          "LOGIN",
                          *name);
      ok = false;
    } else {
      g_ptr_array_add(chosen, (gpointer)m);
    }
  }
  if (!ok) {
    g_ptr_array_free(chosen, TRUE);
    return NULL;
  }
  return chosen;
}

static bool register_all(PoplarPlugin *plugin, const SaslSettings *s,
                         GPtrArray *chosen)
{
  if (!poplar_register_passdb(plugin, "sasl", &auth_sasl_passdb_ops,
                              sizeof auth_sasl_passdb_ops, (void *)s))
    return false;
  for (guint i = 0; i < chosen->len; i++) {
    const SaslMechInfo *info = g_ptr_array_index(chosen, i);
    SaslMech *m = auth_sasl_mech_new(s, info->name);
    unsigned flags = info->plaintext ? POPLAR_SASL_PLAINTEXT : 0;
    if (!poplar_register_sasl_mechanism(plugin, info->name, flags,
                                        &auth_sasl_mech_ops,
                                        sizeof auth_sasl_mech_ops, m)) {
      auth_sasl_mech_ops.destroy(m);
      return false;
    }
  }
  return true;
}

static bool auth_sasl_init(PoplarPlugin *plugin, PoplarConfig *config)
{
  SaslSettings *s = g_new0(SaslSettings, 1);
  s->plugin = plugin;
  /* Freed by fini, which runs whatever init returns. */
  poplar_plugin_set_data(plugin, s);
  if (!auth_sasl_settings_read(config, s))
    return false;

  char *error = NULL;
  if (!auth_sasl_library_start(s, &error)) {
    poplar_config_error(config, NULL, "%s", error);
    g_free(error);
    return false;
  }
  g_autoptr(GPtrArray) available = auth_sasl_library_mechanisms(s, &error);
  if (!available) {
    poplar_config_error(config, NULL, "%s", error);
    g_free(error);
    return false;
  }
  g_autoptr(GPtrArray) chosen = choose(config, s, available);
  if (!chosen)
    return false;
  if (chosen->len == 0)
    poplar_config_warning(config, NULL,
                          "libsasl2 offers no usable SASL mechanism (are its "
                          "modules installed? Debian: libsasl2-modules): "
                          "only USER/PASS and the server's own PLAIN and "
                          "LOGIN check passwords through it");
  if (!register_all(plugin, s, chosen))
    return false;

  g_autofree char *names = names_of(chosen);
  poplar_log(plugin, POPLAR_LOG_INFO,
             "libsasl2 %s, service '%s', realm '%s', %s%s; mechanisms: %s",
             auth_sasl_library_version(), s->service,
             s->realm ? s->realm : s->hostname,
             s->pwcheck == SASL_PWCHECK_AUXPROP ? "sasldb " : "saslauthd",
             s->pwcheck == SASL_PWCHECK_AUXPROP ? s->sasldb : "",
             names[0] ? names : "none");
  return true;
}

static void auth_sasl_fini(PoplarPlugin *plugin)
{
  auth_sasl_library_stop();
  SaslSettings *s = poplar_plugin_get_data(plugin);
  if (s) {
    auth_sasl_settings_clear(s);
    g_free(s);
    poplar_plugin_set_data(plugin, NULL);
  }
}

POPLAR_PLUGIN_DEFINE(auth_sasl, "0.1.0",
                     "Cyrus SASL (libsasl2): SASL mechanisms and passwords "
                     "from a sasldb or saslauthd",
                     NULL, auth_sasl_init, auth_sasl_fini)
