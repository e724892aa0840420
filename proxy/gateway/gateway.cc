#include "proxy/gateway/gateway.h"

#include <algorithm>
#include <openssl/rand.h>

#include <unistd.h>

#include <chrono>

#include "common/encoding.h"
#include "common/strings.h"

namespace hopgate::proxy {

Gateway::Gateway(Config config, std::shared_ptr<audit::Log> audit,
                 std::shared_ptr<Metrics> metrics, UpstreamPool::Options upstream)
    : config_(std::move(config)),
      audit_(std::move(audit)),
      metrics_(std::move(metrics)),
      resolver_(std::make_unique<Resolver>()) {
  upstream.resolver = resolver_.get();
  upstream_ = std::make_unique<UpstreamPool>(std::move(upstream), metrics_.get());
  task_pool_ = std::make_unique<TaskPool>(16);
  startups_.SetPenalties(config_.per_source_penalty);
}

void Gateway::Register(LiveConnection* c) {
  std::lock_guard<std::mutex> lock(mu_);
  connections_.insert(c);
}

void Gateway::Unregister(LiveConnection* c) {
  std::lock_guard<std::mutex> lock(mu_);
  connections_.erase(c);
  cv_.notify_all();
}

size_t Gateway::active() const {
  std::lock_guard<std::mutex> lock(mu_);
  return connections_.size();
}

bool Gateway::WaitForAll(int64_t timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] {
    if (!connections_.empty()) return false;
    for (const auto& t : tasks_) {
      if (!t.done->load()) return false;
    }
    return true;
  });
}

void Gateway::SpawnTask(std::function<void()> fn) {
  std::vector<std::thread> finished;
  auto done = std::make_shared<std::atomic<bool>>(false);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = tasks_.begin(); it != tasks_.end();) {
      if (it->done->load()) {
        finished.push_back(std::move(it->thread));
        it = tasks_.erase(it);
      } else {
        ++it;
      }
    }
    tasks_.push_back({std::thread([this, fn = std::move(fn), done] {
                        fn();
                        {
                          std::lock_guard<std::mutex> l(mu_);
                          done->store(true);
                        }
                        cv_.notify_all();
                      }),
                      done});
  }
  for (auto& t : finished) t.join();
}

void Gateway::JoinTasks() {
  std::vector<Task> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    all.swap(tasks_);
  }
  for (auto& t : all) t.thread.join();
}

void Gateway::WakeAll() {
  std::lock_guard<std::mutex> lock(mu_);
  for (LiveConnection* c : connections_) c->Wake();
  uint64_t one = 1;
  for (int fd : wake_fds_) {
    ssize_t n = write(fd, &one, sizeof one);
    (void)n;
  }
}

uint64_t Gateway::AddRecording(RecordingProbe probe) {
  std::lock_guard<std::mutex> lock(recordings_mu_);
  uint64_t id = next_recording_++;
  recordings_[id] = std::move(probe);
  return id;
}

void Gateway::RemoveRecording(uint64_t id) {
  std::lock_guard<std::mutex> lock(recordings_mu_);
  recordings_.erase(id);
}

std::vector<audit::RecordingProgress> Gateway::OpenRecordings() {
  std::lock_guard<std::mutex> lock(recordings_mu_);
  std::vector<audit::RecordingProgress> out;
  for (auto& [id, probe] : recordings_) out.push_back(probe());
  return out;
}

void Gateway::AddWakeFd(int fd) {
  std::lock_guard<std::mutex> lock(mu_);
  wake_fds_.insert(fd);
}

void Gateway::RemoveWakeFd(int fd) {
  std::lock_guard<std::mutex> lock(mu_);
  wake_fds_.erase(fd);
}

void Gateway::SetLocks(audit::fleet::LockSet locks) {
  {
    std::lock_guard<std::mutex> lock(locks_mu_);
    bool same = locks.SameIds(locks_);
    locks_ = std::move(locks);
    if (same) return;  // nothing new: no need to wake everyone
  }
  RecheckRevocations();
}

std::optional<audit::fleet::LockMatch> Gateway::Locked(const audit::fleet::LockSubject& who) const {
  std::lock_guard<std::mutex> lock(locks_mu_);
  return locks_.Match(who, WallMs() / 1000);
}

void Gateway::RecheckRevocations() {
  std::lock_guard<std::mutex> lock(mu_);
  for (LiveConnection* c : connections_) c->RequestRevocationCheck();
}

bool Gateway::AcquireUserSlot(const std::string& user, std::string* why) {
  std::optional<int64_t> others;
  int64_t fleet_max = config_.fleet_max_sessions_per_user;
  if (fleet_max > 0 && fleet_sessions_) others = fleet_sessions_->OthersOf(user);
  std::lock_guard<std::mutex> lock(mu_);
  int64_t& n = user_slots_[user];
  if (config_.max_sessions_per_user > 0 && n >= config_.max_sessions_per_user) {
    if (why) {
      *why = "too many concurrent connections for user " + Quote(user) + " (limit " +
             std::to_string(config_.max_sessions_per_user) + ")";
    }
    return false;
  }
  // Database down (no count): only the local limit above applies.
  if (others && *others + n >= fleet_max) {
    if (why) {
      *why = "too many concurrent sessions for user " + Quote(user) +
             " across the fleet (fleet.max_sessions_per_user " + std::to_string(fleet_max) +
             ": " + std::to_string(*others) + " on other replicas, " + std::to_string(n) +
             " here)";
    }
    return false;
  }
  ++n;
  return true;
}

void Gateway::Terminate(const std::string& connection, Termination t) {
  {
    std::lock_guard<std::mutex> lock(locks_mu_);
    int64_t now = NowMs();
    // Requests for connections that had already ended are dropped after a minute.
    for (auto it = terminations_.begin(); it != terminations_.end();) {
      it = now - it->second.second > 60'000 ? terminations_.erase(it) : std::next(it);
    }
    terminations_[connection] = {std::move(t), now};
  }
  RecheckRevocations();
  WakeAll();  // recorded sessions too
}

std::optional<Gateway::Termination> Gateway::PeekTermination(const std::string& connection) const {
  std::lock_guard<std::mutex> lock(locks_mu_);
  auto it = terminations_.find(connection);
  if (it == terminations_.end()) return std::nullopt;
  return it->second.first;
}

void Gateway::ForgetTermination(const std::string& connection) {
  std::lock_guard<std::mutex> lock(locks_mu_);
  terminations_.erase(connection);
}

void Gateway::ReleaseUserSlot(const std::string& user) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = user_slots_.find(user);
  if (it != user_slots_.end() && --it->second <= 0) user_slots_.erase(it);
}

void Gateway::RecordSuppressed(const std::string& connection,
                               const std::vector<audit::AuditSuppressed>& summaries) {
  for (const auto& s : summaries) (void)audit_->Record(connection, s);
}

void Gateway::FlushSuppressed(bool all) {
  RecordSuppressed("", audit_throttle_.Due(WallMs(), all));
}

std::string Gateway::NewConnectionId() {
  unsigned char b[8];
  if (RAND_bytes(b, sizeof b) != 1) {
    static std::atomic<uint64_t> counter{0};
    uint64_t v = ++counter;
    return "c" + HexEncode(std::string(reinterpret_cast<char*>(&v), sizeof v));
  }
  return "c" + HexEncode(std::string(reinterpret_cast<char*>(b), sizeof b));
}

}  // namespace hopgate::proxy
