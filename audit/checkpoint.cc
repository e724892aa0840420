#include "audit/checkpoint.h"

#include <vector>

#include "common/encoding.h"

namespace hopgate::audit {

std::string FormatCheckpoint(const CheckpointText& c) {
  return c.origin + "\n" + std::to_string(c.size) + "\n" + Base64Encode(c.root) + "\n" + c.time +
         "\n";
}

Result<CheckpointText> ParseCheckpoint(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) return Error{"checkpoint: the last line has no newline"};
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  if (lines.size() != 4) {
    return Error{"checkpoint: expected 4 lines (origin, size, root, time), got " +
                 std::to_string(lines.size())};
  }
  CheckpointText c;
  c.origin = std::string(lines[0]);
  if (c.origin.empty()) return Error{"checkpoint: empty origin"};
  for (unsigned char ch : c.origin) {
    if (ch < 0x20 || ch == 0x7f) return Error{"checkpoint: control character in the origin"};
  }
  std::string_view size = lines[1];
  if (size.empty() || size.size() > 19 || (size.size() > 1 && size[0] == '0')) {
    return Error{"checkpoint: bad tree size"};
  }
  for (char ch : size) {
    if (ch < '0' || ch > '9') return Error{"checkpoint: bad tree size"};
    c.size = c.size * 10 + static_cast<uint64_t>(ch - '0');
  }
  auto root = Base64Decode(lines[2]);
  if (!root || root->size() != 32) return Error{"checkpoint: the root is not a base64 SHA-256"};
  c.root = std::move(*root);
  c.time = std::string(lines[3]);
  if (c.time.size() < 20 || c.time.back() != 'Z') return Error{"checkpoint: bad time line"};
  return c;
}

}  // namespace hopgate::audit
