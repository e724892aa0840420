// Restrictions: what one credential allows, used to narrow a rule's grants.
// A certificate's extensions and critical options and an authorized_keys
// line's options both become a Restrictions; narrowing only ever removes
// rights (like OpenSSH's sshauthopt_merge). Value type; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "policy/patterns.h"

namespace hopgate::policy {

struct AddressMatcher {
  // OpenSSH from= semantics on addresses: comma-separated patterns (globs on
  // the address text or CIDRs), "!" negates; a negated match refuses.
  struct Entry {
    bool negated = false;
    std::optional<Cidr> cidr;
    std::string glob;
  };
  std::vector<Entry> entries;
  std::string text;

  static Result<AddressMatcher> Parse(std::string_view text);
  bool Matches(const IpAddress& addr) const;
};

struct Restrictions {
  std::string source;  // e.g. `authorized_keys line keys/deploy:3`, `certificate "alice@corp"`
  bool port_forwarding = true;
  bool pty = true;
  bool agent_forwarding = true;
  bool x11_forwarding = true;
  bool user_rc = true;
  std::optional<std::string> force_command;
  std::optional<std::vector<OpenPattern>> permit_open;
  std::optional<std::vector<ListenPattern>> permit_listen;
  std::optional<AddressMatcher> from;      // checked at login
  std::optional<int64_t> expiry_time;      // unix seconds; checked at login
};

}  // namespace hopgate::policy
