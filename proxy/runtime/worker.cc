#include "proxy/runtime/worker.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "proxy/base/clock.h"

namespace hopgate::proxy {
namespace {


uint32_t EpollEvents(short events) {
  uint32_t e = 0;
  if (events & POLLIN) e |= EPOLLIN;
  if (events & POLLOUT) e |= EPOLLOUT;
  return e;
}

}  // namespace

// ---------------------------------------------------------------- EventFds

bool EventFds::Set(int fd, short events, ssh_event_callback cb, void* userdata) {
  auto it = fds_.find(fd);
  if (it != fds_.end()) {
    if (it->second == events) return true;
    ssh_event_remove_fd(event_, fd);
    fds_.erase(it);
    if (worker_) worker_->Unwatch(fd);
  }
  if (events == 0) return true;
  if (ssh_event_add_fd(event_, fd, events, cb, userdata) != SSH_OK) return false;
  fds_[fd] = events;
  if (worker_) worker_->Watch(fd, EpollEvents(events), owner_);
  return true;
}

void EventFds::WatchSession(int fd, bool write_pending) {
  if (!worker_ || fd < 0) return;
  if (fd == session_fd_ && write_pending == session_out_) return;
  if (fd != session_fd_ && session_fd_ >= 0) worker_->Unwatch(session_fd_);
  worker_->Watch(fd, EPOLLIN | EPOLLRDHUP | (write_pending ? EPOLLOUT : 0u), owner_);
  session_fd_ = fd;
  session_out_ = write_pending;
}

void EventFds::UnwatchAll() {
  for (const auto& [fd, events] : fds_) {
    ssh_event_remove_fd(event_, fd);
    if (worker_) worker_->Unwatch(fd);
  }
  fds_.clear();
  if (worker_ && session_fd_ >= 0) worker_->Unwatch(session_fd_);
  session_fd_ = -1;
}

// ---------------------------------------------------------------- Worker

Worker::Worker(int index) : index_(index) {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // the wake fd
  epoll_ctl(epfd_, EPOLL_CTL_ADD, wake_fd_, &ev);
}

Worker::~Worker() {
  Stop();
  Join();
  if (wake_fd_ >= 0) close(wake_fd_);
  if (epfd_ >= 0) close(epfd_);
}

void Worker::Start() { thread_ = std::thread([this] { Run(); }); }

void Worker::Join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::Post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back(std::move(task));
  }
  uint64_t one = 1;
  ssize_t n = write(wake_fd_, &one, sizeof one);
  (void)n;
}

void Worker::Poke(Driven* d) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    pokes_.push_back(d);
  }
  uint64_t one = 1;
  ssize_t n = write(wake_fd_, &one, sizeof one);
  (void)n;
}

void Worker::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  uint64_t one = 1;
  ssize_t n = write(wake_fd_, &one, sizeof one);
  (void)n;
}

void Worker::Adopt(std::unique_ptr<Driven> d, int64_t now_ms) {
  Driven* raw = d.get();
  driven_.emplace(raw, std::move(d));
  load_.store(driven_.size(), std::memory_order_relaxed);
  StepOne(raw, now_ms);
}

void Worker::Watch(int fd, uint32_t events, Driven* d) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = d;
  if (epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) != 0 && errno == ENOENT) {
    epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
  }
}

void Worker::Unwatch(int fd) { epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr); }

void Worker::SetTimer(Driven* d, int64_t at_ms) {
  auto it = timer_of_.find(d);
  if (it != timer_of_.end()) {
    if (it->second->first == at_ms) return;
    timers_.erase(it->second);
    timer_of_.erase(it);
  }
  if (at_ms > 0) timer_of_[d] = timers_.emplace(at_ms, d);
}

int64_t Worker::NextTimer() const { return timers_.empty() ? 0 : timers_.begin()->first; }

void Worker::StepOne(Driven* d, int64_t now) {
  auto it = driven_.find(d);
  if (it == driven_.end()) return;  // ended earlier in this round
  if (d->Step(now)) return;
  SetTimer(d, 0);
  driven_.erase(it);  // destroys it; it removed its descriptors
  load_.store(driven_.size(), std::memory_order_relaxed);
}

void Worker::RunTasks() {
  std::vector<std::function<void()>> tasks;
  std::vector<Driven*> pokes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks.swap(tasks_);
    pokes.swap(pokes_);
  }
  for (auto& t : tasks) t();
  int64_t now = SteadyMs();
  std::sort(pokes.begin(), pokes.end());
  pokes.erase(std::unique(pokes.begin(), pokes.end()), pokes.end());
  for (Driven* d : pokes) StepOne(d, now);
}

void Worker::Run() {
  constexpr int kMaxEvents = 256;
  epoll_event events[kMaxEvents];
  while (true) {
    bool stopping;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping = stopping_ && tasks_.empty() && pokes_.empty();
    }
    if (stopping && driven_.empty()) return;
    int64_t now = SteadyMs();
    int64_t next = NextTimer();
    int timeout = next == 0 ? 60'000 : static_cast<int>(std::max<int64_t>(0, next - now));
    if (stopping) timeout = std::min(timeout, 100);
    int n = epoll_wait(epfd_, events, kMaxEvents, timeout);
    if (n < 0 && errno != EINTR) return;
    now = SteadyMs();
    bool wake = false;
    for (int i = 0; i < n; ++i) {
      auto* d = static_cast<Driven*>(events[i].data.ptr);
      if (d == nullptr) {
        uint64_t v;
        ssize_t r = read(wake_fd_, &v, sizeof v);
        (void)r;
        wake = true;
        continue;
      }
      StepOne(d, now);
    }
    if (wake) RunTasks();
    // Timers due.
    now = SteadyMs();
    while (!timers_.empty() && timers_.begin()->first <= now) {
      Driven* d = timers_.begin()->second;
      timer_of_.erase(d);
      timers_.erase(timers_.begin());
      StepOne(d, now);
    }
  }
}

}  // namespace hopgate::proxy
