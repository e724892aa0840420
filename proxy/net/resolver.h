// Name resolution for decisions: a canonical DNS name to its addresses (A and
// AAAA, through the system's resolver: /etc/hosts, DNS, ...), once, with a
// timeout. getaddrinfo(3) cannot be cancelled, so lookups run on a small pool
// of worker threads that the caller waits on; a lookup that outlives its
// timeout finishes in the background and its answer is dropped. The
// addresses returned are exactly what the gateway then dials: nothing
// resolves a destination again (no DNS-rebinding window).
//
// Thread-safe. The destructor stops the workers and joins them.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/net.h"
#include "common/result.h"
#include "policy/decide.h"

namespace hopgate::proxy {

enum class ResolveFailure { kNotFound, kTimeout, kTemporary, kOther };

struct ResolveError {
  ResolveFailure kind = ResolveFailure::kOther;
  std::string message;  // "name not found", "timed out after 10s", ...
};

class Resolver {
 public:
  explicit Resolver(size_t workers = 4);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // The addresses of `name` (canonical, see common/host.h) in the system's
  // preferred order, IPv4-mapped addresses unmapped, duplicates removed.
  // Waits at most `timeout_ms`. On failure fills `*error` too.
  Result<std::vector<IpAddress>> Resolve(const std::string& name, int64_t timeout_ms,
                                         ResolveError* error = nullptr);
  // Looks `name` up on a resolver thread and calls `done` there with the
  // answer (or the error). No timeout: the caller keeps its own deadline and
  // ignores a late answer.
  void ResolveAsync(const std::string& name,
                    std::function<void(std::vector<IpAddress>, ResolveError)> done);
  // Every name at once (in parallel); names that fail are left out.
  policy::AddressMap ResolveAll(const std::vector<std::string>& names, int64_t timeout_ms);

 private:
  struct Lookup;
  void Work();
  std::shared_ptr<Lookup> Submit(const std::string& name,
                                 std::function<void(std::vector<IpAddress>, ResolveError)> done =
                                     nullptr);
  Result<std::vector<IpAddress>> Wait(Lookup& l, int64_t deadline_ms, ResolveError* error);

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Lookup>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace hopgate::proxy
