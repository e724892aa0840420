// Diagnostics with FILE:LINE:COL positions, and strict readers for YAML
// documents (config and policy). Unknown or duplicate keys are errors; every
// message points at the offending node. yaml-cpp exceptions never escape.
// Not thread-safe (a Diagnostics collects the errors of one parse).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace hopgate {

struct SourceLocation {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based
  std::string ToString() const;  // "file:line:col"
};

struct Diagnostic {
  enum class Severity { kError, kWarning };
  Severity severity = Severity::kError;
  SourceLocation location;
  std::string message;
  // "FILE:LINE:COL: message" or "FILE:LINE:COL: warning: message".
  std::string ToString() const;
};

class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  void Error(const YAML::Node& at, std::string message);
  void Error(const SourceLocation& at, std::string message);
  void ErrorAtFile(std::string message);  // no position: "FILE: message"
  void Warning(const YAML::Node& at, std::string message);
  void Warning(const SourceLocation& at, std::string message);

  SourceLocation Locate(const YAML::Node& node) const;
  const std::string& file() const { return file_; }
  const std::vector<Diagnostic>& items() const { return items_; }
  int error_count() const;
  int warning_count() const;
  bool has_errors() const { return error_count() > 0; }
  // Every diagnostic, one per line.
  std::string ToString() const;
  void Append(const Diagnostics& other);

 private:
  std::string file_;
  std::vector<Diagnostic> items_;
};

// Parses `text`; a syntax error becomes a diagnostic at its position.
std::optional<YAML::Node> ParseYaml(std::string_view text, Diagnostics* diags);

// Requires `node` to be a map whose keys are all in `allowed`; reports unknown
// and duplicate keys. Returns false if `node` is not a map.
bool CheckMap(const YAML::Node& node, std::initializer_list<std::string_view> allowed,
              std::string_view what, Diagnostics* diags);
// Reports duplicate (and non-string) keys of a map whose keys are free-form
// names. Returns false if `node` is not a map.
bool CheckDuplicateKeys(const YAML::Node& node, std::string_view what, Diagnostics* diags);
// The key node of `key` inside map `node` (for positions), or `node` itself.
YAML::Node KeyNode(const YAML::Node& node, std::string_view key);

// Typed scalar readers: report a diagnostic at the node and return nullopt
// when the node is not of the expected form.
std::optional<std::string> ReadString(const YAML::Node& node, std::string_view what,
                                      Diagnostics* diags);
std::optional<bool> ReadBool(const YAML::Node& node, std::string_view what,
                             Diagnostics* diags);
std::optional<int64_t> ReadInt(const YAML::Node& node, std::string_view what,
                               int64_t min, int64_t max, Diagnostics* diags);
std::optional<int64_t> ReadDuration(const YAML::Node& node, std::string_view what,
                                    Diagnostics* diags);
// A byte size such as 64KiB or 100MiB (ParseByteSize).
std::optional<int64_t> ReadByteSize(const YAML::Node& node, std::string_view what,
                                    Diagnostics* diags);
// A sequence of strings; a single scalar is refused so typos stay visible.
std::optional<std::vector<std::string>> ReadStringList(const YAML::Node& node,
                                                       std::string_view what,
                                                       Diagnostics* diags);

}  // namespace hopgate
