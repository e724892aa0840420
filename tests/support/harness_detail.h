// Helpers harness.cc and peers.cc share; not for tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hopgate::testing::detail {

int64_t NowMs();  // steady clock
[[noreturn]] void Fatal(const std::string& what);
std::vector<char*> Argv(const std::vector<std::string>& argv);
std::string Absolute(const std::string& path);
// $env_name if set (a Bazel runfile path), else `fallback`, made absolute.
std::string RunfilePath(const char* env_name, const char* fallback);

}  // namespace hopgate::testing::detail
