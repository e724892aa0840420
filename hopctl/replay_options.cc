#include "hopctl/replay_options.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/strings.h"
#include "proxy/config/config.h"

namespace hopgate::hopctl {
namespace {

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

bool IsRegularFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<double> ParseOffset(const std::string& text) {
  auto bad = [&] {
    return MakeError(Code::kInvalidArgument,
                     "--from " + Quote(EscapeControl(text)) + ": give seconds (90) or mm:ss (1:30)");
  };
  std::vector<std::string> parts = Split(text, ':');
  if (text.empty() || parts.size() > 3) return bad();
  double total = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& p = parts[i];
    // Digits with at most one dot, and only in the last part ("." alone is not a number).
    if (p.empty() || p.size() > 12 || p.find_first_not_of("0123456789.") != std::string::npos ||
        p.find_first_of("0123456789") == std::string::npos ||
        std::count(p.begin(), p.end(), '.') > (i + 1 == parts.size() ? 1 : 0)) {
      return bad();
    }
    double v = strtod(p.c_str(), nullptr);
    if (i > 0 && v >= 60) return bad();
    total = total * 60 + v;
  }
  return total;
}

Result<std::optional<LogPaths>> FindLog(const ReplayOptions& o) {
  if (!o.config.empty()) {
    proxy::ConfigLoad cl = proxy::LoadConfig(o.config);
    if (!cl.config) return MakeError(Code::kInvalidArgument, cl.diagnostics.ToString());
    return std::optional<LogPaths>(LogPaths{cl.config->audit_log, cl.config->recordings_dir});
  }
  if (o.audit.empty()) return std::optional<LogPaths>();
  std::string log = o.audit;
  struct stat st;
  if (stat(log.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    // A directory: the one current log in it (not a rotated <stem>.<seq>.jsonl).
    std::vector<std::string> found;
    if (DIR* d = opendir(log.c_str())) {
      while (dirent* e = readdir(d)) {
        std::string n = e->d_name;
        if (n.size() <= 6 || n.compare(n.size() - 6, 6, ".jsonl") != 0) continue;
        std::string stem = n.substr(0, n.size() - 6);
        size_t dot = stem.rfind('.');
        if (dot != std::string::npos &&
            stem.find_first_not_of("0123456789", dot + 1) == std::string::npos) {
          continue;
        }
        found.push_back(log + "/" + n);
      }
      closedir(d);
    }
    if (found.size() != 1) {
      return MakeError(Code::kInvalidArgument,
                       o.audit + ": " + std::to_string(found.size()) +
                           " current audit logs (*.jsonl) in this directory: name the file");
    }
    log = found[0];
  }
  return std::optional<LogPaths>(LogPaths{log, DirName(log) + "/recordings"});
}

Result<std::string> LastRecordedSession(const std::string& log) {
  std::ifstream in(log);
  if (!in) return MakeError(Code::kNotFound, log + ": cannot open the audit log");
  std::string line, last;
  while (std::getline(in, line)) {
    if (line.find("\"session_open\"") == std::string::npos) continue;
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || j.value("type", "") != "session_open" ||
        j.value("result", "") != "success" || !j.contains("session") ||
        !j["session"].is_string()) {
      continue;
    }
    last = j["session"].get<std::string>();
  }
  if (last.empty()) return MakeError(Code::kNotFound, log + ": no recorded session yet");
  return last;
}

}  // namespace hopgate::hopctl
