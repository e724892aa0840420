// The one Catch2 main every unit and integration test links. After the run
// it empties the test's private temporary directory ($TEST_TMPDIR: keys,
// configs, logs, recordings, sockets), so a test run leaves nothing behind.
// Set HOPGATE_KEEP_TEST_TMPDIR=1 to keep it for a post-mortem.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace {

void EmptyTestTmpdir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  const char* keep = std::getenv("HOPGATE_KEEP_TEST_TMPDIR");
  if (dir == nullptr || *dir == '\0' || (keep != nullptr && *keep == '1')) return;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::filesystem::remove_all(entry.path(), ec);
  }
}

}  // namespace

int main(int argc, char* argv[]) {
  int failed = Catch::Session().run(argc, argv);
  EmptyTestTmpdir();
  return failed;
}
