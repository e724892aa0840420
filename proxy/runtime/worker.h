// Workers: the threads that drive client connections. A worker owns many
// connections; each connection keeps its own small libssh event (its session
// socket and the sockets of its channels), and the worker watches every one
// of those descriptors with a single epoll set, so a wakeup costs one poll of
// the few descriptors of the connection that is ready, however many
// connections the worker holds. A connection never moves between workers
// (libssh: a session belongs to one thread at a time).
//
// Threading: Post() and Poke() may be called from any thread; everything
// else runs on the worker's own thread. A Driven object is created, driven
// and destroyed there.
#pragma once

#include <libssh/libssh.h>
#include <sys/epoll.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace hopgate::proxy {

class Worker;

// Something a worker drives (a client connection).
class Driven {
 public:
  virtual ~Driven() = default;
  // One of its descriptors is ready, its timer fired, or it was poked: do
  // what there is to do, without blocking. Returns false when it has ended
  // (the worker then destroys it).
  virtual bool Step(int64_t now_ms) = 0;
};

// The descriptors of one libssh event, mirrored into the worker's epoll set
// with the same interest, so the worker knows which event to poll. Every fd
// a Driven adds to its ssh_event goes through here. Worker thread only.
class EventFds {
 public:
  // `worker` may be null: then only the ssh_event is changed (threads that
  // run their own loop, such as upstream links).
  EventFds(ssh_event event, Worker* worker, Driven* owner)
      : event_(event), worker_(worker), owner_(owner) {}
  ssh_event event() const { return event_; }
  // Adds `fd` with `events` (POLLIN/POLLOUT) or changes its interest; 0
  // removes it. `cb` is libssh's fd callback.
  bool Set(int fd, short events, ssh_event_callback cb, void* userdata);
  void Remove(int fd) { Set(fd, 0, nullptr, nullptr); }
  // The session socket: libssh polls it itself; the worker watches it for
  // input, and for output while `write_pending`.
  void WatchSession(int fd, bool write_pending);
  void UnwatchAll();

 private:
  ssh_event event_;
  Worker* worker_;
  Driven* owner_;
  std::map<int, short> fds_;  // fd -> events registered with the ssh_event
  int session_fd_ = -1;
  bool session_out_ = false;
};

class Worker {
 public:
  explicit Worker(int index);
  ~Worker();  // Stop(), then joins
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  int index() const { return index_; }
  void Start();
  // Any thread: runs `task` on the worker's thread.
  void Post(std::function<void()> task);
  // Any thread: steps `d` soon, if the worker still drives it.
  void Poke(Driven* d);
  // Any thread: no new work; the thread ends once every Driven has ended
  // (the caller asks them to end first).
  void Stop();
  void Join();
  // Connections driven now (any thread; approximate).
  size_t load() const { return load_.load(std::memory_order_relaxed); }

  // Worker thread only.
  void Adopt(std::unique_ptr<Driven> d, int64_t now_ms);
  void Watch(int fd, uint32_t events, Driven* d);
  void Unwatch(int fd);
  void SetTimer(Driven* d, int64_t at_ms);  // 0 cancels
  bool Drives(Driven* d) const { return driven_.count(d) > 0; }

 private:
  void Run();
  void RunTasks();
  void StepOne(Driven* d, int64_t now);
  int64_t NextTimer() const;

  const int index_;
  int epfd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;
  std::atomic<size_t> load_{0};

  std::mutex mu_;  // guards the queues below
  std::vector<std::function<void()>> tasks_;
  std::vector<Driven*> pokes_;
  bool stopping_ = false;

  // Worker thread only.
  std::map<Driven*, std::unique_ptr<Driven>> driven_;
  std::multimap<int64_t, Driven*> timers_;
  std::map<Driven*, std::multimap<int64_t, Driven*>::iterator> timer_of_;
};

}  // namespace hopgate::proxy
