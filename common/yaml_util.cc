#include "common/yaml_util.h"

#include <set>

#include "common/strings.h"
#include "common/time_util.h"

namespace hopgate {

std::string SourceLocation::ToString() const {
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string Diagnostic::ToString() const {
  return location.ToString() + ": " +
         (severity == Severity::kWarning ? "warning: " : "") + message;
}

SourceLocation Diagnostics::Locate(const YAML::Node& node) const {
  SourceLocation loc;
  loc.file = file_;
  YAML::Mark m = node.Mark();
  if (!m.is_null()) {
    loc.line = m.line + 1;
    loc.column = m.column + 1;
  }
  return loc;
}

void Diagnostics::Error(const YAML::Node& at, std::string message) {
  Error(Locate(at), std::move(message));
}

void Diagnostics::Error(const SourceLocation& at, std::string message) {
  items_.push_back({Diagnostic::Severity::kError, at, std::move(message)});
}

void Diagnostics::ErrorAtFile(std::string message) {
  items_.push_back({Diagnostic::Severity::kError, SourceLocation{file_, 0, 0},
                    std::move(message)});
}

void Diagnostics::Warning(const YAML::Node& at, std::string message) {
  Warning(Locate(at), std::move(message));
}

void Diagnostics::Warning(const SourceLocation& at, std::string message) {
  items_.push_back({Diagnostic::Severity::kWarning, at, std::move(message)});
}

int Diagnostics::error_count() const {
  int n = 0;
  for (const auto& d : items_) n += d.severity == Diagnostic::Severity::kError;
  return n;
}

int Diagnostics::warning_count() const {
  return static_cast<int>(items_.size()) - error_count();
}

std::string Diagnostics::ToString() const {
  std::string out;
  for (const auto& d : items_) out += d.ToString() + "\n";
  return out;
}

void Diagnostics::Append(const Diagnostics& other) {
  items_.insert(items_.end(), other.items_.begin(), other.items_.end());
}

std::optional<YAML::Node> ParseYaml(std::string_view text, Diagnostics* diags) {
  // yaml-cpp reports a tab in indentation as "end of map not found" or
  // worse; say what is wrong, where.
  int line = 1;
  bool leading = true;
  int column = 1;
  for (char c : text) {
    if (c == '\n') {
      ++line;
      column = 1;
      leading = true;
      continue;
    }
    if (leading && c == '\t') {
      diags->Error(SourceLocation{diags->file(), line, column},
                   "a tab in the indentation: YAML forbids tabs for indentation, use spaces");
      return std::nullopt;
    }
    if (c != ' ') leading = false;
    ++column;
  }
  try {
    YAML::Node root = YAML::Load(std::string(text));
    if (!root.IsDefined() || root.IsNull()) {
      diags->ErrorAtFile("empty document");
      return std::nullopt;
    }
    return root;
  } catch (const YAML::Exception& e) {
    SourceLocation loc{diags->file(), 0, 0};
    if (!e.mark.is_null()) {
      loc.line = e.mark.line + 1;
      loc.column = e.mark.column + 1;
    }
    diags->Error(loc, "YAML syntax error: " + e.msg);
    return std::nullopt;
  }
}

namespace {

bool CheckKeys(const YAML::Node& node, const std::initializer_list<std::string_view>* allowed,
               std::string_view what, Diagnostics* diags) {
  if (!node.IsMap()) {
    diags->Error(node, std::string(what) + " must be a mapping");
    return false;
  }
  std::set<std::string> seen;
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) {
      diags->Error(kv.first, "keys in " + std::string(what) + " must be plain strings");
      continue;
    }
    const std::string key = kv.first.Scalar();
    if (!seen.insert(key).second) {
      diags->Error(kv.first, "duplicate key " + Quote(key) + " in " + std::string(what));
      continue;
    }
    if (allowed == nullptr) continue;
    bool known = false;
    for (auto a : *allowed) known |= (a == key);
    if (!known) {
      std::string list;
      for (auto a : *allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      diags->Error(kv.first, "unknown key " + Quote(key) + " in " + std::string(what) +
                                 " (expected one of: " + list + ")");
    }
  }
  return true;
}

}  // namespace

bool CheckMap(const YAML::Node& node, std::initializer_list<std::string_view> allowed,
              std::string_view what, Diagnostics* diags) {
  return CheckKeys(node, &allowed, what, diags);
}

bool CheckDuplicateKeys(const YAML::Node& node, std::string_view what, Diagnostics* diags) {
  return CheckKeys(node, nullptr, what, diags);
}

YAML::Node KeyNode(const YAML::Node& node, std::string_view key) {
  if (node.IsMap()) {
    for (const auto& kv : node) {
      if (kv.first.IsScalar() && kv.first.Scalar() == key) return kv.first;
    }
  }
  return node;
}

std::optional<std::string> ReadString(const YAML::Node& node, std::string_view what,
                                      Diagnostics* diags) {
  if (!node.IsScalar()) {
    diags->Error(node, std::string(what) + " must be a string");
    return std::nullopt;
  }
  return node.Scalar();
}

std::optional<bool> ReadBool(const YAML::Node& node, std::string_view what,
                             Diagnostics* diags) {
  if (node.IsScalar()) {
    const std::string& s = node.Scalar();
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
  }
  diags->Error(node, std::string(what) + " must be true or false");
  return std::nullopt;
}

std::optional<int64_t> ReadInt(const YAML::Node& node, std::string_view what,
                               int64_t min, int64_t max, Diagnostics* diags) {
  if (node.IsScalar()) {
    const std::string& s = node.Scalar();
    bool digits = !s.empty() && s.size() < 19;
    for (size_t i = 0; i < s.size(); ++i) {
      if (!(s[i] >= '0' && s[i] <= '9') && !(i == 0 && s[i] == '-' && s.size() > 1)) {
        digits = false;
      }
    }
    if (digits) {
      int64_t v = std::stoll(s);
      if (v >= min && v <= max) return v;
      diags->Error(node, min == max ? std::string(what) + " must be " + std::to_string(min)
                                    : std::string(what) + " must be between " +
                                          std::to_string(min) + " and " + std::to_string(max));
      return std::nullopt;
    }
  }
  diags->Error(node, std::string(what) + " must be an integer");
  return std::nullopt;
}

std::optional<int64_t> ReadDuration(const YAML::Node& node, std::string_view what,
                                    Diagnostics* diags) {
  if (!node.IsScalar()) {
    diags->Error(node, std::string(what) + " must be a duration such as 30s, 15m or 8h");
    return std::nullopt;
  }
  auto d = ParseDurationSeconds(node.Scalar());
  if (!d) {
    diags->Error(node, std::string(what) + ": " + d.message());
    return std::nullopt;
  }
  return *d;
}

std::optional<int64_t> ReadByteSize(const YAML::Node& node, std::string_view what,
                                    Diagnostics* diags) {
  if (!node.IsScalar()) {
    diags->Error(node, std::string(what) + " must be a size such as 64KiB or 100MiB");
    return std::nullopt;
  }
  auto n = ParseByteSize(node.Scalar());
  if (!n) {
    diags->Error(node, std::string(what) + ": " + n.message());
    return std::nullopt;
  }
  return *n;
}

std::optional<std::vector<std::string>> ReadStringList(const YAML::Node& node,
                                                       std::string_view what,
                                                       Diagnostics* diags) {
  if (!node.IsSequence()) {
    diags->Error(node, std::string(what) + " must be a list, e.g. [a, b]");
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (const auto& item : node) {
    if (!item.IsScalar()) {
      diags->Error(item, "entries of " + std::string(what) + " must be strings");
      ok = false;
      continue;
    }
    out.push_back(item.Scalar());
  }
  if (!ok) return std::nullopt;
  return out;
}

}  // namespace hopgate
