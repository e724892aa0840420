// The fleet's live view in hopctl (live_cmd.cc).
#pragma once

#include <string>

namespace hopgate::hopctl {

// hopctl sessions --live with a fleet database: the sessions open now on
// every live replica (only `user`'s when given), as a table or JSON.
int RunLiveSessions(const std::string& dsn, const std::string& user, bool json);

}  // namespace hopgate::hopctl
