// Plain-text tables for hopctl's listings: columns padded to their widest
// cell, two spaces apart. The caller escapes what a client could have sent.
#pragma once

#include <string>
#include <vector>

namespace hopgate::hopctl {

void PrintTable(const std::vector<std::vector<std::string>>& rows);

}  // namespace hopgate::hopctl
