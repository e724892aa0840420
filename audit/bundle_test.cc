// Export bundles: one session's events with inclusion proofs against a
// signed checkpoint, its recordings and a manifest. A bundle verifies
// offline with the auditor's key; a one-byte change in any of its files, a
// file added or removed, or another key, fails it naming the file.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "audit/bundle.h"
#include "audit/testing/test_log.h"
#include "audit/trust.h"
#include "audit/verify.h"

using namespace hopgate;
using namespace hopgate::audit;
using namespace hopgate::audit::testing;

namespace {

constexpr int64_t kNow = 1795168800;

struct World {
  TestLog t;
  std::string r1, r3;
  explicit World(const std::string& name) : t(FreshDir(name)) {
    t.Checkpoint("start");
    t.PassthroughConnection("c2000000000000002");
    r1 = t.RecordedConnection("c1000000000000001", 6000);
    t.PassthroughConnection("c5000000000000005");
    r3 = t.OpenRecordedConnection("c4000000000000004", 3000);
    t.Checkpoint("interval", {r3});
    t.GrowRecording(r3, 500);
    t.PassthroughConnection("c6000000000000006");  // after the last checkpoint
    t.Close();
  }
  std::vector<std::string> Files() const { return *OrderLogFiles(*LogFilesFor({t.log()})); }
  TrustedKeys Keys() const { return *TrustedKeys::FromPublicKeys(ReadAll(t.key_pub()), t.key_pub()); }
};

std::string All(const BundleReport& r) {
  std::string out;
  for (const auto& p : r.problems) out += "problem: " + p + "\n";
  for (const auto& n : r.notes) out += "note: " + n + "\n";
  return out;
}

BundleReport Check(const std::string& dir, const TrustedKeys& keys) {
  auto r = VerifyBundle(dir, keys, kNow);
  REQUIRE(r.ok());
  return *r;
}

}  // namespace

TEST_CASE("bundle: a recorded session's bundle verifies, and any one-byte change fails it") {
  World w("bundle-ok");
  std::string out = w.t.dir() + "/bundle";
  ExportOptions o;
  o.session = "c1000000000000001";
  o.out_dir = out;
  auto s = ExportBundle(w.Files(), o);
  INFO((s.ok() ? "" : s.message()));
  REQUIRE(s.ok());
  CHECK(s->events == 8);
  CHECK(s->recordings == 1);
  CHECK(s->origin == TestLog::kOrigin);
  // The lines are the log's, byte for byte.
  auto lines = Lines(w.t.log());
  for (const auto& l : Lines(out + "/events.jsonl")) {
    CHECK(std::find(lines.begin(), lines.end(), l) != lines.end());
    CHECK(l.find("c1000000000000001") != std::string::npos);
  }
  CHECK(ReadAll(out + "/recordings/c1000000000000001-0-0.cast") == ReadAll(w.r1));
  // The checkpoint is the first after the session's last event.
  auto manifest = nlohmann::json::parse(ReadAll(out + "/manifest.json"));
  CHECK(manifest["tree_size"] == s->tree_size);
  CHECK(manifest["session"] == "c1000000000000001");
  CHECK(manifest["files"].size() == 6);

  TrustedKeys keys = w.Keys();
  BundleReport r = Check(out, keys);
  INFO(All(r));
  CHECK(r.ok());
  CHECK(r.events == 8);
  CHECK(r.recordings == 1);
  CHECK(r.session == "c1000000000000001");

  for (const char* file : {"manifest.json", "events.jsonl", "proofs.jsonl", "checkpoint",
                           "checkpoint.sig", "README.txt", "recordings/c1000000000000001-0-0.cast"}) {
    for (double where : {0.0, 0.5, 0.999}) {
      std::string copy = w.t.dir() + "/copy";
      REQUIRE(system(("rm -rf '" + copy + "' && cp -a '" + out + "' '" + copy + "'").c_str()) == 0);
      std::string path = copy + "/" + file;
      size_t size = ReadAll(path).size();
      FlipByte(path, static_cast<size_t>(where * static_cast<double>(size - 1)));
      BundleReport bad = Check(copy, keys);
      INFO(file << " at " << where << "\n" << All(bad));
      REQUIRE(!bad.ok());
      bool named = false;
      for (const auto& p : bad.problems) named |= p.find(file) != std::string::npos;
      CHECK(named);
    }
  }
}

TEST_CASE("bundle: another key, an added or a missing file fail it") {
  World w("bundle-keys");
  std::string out = w.t.dir() + "/bundle";
  ExportOptions o;
  o.session = "c1000000000000001-0";
  o.out_dir = out;
  REQUIRE(ExportBundle(w.Files(), o).ok());
  auto other = certs::GenerateEd25519();
  std::string pub = w.t.dir() + "/other.pub";
  WriteAll(pub, other->PublicLine() + "\n");
  BundleReport r = Check(out, *TrustedKeys::FromPublicKeys(ReadAll(pub), pub));
  REQUIRE(r.problems.size() == 1);
  CHECK(r.problems[0] == "checkpoint.sig: signed by " + w.t.key().Public().Fingerprint() +
                             ", not a trusted key (key " + pub + ")");
  TrustedKeys keys = w.Keys();
  WriteAll(out + "/extra.txt", "x");
  r = Check(out, keys);
  REQUIRE(r.problems.size() == 1);
  CHECK(r.problems[0] == "extra.txt: not listed in manifest.json");
  REQUIRE(unlink((out + "/extra.txt").c_str()) == 0);
  REQUIRE(unlink((out + "/recordings/c1000000000000001-0-0.cast").c_str()) == 0);
  r = Check(out, keys);
  REQUIRE(r.problems.size() == 2);
  CHECK(r.problems[0] == "recordings/c1000000000000001-0-0.cast: missing");
  CHECK(r.problems[1].rfind("recordings/c1000000000000001-0-0.cast: recording missing (events.jsonl:", 0) == 0);
}

TEST_CASE("bundle: a session whose gateway was killed carries its verified prefix") {
  World w("bundle-killed");
  std::string out = w.t.dir() + "/bundle";
  ExportOptions o;
  o.session = "c4000000000000004";
  o.out_dir = out;
  auto s = ExportBundle(w.Files(), o);
  INFO((s.ok() ? "" : s.message()));
  REQUIRE(s.ok());
  REQUIRE(s->notes.size() == 1);
  BundleReport r = Check(out, w.Keys());
  INFO(All(r));
  CHECK(r.ok());
  REQUIRE(r.notes.size() == 1);
  CHECK(r.notes[0].rfind("recordings/c4000000000000004-0-0.cast: verified prefix of ", 0) == 0);
}

TEST_CASE("bundle: what cannot be exported says why") {
  World w("bundle-refused");
  ExportOptions o;
  o.out_dir = w.t.dir() + "/bundle";
  o.session = "c6000000000000006";  // after the last checkpoint
  auto s = ExportBundle(w.Files(), o);
  REQUIRE(!s.ok());
  CHECK(s.code() == Code::kFailedPrecondition);
  CHECK(s.message().rfind("no checkpoint after the session's last event (seq ", 0) == 0);
  o.session = "c9999999999999999";
  CHECK(ExportBundle(w.Files(), o).code() == Code::kNotFound);
  o.session = "../etc";
  CHECK(ExportBundle(w.Files(), o).code() == Code::kInvalidArgument);
  // A recording changed since: the export refuses rather than write a bundle that fails.
  FlipByte(w.r1);
  o.session = "c1000000000000001";
  s = ExportBundle(w.Files(), o);
  REQUIRE(!s.ok());
  CHECK(s.code() == Code::kDataLoss);
  CHECK(s.message().find("does not match the log; run hopctl audit verify") != std::string::npos);
  // The output directory must be new or empty.
  FlipByte(w.r1);
  WriteAll(w.t.dir() + "/full", "");
  mkdir((w.t.dir() + "/full2").c_str(), 0700);
  WriteAll(w.t.dir() + "/full2/x", "x");
  o.out_dir = w.t.dir() + "/full2";
  CHECK(ExportBundle(w.Files(), o).code() == Code::kAlreadyExists);
  o.out_dir = w.t.dir() + "/full";  // a file
  CHECK(ExportBundle(w.Files(), o).code() == Code::kAlreadyExists);
  struct stat st;
  CHECK(stat((w.t.dir() + "/bundle").c_str(), &st) != 0);  // the refused exports wrote nothing
}
