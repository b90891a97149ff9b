// SPDX-License-Identifier: MIT
//
// A password database written in C++17, as a third party would write one
// from the plugin guide: the public headers, POPLAR_PLUGIN_DEFINE and
// nothing else from Poplar.  Its section lists the users:
//
//   [test-passdb-cxx]
//   users = carol:secret:/home/carol; dave:pw2:/home/dave
//
// No exception may cross into poplard (C), so every entry point catches.
#include <poplar/plugin.h>

#include <map>
#include <new>
#include <string>

namespace {

struct Account {
  std::string password;
  std::string home;
};

class UserTable {
public:
  // "name:password:home"; false when the entry has another shape.
  bool add(const std::string &entry)
  {
    const auto first = entry.find(':');
    const auto second =
        first == std::string::npos ? first : entry.find(':', first + 1);
    if (first == 0 || second == std::string::npos)
      return false;
    accounts_[entry.substr(0, first)] =
        Account{entry.substr(first + 1, second - first - 1),
                entry.substr(second + 1)};
    return true;
  }

  PoplarPassdbResult verify(PoplarAuthRequest *req,
                            const char *password) const
  {
    const auto it = accounts_.find(poplar_auth_request_user(req));
    if (it == accounts_.end())
      return POPLAR_PASSDB_NO_SUCH_USER;
    if (!equal_constant_time(it->second.password, password))
      return POPLAR_PASSDB_DENIED;
    if (!it->second.home.empty())
      poplar_auth_request_set_home(req, it->second.home.c_str());
    return POPLAR_PASSDB_OK;
  }

  bool empty() const { return accounts_.empty(); }

private:
  // Takes as long for a wrong first character as for a wrong last one.
  static bool equal_constant_time(const std::string &want, const char *got)
  {
    const std::string given(got);
    unsigned char diff = want.size() == given.size() ? 0 : 1;
    for (std::size_t i = 0; i < want.size(); i++)
      diff |= static_cast<unsigned char>(
          want[i] ^ (i < given.size() ? given[i] : 0));
    return diff == 0;
  }

  std::map<std::string, Account> accounts_;
};

PoplarPassdbResult cxx_verify_plain(void *data, PoplarAuthRequest *req,
                                    const char *password)
{
  try {
    return static_cast<const UserTable *>(data)->verify(req, password);
  } catch (const std::exception &) {
    return POPLAR_PASSDB_TEMPFAIL;
  }
}

void cxx_destroy(void *data)
{
  delete static_cast<UserTable *>(data);
}

const PoplarPassdbOps cxx_passdb_ops = {
    cxx_verify_plain,
    nullptr, // lookup_secret: no APOP
    cxx_destroy,
    nullptr, // lookup_user: not a target of master logins
};

bool cxx_init(PoplarPlugin *plugin, PoplarConfig *config)
{
  UserTable *table = nullptr;
  try {
    table = new UserTable;
    const char *const *users =
        poplar_config_get_list(config, "users", nullptr);
    bool ok = true;
    for (const char *const *u = users; *u; u++) {
      if (!table->add(*u)) {
        poplar_config_error(config, "users",
                            "'%s' is not name:password:home", *u);
        ok = false;
      }
    }
    if (ok && table->empty()) {
      poplar_config_error(config, "users", "no users listed");
      ok = false;
    }
    if (ok && poplar_register_passdb(plugin, "cxx", &cxx_passdb_ops,
                                     sizeof cxx_passdb_ops, table))
      return true;
  } catch (const std::exception &e) {
    poplar_log(plugin, POPLAR_LOG_ERROR, "init: %s", e.what());
  }
  delete table;
  return false;
}

} // namespace

POPLAR_PLUGIN_DEFINE(test_passdb_cxx, "1.0", "C++17 password database",
                     nullptr, cxx_init, nullptr)
