// Private parts of the policy parser shared by parse.cc (users, groups,
// hosts) and parse_rules.cc (rules). Not for use elsewhere. Pure; not
// thread-safe (a Diagnostics collects the errors of one parse).
#pragma once

#include <string_view>

#include "common/yaml_util.h"
#include "policy/policy.h"

namespace hopgate::policy {

// User, group and login names: 1 to 64 of [A-Za-z0-9._@-].
bool ValidName(std::string_view s);

// Parses the `rules:` list into `p->rules`, in file order, reporting every
// error at file:line:col in `*d`.
void ParseRules(const YAML::Node& node, Policy* p, Diagnostics* d);

}  // namespace hopgate::policy
