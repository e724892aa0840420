// Renders a Decision for people: allow or deny, the deciding rule with its
// file:line:col, the route, the effective grants after narrowing, and the
// trace of every rule considered. Used by `hopctl policy explain`. Pure.
#pragma once

#include <string>

#include "policy/decide.h"

namespace hopgate::policy {

std::string ExplainDecision(const Policy& policy, const Identity& identity,
                            const Request& request, const Decision& decision);

}  // namespace hopgate::policy
