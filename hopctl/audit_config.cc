#include "hopctl/audit_config.h"

#include <fstream>
#include <sstream>

#include "common/yaml_util.h"

namespace hopgate::hopctl {
namespace {

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string Resolve(const std::string& base_file, const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  return DirOf(base_file) + "/" + path;
}

}  // namespace

Result<AuditPaths> LoadAuditPaths(const std::string& config_file) {
  std::ifstream in(config_file, std::ios::binary);
  if (!in) return MakeError(Code::kNotFound, config_file + ": cannot read the config file");
  std::stringstream text;
  text << in.rdbuf();
  Diagnostics d(config_file);
  auto root = ParseYaml(text.str(), &d);
  AuditPaths out;
  if (root && (!root->IsMap() || !(*root)["audit"] || !(*root)["audit"].IsMap())) {
    d.Error(*root, "missing audit (audit: {log: /var/log/hopgate/audit.jsonl})");
  } else if (root) {
    const YAML::Node audit = (*root)["audit"];
    auto path = [&](const char* key, std::string* dest) {
      if (!audit[key]) return;
      auto s = ReadString(audit[key], std::string("audit.") + key, &d);
      if (s && s->empty()) d.Error(audit[key], std::string("audit.") + key + " must not be empty");
      if (s && !s->empty()) *dest = Resolve(config_file, *s);
    };
    path("log", &out.log);
    path("recordings", &out.recordings);
    path("signing_key", &out.signing_key);
    if (!audit["log"]) d.Error(audit, "missing audit.log (path of the JSON-lines audit log)");
    // The gateway's default key: <dir of the first host key>/audit_signing_ed25519.
    const YAML::Node host_keys = (*root)["host_keys"];
    if (out.signing_key.empty() && host_keys && host_keys.IsSequence() && host_keys.size() > 0 &&
        host_keys[0].IsScalar() && !host_keys[0].Scalar().empty()) {
      out.signing_key = DirOf(Resolve(config_file, host_keys[0].Scalar())) + "/audit_signing_ed25519";
    }
  }
  if (d.has_errors()) return MakeError(Code::kInvalidArgument, d.ToString());
  if (out.recordings.empty()) out.recordings = DirOf(out.log) + "/recordings";
  return out;
}

}  // namespace hopgate::hopctl
