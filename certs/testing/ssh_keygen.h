// Test-only helpers: a temp directory under $TEST_TMPDIR, running commands
// (ssh-keygen) and reading their files. Tests only; not thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace hopgate::certs::testing {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs `command` through /bin/sh with TZ=UTC, capturing output.
CommandResult Run(const std::string& command);

std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, std::string_view data);
// Single-quotes `s` for /bin/sh.
std::string ShellQuote(std::string_view s);

// A fresh directory, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(std::string_view name) const { return path_ + "/" + std::string(name); }

  // ssh-keygen -t <type_args> with no passphrase; returns the private key
  // path (the public key is path + ".pub"). `type_args` e.g. "ed25519",
  // "ecdsa -b 384", "rsa -b 2048". Fails the test on error.
  std::string KeyGen(std::string_view name, std::string_view type_args) const;

  // ssh-keygen -s <ca> <args> <key>.pub; returns the -cert.pub text. Fails
  // the test on error.
  std::string Sign(const std::string& ca_private, const std::string& key_private,
                   std::string_view args) const;

 private:
  std::string path_;
};

}  // namespace hopgate::certs::testing
