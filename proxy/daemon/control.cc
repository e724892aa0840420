// The server's control thread: policy reloads (SIGHUP, or a change to any
// file the policy reads, debounced), the periodic refresh of the names the
// policy compares addresses against, and the audit log's health check. None
// of it runs on the accept thread or a worker, so linting thousands of rules
// or a slow name server never delays a connection.
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "proxy/base/clock.h"
#include "proxy/base/logging.h"
#include "proxy/daemon/loader.h"
#include "proxy/daemon/server.h"

namespace hopgate::proxy {
namespace {

// How often the policy's names are looked up again while it is in force.
constexpr int64_t kNamesRefreshMs = 60'000;
// How often the audit log's path is checked to still be the file written.
constexpr int64_t kAuditCheckMs = 5'000;
// Editors write a file in several steps: reload once they are done.
constexpr int64_t kReloadDebounceMs = 300;

}  // namespace

void Server::StartControl() {
  control_wake_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  WatchPolicyFiles();
  control_thread_ = std::thread([this] { ControlLoop(); });
}

void Server::StopControl() {
  if (!control_thread_.joinable()) return;
  control_stop_ = true;
  uint64_t one = 1;
  (void)!write(control_wake_.get(), &one, sizeof one);
  control_thread_.join();
  control_wake_.reset();
}

void Server::RequestReload() {
  reload_requested_ = true;
  uint64_t one = 1;
  (void)!write(control_wake_.get(), &one, sizeof one);
}

// Every audit.checkpoint_interval: a signed checkpoint when anything was
// written since the last one or a recording is open (its progress goes in
// first), and rotation by age.
void Server::CheckpointAuditLog() {
  std::vector<audit::RecordingProgress> progress = gw_->OpenRecordings();
  // checkpointed_size() is the last checkpoint's own seq: when it is the
  // last line, nothing happened since and there is nothing new to sign.
  bool news = audit_sink_->size() > audit_sink_->checkpointed_size() + 1;
  if (news || !progress.empty()) {
    if (Status st = audit_sink_->WriteCheckpoint("interval", progress); !st) {
      spdlog::error("audit log: {}", st.message());
    }
  }
  if (Status st = audit_sink_->MaybeRotate(); !st) spdlog::error("audit log: {}", st.message());
}

void Server::ControlLoop() {
  int64_t now = SteadyMs();
  int64_t reload_at = 0;  // 0: no file change waiting
  int64_t next_audit_check = now;
  int64_t next_names = now + kNamesRefreshMs;
  const int64_t checkpoint_every = gw_->config().audit_checkpoint_interval * 1000;
  int64_t next_checkpoint = now + checkpoint_every;
  while (!control_stop_) {
    now = SteadyMs();
    int64_t next = std::min({next_audit_check, next_names, next_checkpoint});
    if (reload_at != 0) next = std::min(next, reload_at);
    pollfd fds[2] = {{control_wake_.get(), POLLIN, 0}, {watcher_.fd(), POLLIN, 0}};
    int n = poll(fds, watcher_.fd() >= 0 ? 2 : 1, static_cast<int>(std::max<int64_t>(0, next - now)));
    if (n < 0 && errno != EINTR) {
      spdlog::error("control thread: poll failed: {}", strerror(errno));
      return;
    }
    if (control_stop_) return;
    if (n > 0 && (fds[0].revents & POLLIN)) {
      uint64_t v;
      (void)!read(control_wake_.get(), &v, sizeof v);
    }
    if (n > 0 && (fds[1].revents & POLLIN) && watcher_.Drain()) {
      reload_at = SteadyMs() + kReloadDebounceMs;
    }
    now = SteadyMs();
    if (reload_requested_.exchange(false)) {
      notify_.Reloading();
      // Also reopen the audit log, for logrotate.
      if (Status st = audit_sink_->Reopen(); !st) spdlog::error("{}", st.message());
      ReloadPolicy("SIGHUP", /*force=*/true);
      reload_at = 0;
      notify_.Ready("serving; policy " + gw_->policy().Get()->version);
    } else if (reload_at != 0 && now >= reload_at) {
      reload_at = 0;
      ReloadPolicy("file change", /*force=*/false);
    }
    if (now >= next_audit_check) {
      next_audit_check = now + kAuditCheckMs;
      CheckAuditLog();
    }
    if (now >= next_checkpoint) {
      next_checkpoint = now + checkpoint_every;
      CheckpointAuditLog();
    }
    if (now >= next_names) {
      next_names = now + kNamesRefreshMs;
      auto p = gw_->policy().Get();
      if (!p->NamesToResolve().empty()) {
        gw_->policy().RefreshNames(p.get(), ResolvePolicyNames(*p, gw_->policy().GetNames()));
      }
    }
  }
}

PolicyStore::Names Server::ResolvePolicyNames(const policy::Policy& p,
                                              const PolicyStore::Names& old) {
  std::vector<std::string> names = p.NamesToResolve();
  auto out = std::make_shared<policy::AddressMap>(
      gw_ ? gw_->resolver().ResolveAll(names, gw_->config().connect_timeout * 1000)
          : policy::AddressMap{});
  for (const auto& n : names) {
    if (out->count(n)) continue;
    if (old && old->count(n)) {
      (*out)[n] = old->at(n);
      spdlog::warn("policy name {} did not resolve now; keeping its earlier addresses", n);
    } else {
      spdlog::warn("policy name {} does not resolve: requests by address are not matched to it", n);
    }
  }
  return out;
}


void Server::CheckAuditLog() {
  std::string why;
  bool reopened = false;
  bool ok = audit_sink_->Check(&why, &reopened);
  if (reopened) {
    spdlog::warn("audit log {} was renamed or deleted without a SIGHUP; reopened it",
                 gw_->config().audit_log);
  }
  if (!ok && audit_ok_) spdlog::error("{}", why);
  audit_ok_ = ok;
  metrics_->AuditHealthy(ok);
}

void Server::WatchPolicyFiles() {
  std::vector<std::string> paths = {gw_->config().policy};
  if (!gw_->config().trusted_user_ca_keys.empty()) paths.push_back(gw_->config().trusted_user_ca_keys);
  if (!gw_->config().revoked_keys.empty()) paths.push_back(gw_->config().revoked_keys);
  auto p = gw_->policy().Get();
  for (const auto& [name, user] : p->users) {
    if (!user.authorized_keys_path.empty()) paths.push_back(user.authorized_keys_path);
  }
  watcher_.Watch(paths);
}

void Server::ReloadPolicy(const std::string& trigger, bool force) {
  auto current = gw_->policy().Get();
  auto current_trust = gw_->policy().GetTrust();
  Loaded loaded = LoadPolicyAndTrust(gw_->config());
  std::string content_hash;
  if (loaded.ok()) {
    content_hash = loaded.policy->version + loaded.trust->version;
  } else {
    for (const auto& e : loaded.errors) content_hash += e + "\n";
  }
  if (!force && content_hash == loaded_content_hash_) return;  // touched, not changed
  loaded_content_hash_ = content_hash;
  audit::PolicyReload e;
  e.trigger = trigger;
  e.previous_version = current->version;
  e.errors = static_cast<int>(loaded.errors.size());
  e.warnings = static_cast<int>(loaded.warnings.size());
  for (const auto& m : loaded.errors) {
    if (e.messages.size() < 20) e.messages.push_back(m);
    spdlog::error("{}", m);
  }
  for (const auto& m : loaded.warnings) {
    if (e.messages.size() < 20) e.messages.push_back(m);
    spdlog::warn("{}", m);
  }
  bool ok = loaded.ok();
  if (ok) {
    bool revocations_changed = loaded.trust->version != current_trust->version;
    // The new policy's names are resolved before it takes effect, so no
    // decision runs against it without them.
    gw_->policy().Set(loaded.policy, loaded.trust,
                      ResolvePolicyNames(*loaded.policy, gw_->policy().GetNames()));
    e.success = true;
    e.policy_version = loaded.policy->version;
    spdlog::info("policy reloaded ({}): {} -> {}", trigger, current->version,
                 loaded.policy->version);
    metrics_->PolicyVersion(loaded.policy->version);
    if (signer_) {
      // The signer reads the policy itself: it checks what it mints against
      // its own copy, never against what this process tells it.
      auto v = signer_->ReloadPolicy();
      if (!v) {
        spdlog::error("signer: policy reload: {}", v.message());
      } else if (*v != loaded.policy->version) {
        spdlog::warn("signer: loaded policy {}, this process {}", *v, loaded.policy->version);
      }
    }
    WatchPolicyFiles();
    if (revocations_changed) gw_->RecheckRevocations();
  } else {
    e.success = false;
    e.policy_version = current->version;
    spdlog::error("reload ({}) failed with {} errors; keeping policy {}", trigger, e.errors,
                  current->version);
  }
  metrics_->PolicyReload(ok);
  (void)gw_->audit().Record("", e);
}

}  // namespace hopgate::proxy
