#include "certs/testing/ssh_keygen.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace hopgate::certs::testing {

CommandResult Run(const std::string& command) {
  CommandResult result;
  std::string full = "TZ=UTC " + command + " 2>&1";
  FILE* pipe = popen(full.c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) result.output.append(buf, n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteFile(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.close();
  chmod(path.c_str(), 0600);
}

std::string ShellQuote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

TempDir::TempDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string templ = std::string(base && *base ? base : "/tmp") + "/certs.XXXXXX";
  char* made = mkdtemp(templ.data());
  REQUIRE(made != nullptr);
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::KeyGen(std::string_view name, std::string_view type_args) const {
  std::string path = File(name);
  auto r = Run("ssh-keygen -q -N '' -C " + ShellQuote(name) + " -t " +
               std::string(type_args) + " -f " + ShellQuote(path));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return path;
}

std::string TempDir::Sign(const std::string& ca_private, const std::string& key_private,
                          std::string_view args) const {
  std::string cert = key_private + "-cert.pub";
  std::remove(cert.c_str());
  auto r = Run("ssh-keygen -q -s " + ShellQuote(ca_private) + " " + std::string(args) +
               " " + ShellQuote(key_private + ".pub"));
  INFO("ssh-keygen -s " << args << ": " << r.output);
  REQUIRE(r.exit_code == 0);
  return ReadFile(cert);
}

}  // namespace hopgate::certs::testing
