// Where audit events go. `Sink` is the interface; FileSink appends JSON lines
// to a file (one write(2) per event, so each line reaches the kernel before
// Write returns), MemorySink keeps them for tests. Implementations are
// thread-safe: connection threads write concurrently.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "audit/events.h"
#include "common/result.h"

namespace hopgate::audit {

class Sink {
 public:
  virtual ~Sink() = default;
  // Records one event. An error means the event is not durable: callers that
  // must not proceed unaudited refuse the action.
  virtual Status Write(const Event& event) = 0;
  // True while the last write succeeded (for /healthz).
  virtual bool Healthy() const = 0;
};

class FileSink : public Sink {
 public:
  // Opens (creating with mode 0600) `path` for appending.
  static Result<std::unique_ptr<FileSink>> Open(const std::string& path);
  ~FileSink() override;

  Status Write(const Event& event) override;
  bool Healthy() const override { return healthy_.load(std::memory_order_relaxed); }
  // Reopens the path (after log rotation).
  Status Reopen();
  // The one health state of the log, for /healthz and the metrics alike:
  // true while the last write succeeded and `path` names the file being
  // written. A log renamed or deleted without a SIGHUP (a logrotate that
  // forgot postrotate) is reopened here, so events go on reaching the path;
  // `*reopened` says so. Otherwise `*why` says what is wrong. Writes nothing.
  bool Check(std::string* why, bool* reopened = nullptr);

 private:
  explicit FileSink(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}

  std::string path_;
  std::mutex mu_;
  int fd_;
  std::atomic<bool> healthy_{true};
  std::string last_error_;  // of the last failed write or reopen (under mu_)
  bool detached_ = false;   // the path no longer names a file we can write (under mu_)
};

class MemorySink : public Sink {
 public:
  Status Write(const Event& event) override;
  bool Healthy() const override { return true; }
  std::vector<nlohmann::json> Events() const;

 private:
  mutable std::mutex mu_;
  std::vector<nlohmann::json> events_;
};

// Stamps events with the time and a connection id and hands them to a Sink;
// counts outcomes through an optional observer (metrics).
class Log {
 public:
  using Clock = std::function<int64_t()>;  // Unix milliseconds
  using Observer = std::function<void(const char* type, bool ok)>;

  Log(std::shared_ptr<Sink> sink, Clock clock) : sink_(std::move(sink)), clock_(std::move(clock)) {}

  Status Record(const std::string& connection, Body body);
  bool Healthy() const { return sink_->Healthy(); }
  Sink& sink() { return *sink_; }
  void set_observer(Observer o) { observer_ = std::move(o); }
  int64_t Now() const { return clock_(); }

 private:
  std::shared_ptr<Sink> sink_;
  Clock clock_;
  Observer observer_;
};

}  // namespace hopgate::audit
