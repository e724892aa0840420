#include "proxy/net/resolver.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "proxy/base/clock.h"

namespace hopgate::proxy {
namespace {


std::string Seconds(int64_t ms) {
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

// Blocking getaddrinfo; the whole answer, in order.
void LookupNow(const std::string& name, std::vector<IpAddress>* out, ResolveError* err) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int gai = getaddrinfo(name.c_str(), nullptr, &hints, &res);
  if (gai != 0) {
    err->kind = gai == EAI_NONAME || gai == EAI_NODATA ? ResolveFailure::kNotFound
                : gai == EAI_AGAIN                     ? ResolveFailure::kTemporary
                                                       : ResolveFailure::kOther;
    err->message = err->kind == ResolveFailure::kNotFound ? "name not found"
                                                          : std::string(gai_strerror(gai));
    return;
  }
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    IpAddress a;
    if (ai->ai_family == AF_INET) {
      a.v6 = false;
      memcpy(a.bytes.data(), &reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr, 4);
    } else if (ai->ai_family == AF_INET6) {
      a.v6 = true;
      memcpy(a.bytes.data(), &reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr, 16);
    } else {
      continue;
    }
    a = a.Unmapped();
    if (std::find(out->begin(), out->end(), a) == out->end()) out->push_back(a);
  }
  freeaddrinfo(res);
  if (out->empty()) {
    err->kind = ResolveFailure::kNotFound;
    err->message = "name not found";
  }
}

Code CodeOf(ResolveFailure f) {
  switch (f) {
    case ResolveFailure::kNotFound: return Code::kNotFound;
    case ResolveFailure::kTimeout: return Code::kDeadlineExceeded;
    case ResolveFailure::kTemporary: return Code::kUnavailable;
    case ResolveFailure::kOther: return Code::kUnknown;
  }
  return Code::kUnknown;
}

}  // namespace

struct Resolver::Lookup {
  std::string name;
  std::function<void(std::vector<IpAddress>, ResolveError)> callback;  // async callers
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::vector<IpAddress> addresses;
  ResolveError error;
};

Resolver::Resolver(size_t workers) {
  for (size_t i = 0; i < std::max<size_t>(1, workers); ++i) {
    workers_.emplace_back([this] { Work(); });
  }
}

Resolver::~Resolver() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void Resolver::Work() {
  while (true) {
    std::shared_ptr<Lookup> l;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      l = std::move(queue_.front());
      queue_.pop_front();
    }
    std::vector<IpAddress> addrs;
    ResolveError err;
    LookupNow(l->name, &addrs, &err);
    if (l->callback) {
      l->callback(std::move(addrs), std::move(err));
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(l->mu);
      l->addresses = std::move(addrs);
      l->error = std::move(err);
      l->done = true;
    }
    l->cv.notify_all();
  }
}

std::shared_ptr<Resolver::Lookup> Resolver::Submit(
    const std::string& name, std::function<void(std::vector<IpAddress>, ResolveError)> done) {
  auto l = std::make_shared<Lookup>();
  l->name = name;
  l->callback = std::move(done);
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(l);
  }
  cv_.notify_one();
  return l;
}

Result<std::vector<IpAddress>> Resolver::Wait(Lookup& l, int64_t deadline_ms,
                                              ResolveError* error) {
  std::unique_lock<std::mutex> lock(l.mu);
  while (!l.done) {
    int64_t left = deadline_ms - SteadyMs();
    if (left <= 0) break;
    l.cv.wait_for(lock, std::chrono::milliseconds(left));
  }
  ResolveError err;
  if (!l.done) {
    err.kind = ResolveFailure::kTimeout;
    err.message = "timed out";
  } else if (l.addresses.empty()) {
    err = l.error;
  } else {
    return l.addresses;
  }
  if (error) *error = err;
  return MakeError(CodeOf(err.kind), err.message, static_cast<int>(err.kind));
}

Result<std::vector<IpAddress>> Resolver::Resolve(const std::string& name, int64_t timeout_ms,
                                                 ResolveError* error) {
  int64_t deadline = SteadyMs() + timeout_ms;
  auto l = Submit(name);
  ResolveError err;
  auto r = Wait(*l, deadline, &err);
  if (!r && err.kind == ResolveFailure::kTimeout) err.message = "timed out after " + Seconds(timeout_ms);
  if (!r) {
    if (error) *error = err;
    return MakeError(CodeOf(err.kind), err.message, static_cast<int>(err.kind));
  }
  return r;
}

void Resolver::ResolveAsync(const std::string& name,
                            std::function<void(std::vector<IpAddress>, ResolveError)> done) {
  Submit(name, std::move(done));
}

policy::AddressMap Resolver::ResolveAll(const std::vector<std::string>& names,
                                        int64_t timeout_ms) {
  int64_t deadline = SteadyMs() + timeout_ms;
  std::vector<std::shared_ptr<Lookup>> lookups;
  for (const auto& n : names) lookups.push_back(Submit(n));
  policy::AddressMap out;
  for (auto& l : lookups) {
    auto r = Wait(*l, deadline, nullptr);
    if (r) out[l->name] = std::move(*r);
  }
  return out;
}

}  // namespace hopgate::proxy
