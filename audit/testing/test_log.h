// Tamper-evident audit logs for tests and benchmarks, written by the real
// FileSink with a real Ed25519 checkpoint key: connections that look like
// the gateway's (passthrough and recorded, with recordings written here),
// signed checkpoints, recording_progress for recordings still open, and
// helpers to damage the files afterwards. Everything under one directory.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "audit/sink.h"
#include "certs/private_key.h"

namespace hopgate::audit::testing {

class TestLog {
 public:
  // Opens `dir`/audit.jsonl (dir is created) with a fresh signing key;
  // writes audit_key.pub and allowed_signers ("hopgate/test" only) beside it.
  explicit TestLog(const std::string& dir, FileSinkOptions options = {});
  ~TestLog();
  TestLog(const TestLog&) = delete;
  TestLog& operator=(const TestLog&) = delete;

  void Event(const std::string& connection, Body body);
  // A recording of about `bytes` bytes at recordings/2026/11/20/<session>-<channel>.cast.
  std::string WriteRecording(const std::string& session, uint32_t channel, size_t bytes);
  // Appends `bytes` more output to a recording (a session still running).
  void GrowRecording(const std::string& path, size_t bytes);
  // A recorded connection: its events and a closed recording; returns the
  // recording's path.
  std::string RecordedConnection(const std::string& connection, size_t recording_bytes);
  // A recorded connection whose session is still open (or whose gateway was
  // killed): no session_close; returns the recording's path.
  std::string OpenRecordedConnection(const std::string& connection, size_t recording_bytes);
  void PassthroughConnection(const std::string& connection);
  // A signed checkpoint, preceded by a recording_progress for each path.
  void Checkpoint(const std::string& reason, const std::vector<std::string>& open_recordings = {});
  void Close();  // closes the sink (a gateway that stopped)

  FileSink& sink() { return *sink_; }
  const std::string& dir() const { return dir_; }
  const std::string& log() const { return log_; }
  const std::string& recordings() const { return recordings_; }
  const std::string& key_pub() const { return key_pub_; }
  const std::string& allowed_signers() const { return allowed_signers_; }
  const certs::PrivateKey& key() const { return *key_; }
  static constexpr const char* kOrigin = "hopgate/test";

 private:
  std::string dir_, log_, recordings_, key_pub_, allowed_signers_;
  std::unique_ptr<certs::PrivateKey> key_;
  std::unique_ptr<FileSink> sink_;
  int64_t now_ms_ = 1795168800000;
};

std::string ReadAll(const std::string& path);
void WriteAll(const std::string& path, const std::string& data);
std::vector<std::string> Lines(const std::string& path);
void WriteLines(const std::string& path, const std::vector<std::string>& lines);
// Flips one byte (at `offset`, or the middle) of a file.
void FlipByte(const std::string& path, size_t offset = SIZE_MAX);
std::string FreshDir(const std::string& name);

}  // namespace hopgate::audit::testing
