#include "audit/testing/test_log.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "audit/checkpoint.h"
#include "certs/sshsig.h"
#include "common/encoding.h"

namespace hopgate::audit::testing {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::vector<std::string> Lines(const std::string& path) {
  std::vector<std::string> out;
  std::istringstream in(ReadAll(path));
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

void WriteLines(const std::string& path, const std::vector<std::string>& lines) {
  std::string data;
  for (const auto& l : lines) data += l + "\n";
  WriteAll(path, data);
}

void FlipByte(const std::string& path, size_t offset) {
  std::string data = ReadAll(path);
  if (data.empty()) throw std::runtime_error(path + " is empty");
  size_t at = offset == SIZE_MAX ? data.size() / 2 : offset;
  data[at] = static_cast<char>(data[at] ^ 0x01);
  WriteAll(path, data);
}

std::string FreshDir(const std::string& name) {
  const char* tmp = getenv("TEST_TMPDIR");
  std::string dir = std::string(tmp ? tmp : "/tmp") + "/" + name;
  std::string cmd = "rm -rf '" + dir + "' && mkdir -p '" + dir + "'";
  if (system(cmd.c_str()) != 0) throw std::runtime_error("cannot make " + dir);
  return dir;
}

TestLog::TestLog(const std::string& dir, FileSinkOptions options)
    : dir_(dir), log_(dir + "/audit.jsonl"), recordings_(dir + "/recordings"),
      key_pub_(dir + "/audit_key.pub"), allowed_signers_(dir + "/allowed_signers") {
  mkdir(dir.c_str(), 0700);
  auto key = certs::GenerateEd25519("hopgate-audit");
  if (!key) throw std::runtime_error(key.message());
  key_ = std::make_unique<certs::PrivateKey>(std::move(*key));
  WriteAll(key_pub_, key_->PublicLine() + "\n");
  WriteAll(allowed_signers_, std::string(kOrigin) + " namespaces=\"hopgate-audit\" " +
                                 key_->Public().ToLine() + "\n");
  options.origin = kOrigin;
  const certs::PrivateKey* k = key_.get();
  options.signer = [k](std::string_view text) { return certs::SshSigSign(*k, kCheckpointNamespace, text); };
  options.clock = [this] { return now_ms_; };
  auto sink = FileSink::Open(log_, options);
  if (!sink) throw std::runtime_error(sink.message());
  sink_ = std::move(*sink);
}

TestLog::~TestLog() = default;

void TestLog::Close() { sink_.reset(); }

void TestLog::Event(const std::string& connection, Body body) {
  now_ms_ += 137;
  Status st = sink_->Write(audit::Event{now_ms_, connection, std::move(body)});
  if (!st) throw std::runtime_error(st.message());
}

std::string TestLog::WriteRecording(const std::string& session, uint32_t channel, size_t bytes) {
  std::string day = recordings_ + "/2026/11/20";
  std::string cmd = "mkdir -p '" + day + "'";
  if (system(cmd.c_str()) != 0) throw std::runtime_error("cannot make " + day);
  std::string path = day + "/" + session + "-" + std::to_string(channel) + ".cast";
  WriteAll(path, "{\"version\":2,\"width\":80,\"height\":24,\"timestamp\":1795168800}\n");
  GrowRecording(path, bytes);
  return path;
}

void TestLog::GrowRecording(const std::string& path, size_t bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  size_t written = 0;
  for (int i = 0; written < bytes; ++i) {
    std::string line = "[" + std::to_string(i) + ".5,\"o\",\"line " + std::to_string(i) +
                       " of the terminal's output\\r\\n\"]\n";
    out << line;
    written += line.size();
  }
}

void TestLog::PassthroughConnection(const std::string& c) {
  Event(c, ConnectionOpen{"198.51.100.7", 51234, "127.0.0.1:2222"});
  Auth a;
  a.user = "bob";
  a.client_addr = "198.51.100.7";
  a.method = "publickey";
  a.key_type = "ssh-ed25519";
  a.fingerprint = "SHA256:abc";
  a.success = true;
  Event(c, a);
  ChannelOpen o;
  o.kind = "direct-tcpip";
  o.destination = "web1:443";
  o.dial = "10.0.0.7:443";
  o.allow = true;
  o.rule = "bob-web";
  Event(c, o);
  ChannelClose cc;
  cc.kind = "direct-tcpip";
  cc.destination = "web1:443";
  cc.bytes_client_to_target = 1234;
  cc.reason = "eof";
  Event(c, cc);
  Event(c, ConnectionClose{"bob", "client closed", 1500, 1});
}

std::string TestLog::OpenRecordedConnection(const std::string& c, size_t recording_bytes) {
  Event(c, ConnectionOpen{"198.51.100.8", 40000, "127.0.0.1:2222"});
  Auth a;
  a.user = "alice";
  a.method = "publickey";
  a.success = true;
  Event(c, a);
  ChannelOpen o;
  o.kind = "direct-tcpip";
  o.destination = "db1:22";
  o.allow = true;
  o.recorded = true;
  o.rule = "alice-db";
  Event(c, o);
  SessionOpen so;
  so.session = c + "-0";
  so.user = "alice";
  so.login = "root";
  so.target = "db1:22";
  so.success = true;
  Event(c, so);
  SessionRequest req;
  req.session = c + "-0";
  req.request = "shell";
  req.allow = true;
  Event(c, req);
  return WriteRecording(c + "-0", 0, recording_bytes);
}

std::string TestLog::RecordedConnection(const std::string& c, size_t recording_bytes) {
  std::string path = OpenRecordedConnection(c, recording_bytes);
  SessionClose sc;
  sc.session = c + "-0";
  sc.kind = "session";
  sc.recording = path;
  std::string data = ReadAll(path);
  sc.recording_size = data.size();
  sc.recording_sha256 = Sha256Hex(data);
  sc.exit_status = 0;
  sc.reason = "closed by the target";
  Event(c, sc);
  ChannelClose cc;
  cc.kind = "direct-tcpip";
  cc.destination = "db1:22";
  cc.reason = "eof";
  Event(c, cc);
  Event(c, ConnectionClose{"alice", "client closed", 9000, 1});
  return path;
}

void TestLog::Checkpoint(const std::string& reason, const std::vector<std::string>& open_recordings) {
  std::vector<RecordingProgress> progress;
  for (const auto& path : open_recordings) {
    RecordingProgress p;
    std::string name = path.substr(path.rfind('/') + 1);
    p.session = name.substr(0, name.rfind('-'));
    p.path = path;
    std::string data = ReadAll(path);
    p.bytes = data.size();
    p.sha256 = Sha256Hex(data);
    progress.push_back(p);
  }
  now_ms_ += 1000;
  Status st = sink_->WriteCheckpoint(reason, progress);
  if (!st) throw std::runtime_error(st.message());
}

}  // namespace hopgate::audit::testing
