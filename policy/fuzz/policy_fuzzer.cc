// Fuzz target: the YAML policy (policy/policy.h ParsePolicy) with the files
// it names, then decisions, explanations and descriptions on what parsed.
// Input: the policy text, then optionally NUL-separated file contents; the
// in-memory reader hands them out in the order the parser asks for files
// (authorized_keys, identity, known_hosts), and "no such file" after that.
// Checks: a policy is returned only without errors; every decision is
// explained (an allow names its rule, a deny gives a reason) and traces
// every rule once.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/strings.h"
#include "policy/decide.h"
#include "policy/explain.h"
#include "policy/policy.h"

namespace {

using namespace hopgate;
using namespace hopgate::policy;

void Check(bool ok) {
  if (!ok) abort();
}

constexpr size_t kMaxUsers = 3;  // users from the policy that make requests

std::vector<Identity> Identities(const Policy& p) {
  std::vector<Identity> out;
  for (const auto& [name, user] : p.users) {
    if (out.size() == kMaxUsers) break;
    Identity id;
    id.user = name;
    id.source = IpAddress::Parse("10.1.2.3");
    if (!user.keys.empty()) id.restrictions.push_back(user.keys[0].restrictions);
    out.push_back(std::move(id));
  }
  Identity cert;
  cert.user = p.users.empty() ? "alice" : p.users.begin()->first;
  cert.certificate = true;
  cert.principals = {"alice", "root"};
  cert.source = IpAddress::Parse("2001:db8::1");
  cert.extra_groups = {"dba"};
  out.push_back(std::move(cert));
  Identity nobody;
  nobody.user = "nobody";
  out.push_back(std::move(nobody));
  return out;
}

std::vector<Request> Requests(const Policy& p) {
  auto names = std::make_shared<AddressMap>();
  IpAddress a = *IpAddress::Parse("10.0.3.7");
  for (const auto& n : p.NamesToResolve()) (*names)[n] = {a};
  AddressMap dns = {{"db1.internal", {a, *IpAddress::Parse("2001:db8::7")}}};
  std::vector<Request> out = {
      Request::Open("db1.internal", 22, dns, names),
      Request::Open("db1.internal", 5432, dns, names),
      Request::Open("10.0.3.7", 22, {}, names),
      Request::Open("0x7f.1", 22),
      Request::Open("bad host", 22),
      Request::Listen("localhost", 8080),
      Request::Listen("", 0),
      Request::Session(),
  };
  if (!p.hosts.empty()) {
    const Host& h = p.hosts.begin()->second;
    out.push_back(Request::Open(h.name, 22, {}, names));
    out.push_back(Request::Open(h.address.host, h.address.port, {}, names));
  }
  return out;
}

void Exercise(const Policy& p) {
  for (const auto& id : Identities(p)) {
    for (const auto& req : Requests(p)) {
      if (req.kind == Request::Kind::kOpen) (void)PlanOpen(p, req.host, req.port);
      Decision d = Decide(p, id, req);
      if (d.allow) {
        Check(!d.rule.empty());
      } else {
        Check(!d.reason.empty());
      }
      if (!d.reason.starts_with("malformed destination")) Check(d.trace.size() == p.rules.size());
      (void)ExplainDecision(p, id, req, d);
    }
    (void)DescribeAccess(p, id);
  }
  for (const auto& [name, h] : p.hosts) {
    (void)MayBeRecorded(p, h);
    Check(p.FindHost(name) == &h);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> parts = Split(in, '\0');
  size_t next = 1;
  FileReader reader = [&](const std::string& path) -> Result<std::string> {
    if (path.empty()) return Error{"empty path"};
    if (next >= parts.size()) return Error{"No such file or directory"};
    return parts[next++];
  };
  LoadResult r = ParsePolicy(parts[0], "/etc/hopgate/policy.yaml", reader);
  (void)r.diagnostics.ToString();
  if (!r.policy) return 0;
  Check(!r.diagnostics.has_errors());
  Exercise(*r.policy);
  return 0;
}
