// A fixed pool of threads for work that blocks (opening a route through jump
// hosts: SSH handshakes and logins one hop after another), so that no
// worker thread ever waits on it. Jobs run in the order given; each reports
// back by posting to the worker that asked (Connection::PostBack).
// Thread-safe. The destructor lets running jobs finish, drops queued ones
// and joins every thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hopgate::proxy {

class TaskPool {
 public:
  explicit TaskPool(size_t threads);
  ~TaskPool();
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  void Run(std::function<void()> job);
  // Stops taking jobs; queued ones are dropped (their owners time out).
  void Stop();

 private:
  void Work();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace hopgate::proxy
