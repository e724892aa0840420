// Warnings about a policy that parses but probably does not say what its
// author meant: rules that can never match, names referenced but not
// defined, patterns that grant everything. Pure; thread-safe.
#pragma once

#include "common/yaml_util.h"
#include "policy/policy.h"

namespace hopgate::policy {

void Lint(const Policy& policy, Diagnostics* diags);

}  // namespace hopgate::policy
