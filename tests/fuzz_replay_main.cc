// Replays a fuzz target's seed corpus as an ordinary test: every file or
// directory named on the command line (or in FUZZ_CORPUS) is fed to
// LLVMFuzzerTestOneInput. Under libFuzzer the same harness is linked with
// -fsanitize=fuzzer instead of this main.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

int RunFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    fprintf(stderr, "cannot read %s\n", path.c_str());
    return 1;
  }
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::filesystem::path> roots;
  for (int i = 1; i < argc; ++i) roots.emplace_back(argv[i]);
  int files = 0, errors = 0;
  for (const auto& root : roots) {
    if (std::filesystem::is_directory(root)) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
        if (e.is_regular_file()) {
          errors += RunFile(e.path());
          ++files;
        }
      }
    } else {
      errors += RunFile(root);
      ++files;
    }
  }
  printf("replayed %d inputs\n", files);
  if (files == 0) {
    fprintf(stderr, "no corpus inputs given\n");
    return 1;
  }
  return errors == 0 ? 0 : 1;
}
