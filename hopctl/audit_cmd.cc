// hopctl audit: verify the tamper-evident audit log and its recordings, print
// the latest checkpoint, export and verify a self-contained bundle.
// Exit codes: 0 verified, 1 damaged (or nothing to export yet), 2 usage or
// I/O errors.
#include <sys/stat.h>

#include <cstdio>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/bundle.h"
#include "audit/checkpoint.h"
#include "audit/line_scan.h"
#include "audit/log_files.h"
#include "audit/trust.h"
#include "audit/verify.h"
#include "certs/sshsig.h"
#include "common/encoding.h"
#include "common/strings.h"
#include "hopctl/audit_config.h"
#include "hopctl/command.h"
#include "hopctl/progress.h"
#include "proxy/config/files.h"

namespace hopgate::hopctl {
namespace {

constexpr size_t kMaxKeyFile = 1 << 20;
constexpr size_t kMaxCheckpoint = 64 << 10;

struct TrustArgs {
  std::string allowed_signers, key, config;
};

// Prints `msg` as hopctl's error and returns 2 (usage or I/O).
int Fail2(const std::string& cmd, const std::string& msg) {
  std::string m(Trim(msg));
  fprintf(stderr, "hopctl audit %s: %s\n", cmd.c_str(), m.c_str());
  return 2;
}

// The keys the auditor trusts: --allowed-signers, --key, or the gateway's
// own `<audit.signing_key>.pub` named by --config. Never a key from the log.
Result<audit::TrustedKeys> LoadTrust(const TrustArgs& a) {
  if (!a.allowed_signers.empty()) {
    auto text = proxy::ReadFile(a.allowed_signers, kMaxKeyFile);
    if (!text) return Error{a.allowed_signers + ": " + text.message()};
    return audit::TrustedKeys::FromAllowedSigners(*text, a.allowed_signers);
  }
  std::string pub = a.key;
  if (pub.empty() && !a.config.empty()) {
    auto paths = LoadAuditPaths(a.config);
    if (!paths) return paths.error();
    if (paths->signing_key.empty()) {
      return Error{a.config + ": names no audit.signing_key; give --key PUBFILE or --allowed-signers FILE"};
    }
    pub = paths->signing_key + ".pub";
  }
  if (pub.empty()) {
    return Error{"a trusted key is needed: give --allowed-signers FILE or --key PUBFILE (or --config "
                 "FILE for <audit.signing_key>.pub); a key found in the log itself is never trusted"};
  }
  auto text = proxy::ReadFile(pub, kMaxKeyFile);
  if (!text) return Error{pub + ": " + text.message()};
  return audit::TrustedKeys::FromPublicKeys(*text, pub);
}

// The log's files in order, from PATHs or the config's audit.log.
Result<std::vector<std::string>> LogFiles(std::vector<std::string> paths, const std::string& config) {
  if (paths.empty() && !config.empty()) {
    auto p = LoadAuditPaths(config);
    if (!p) return p.error();
    paths.push_back(p->log);
  }
  if (paths.empty()) return Error{"name the log (PATH...) or give --config FILE"};
  auto files = audit::LogFilesFor(paths);
  if (!files) return files.error();
  return audit::OrderLogFiles(*files);
}

uint64_t TotalSize(const std::vector<std::string>& files) {
  uint64_t total = 0;
  for (const auto& f : files) {
    struct stat st;
    if (stat(f.c_str(), &st) == 0) total += static_cast<uint64_t>(st.st_size);
  }
  return total;
}

struct VerifyArgs {
  TrustArgs trust;
  std::string checkpoint, recordings;
  std::vector<std::string> paths;
};

Result<audit::SavedCheckpoint> LoadSaved(const std::string& file) {
  auto text = proxy::ReadFile(file, kMaxCheckpoint);
  if (!text) return Error{file + ": " + text.message()};
  auto sig = proxy::ReadFile(file + ".sig", kMaxCheckpoint);
  if (!sig) return Error{file + ".sig: " + sig.message() + " (the signature is kept beside it)"};
  return audit::SavedCheckpoint{file, *text, *sig};
}

int Verify(const VerifyArgs& a) {
  auto trust = LoadTrust(a.trust);
  if (!trust) return Fail2("verify", trust.message());
  audit::VerifyOptions o;
  o.trusted = &*trust;
  o.now = time(nullptr);
  o.recordings_dir = a.recordings;
  if (!a.checkpoint.empty()) {
    auto saved = LoadSaved(a.checkpoint);
    if (!saved) return Fail2("verify", saved.message());
    o.old_checkpoint = *saved;
  }
  auto files = LogFiles(a.paths, a.trust.config);
  if (!files) return Fail2("verify", files.message());
  audit::VerifyReport r;
  {
    Progress bar("verifying", TotalSize(*files));
    o.progress = [&bar](uint64_t done) { bar.Update(done); };
    r = audit::VerifyLog(*files, o);
  }
  for (const auto& n : r.notes) printf("note: %s\n", n.c_str());
  for (const auto& p : r.problems) printf("%s\n", p.c_str());
  if (r.more_problems) printf("... and %llu more problems\n", static_cast<unsigned long long>(r.more_problems));
  for (const auto& e : r.io_errors) fprintf(stderr, "hopctl audit verify: %s\n", e.c_str());
  if (!r.io_errors.empty()) return 2;
  if (!r.ok()) {
    printf("FAILED: %zu problems in %llu events\n", r.problems.size() + r.more_problems,
           static_cast<unsigned long long>(r.events));
    return 1;
  }
  printf("OK: %llu events, %llu recordings, tree size %llu, root %s\n",
         static_cast<unsigned long long>(r.events), static_cast<unsigned long long>(r.recordings),
         static_cast<unsigned long long>(r.tree_size), Base64Encode(r.root).c_str());
  return 0;
}

// The last checkpoint event of the log: its text and signature; nullopt if
// the log has none.
Result<std::optional<std::pair<std::string, std::string>>> LastCheckpointEvent(const std::string& log) {
  auto files = LogFiles({log}, "");
  if (!files) return files.error();
  std::string last;
  for (const auto& f : *files) {
    Status st = audit::ForEachLine(f, [&](std::string_view line, uint64_t, uint64_t) {
      audit::LineFields fields;
      if (!audit::ScanLine(line, &fields) && fields.type == "checkpoint") last = std::string(line);
      return Status::Ok();
    });
    if (!st) return st.error();
  }
  auto j = nlohmann::json::parse(last, nullptr, /*allow_exceptions=*/false);
  if (last.empty() || !j.is_object() || !j["checkpoint"].is_string() || !j["signature"].is_string()) {
    return std::optional<std::pair<std::string, std::string>>();
  }
  return std::optional(std::make_pair(j["checkpoint"].get<std::string>(), j["signature"].get<std::string>()));
}

// The checkpoint files beside the log, if both are there and belong
// together: the gateway replaces them one after the other, so a reader can
// catch a new text with the old signature; it reads again once, then gives
// up (the caller falls back to the log's last checkpoint event).
std::optional<std::pair<std::string, std::string>> CheckpointFiles(const std::string& log) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto text = proxy::ReadFile(log + ".checkpoint", kMaxCheckpoint);
    auto sig = proxy::ReadFile(log + ".checkpoint.sig", kMaxCheckpoint);
    if (!text || !sig) return std::nullopt;
    if (certs::SshSigVerify(*sig, audit::kCheckpointNamespace, *text).ok()) {
      return std::make_pair(*text, *sig);
    }
  }
  return std::nullopt;
}

int Checkpoint(std::string log, const std::string& config, const std::string& out) {
  if (log.empty() && !config.empty()) {
    auto p = LoadAuditPaths(config);
    if (!p) return Fail2("checkpoint", p.message());
    log = p->log;
  }
  if (log.empty()) return Fail2("checkpoint", "name the log (LOG) or give --config FILE");
  std::pair<std::string, std::string> cp;
  if (auto files = CheckpointFiles(log)) {
    cp = *files;
  } else {
    auto ev = LastCheckpointEvent(log);
    if (!ev) return Fail2("checkpoint", ev.message());
    if (!*ev) {
      fprintf(stderr, "hopctl audit checkpoint: no checkpoint in %s yet\n", log.c_str());
      return 1;
    }
    cp = **ev;
  }
  if (cp.second.empty()) {
    fprintf(stderr, "hopctl audit checkpoint: the latest checkpoint of %s is not signed\n", log.c_str());
    return 1;
  }
  if (!out.empty()) {
    for (const auto& [path, data] : {std::pair{out, cp.first}, std::pair{out + ".sig", cp.second}}) {
      FILE* f = fopen(path.c_str(), "wx");
      bool ok = f && fwrite(data.data(), 1, data.size(), f) == data.size();
      if (f && fclose(f) != 0) ok = false;
      if (!ok) return Fail2("checkpoint", path + ": cannot write it (it must not exist yet)");
    }
  }
  printf("%s%s", cp.first.c_str(), cp.second.c_str());
  return 0;
}

struct ExportArgs {
  std::string session, out, config, audit, recordings;
};

int Export(const ExportArgs& a) {
  if (a.config.empty() == a.audit.empty()) {
    return Fail2("export", "give exactly one of --config FILE and --audit PATH");
  }
  std::string recordings = a.recordings;
  auto files = LogFiles(a.audit.empty() ? std::vector<std::string>{} : std::vector{a.audit}, a.config);
  if (!files) return Fail2("export", files.message());
  audit::ExportOptions o;
  o.session = a.session;
  o.out_dir = a.out;
  o.recordings_dir = recordings;
  Result<audit::ExportSummary> s = Error{""};
  {
    Progress bar("reading the log", TotalSize(*files));
    o.progress = [&bar](uint64_t done) { bar.Update(done); };
    s = audit::ExportBundle(*files, o);
  }
  if (!s) {
    Code c = s.code();
    bool negative = c == Code::kNotFound || c == Code::kFailedPrecondition || c == Code::kDataLoss;
    fprintf(stderr, "hopctl audit export: %s\n", s.message().c_str());
    return negative ? 1 : 2;
  }
  for (const auto& n : s->notes) printf("note: %s\n", n.c_str());
  printf("exported session %s to %s: %llu events, %llu recordings, inclusion proofs against the "
         "checkpoint of tree size %llu signed for %s\n",
         a.session.c_str(), a.out.c_str(), static_cast<unsigned long long>(s->events),
         static_cast<unsigned long long>(s->recordings), static_cast<unsigned long long>(s->tree_size),
         EscapeControl(s->origin).c_str());
  return 0;
}

int VerifyBundle(const TrustArgs& t, const std::string& dir) {
  if (t.allowed_signers.empty() && t.key.empty()) {
    return Fail2("verify-bundle",
                 "a trusted key is needed: give --key PUBFILE or --allowed-signers FILE (never "
                 "only the key a bundle carries)");
  }
  auto trust = LoadTrust(t);
  if (!trust) return Fail2("verify-bundle", trust.message());
  auto r = audit::VerifyBundle(dir, *trust, time(nullptr));
  if (!r) return Fail2("verify-bundle", r.message());
  for (const auto& n : r->notes) printf("note: %s/%s\n", dir.c_str(), n.c_str());
  for (const auto& p : r->problems) printf("%s/%s\n", dir.c_str(), p.c_str());
  if (!r->ok()) {
    printf("FAILED: %zu problems\n", r->problems.size());
    return 1;
  }
  printf("OK: session %s, %llu events, %llu recordings, checkpoint of tree size %llu signed for %s\n",
         r->session.c_str(), static_cast<unsigned long long>(r->events),
         static_cast<unsigned long long>(r->recordings), static_cast<unsigned long long>(r->tree_size),
         EscapeControl(r->origin).c_str());
  return 0;
}

void AddTrustOptions(CLI::App* cmd, TrustArgs* t) {
  auto* as = cmd->add_option("--allowed-signers", t->allowed_signers,
                             "OpenSSH allowed_signers file: who may sign checkpoints, for which origin");
  auto* key = cmd->add_option("--key", t->key, "a public key file trusted to sign checkpoints");
  as->excludes(key);
}

}  // namespace

void AddAuditCommands(CLI::App& app, Commands* out) {
  CLI::App* audit = app.add_subcommand("audit", "verify the audit log, export and check bundles");
  audit->require_subcommand(1);

  auto va = std::make_shared<VerifyArgs>();
  CLI::App* verify = audit->add_subcommand(
      "verify", "check the log's chain, checkpoints, signatures and recordings");
  AddTrustOptions(verify, &va->trust);
  verify->add_option("--checkpoint", va->checkpoint,
                     "a checkpoint saved earlier (with FILE.sig beside it): the log must extend it");
  verify->add_option("--config", va->trust.config,
                     "the gateway's config: audit.log when no PATH, <audit.signing_key>.pub as key");
  verify->add_option("--recordings", va->recordings,
                     "where the recordings are now (YYYY/MM/DD/NAME under it), for a moved copy");
  verify->add_option("PATH", va->paths, "the log file (with its rotated files), a directory, or files");
  out->push_back({verify, [va] { return Verify(*va); }});

  auto cp_log = std::make_shared<std::string>();
  auto cp_config = std::make_shared<std::string>();
  auto cp_out = std::make_shared<std::string>();
  CLI::App* cp = audit->add_subcommand("checkpoint", "print the latest signed checkpoint and its signature");
  cp->add_option("LOG", *cp_log, "the audit log");
  cp->add_option("--config", *cp_config, "the gateway's config (its audit.log)");
  cp->add_option("--out", *cp_out, "also write it to FILE and FILE.sig (new files)");
  out->push_back({cp, [cp_log, cp_config, cp_out] { return Checkpoint(*cp_log, *cp_config, *cp_out); }});

  auto ea = std::make_shared<ExportArgs>();
  CLI::App* ex = audit->add_subcommand("export", "write one session's self-contained, checkable bundle");
  ex->add_option("SESSION", ea->session, "connection id c..., or c...-N for one recorded session")->required();
  ex->add_option("--out", ea->out, "the bundle's directory (new, or empty)")->required();
  ex->add_option("--config", ea->config, "the gateway's config (audit.log)");
  ex->add_option("--audit", ea->audit, "the audit log (file or directory)");
  ex->add_option("--recordings", ea->recordings, "where the recordings are now, for a moved copy");
  out->push_back({ex, [ea] { return Export(*ea); }});

  auto bt = std::make_shared<TrustArgs>();
  auto bdir = std::make_shared<std::string>();
  CLI::App* vb = audit->add_subcommand("verify-bundle", "check an export bundle offline");
  AddTrustOptions(vb, bt.get());
  vb->add_option("DIR", *bdir, "the bundle's directory")->required();
  out->push_back({vb, [bt, bdir] { return VerifyBundle(*bt, *bdir); }});
}

}  // namespace hopgate::hopctl
