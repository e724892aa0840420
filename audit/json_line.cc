#include "audit/json_line.h"

namespace hopgate::audit {

Result<nlohmann::json> ParseJsonLine(std::string_view line) {
  // Nesting is counted before parsing: nlohmann's parser would accept any
  // depth, and destroying a very deep value recurses.
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxJsonDepth) {
        return MakeError(Code::kInvalidArgument, "JSON nested too deeply");
      }
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  nlohmann::json j = nlohmann::json::parse(line.begin(), line.end(), nullptr,
                                           /*allow_exceptions=*/false);
  if (j.is_discarded()) return MakeError(Code::kInvalidArgument, "not valid JSON");
  return j;
}

}  // namespace hopgate::audit
