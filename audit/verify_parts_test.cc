// The pieces under audit verify and export: the fast line scanner agrees
// with a real JSON parser, the proof tree with merkle.h, allowed_signers
// parsing names the bad line, session ids and membership.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "audit/bundle.h"
#include "audit/file_digest.h"
#include "audit/line_scan.h"
#include "audit/merkle.h"
#include "audit/proof_tree.h"
#include "audit/trust.h"
#include "certs/private_key.h"
#include "common/encoding.h"

using namespace hopgate;
using namespace hopgate::audit;

TEST_CASE("line scan: valid and invalid JSON as a real parser sees it") {
  const char* cases[] = {
      R"({"seq":1,"prev":"ab","type":"auth"})",
      R"({ "a" : [1, 2.5e-3, -0, true, false, null, {"b":{}} ], "seq" : 7 })",
      R"({"s":"esc \" \\ \/ \b \f \n \r \t \u00e9 and a long run of plain text here"})",
      R"({"utf8":"héllo wörld ✓ long enough to take the eight byte path"})",
      R"({})",
      R"({"a":1,})",
      R"({"a":01})",
      R"({"a":1.})",
      R"({"a":"\x"})",
      R"({"a":"\u12G4"})",
      R"({"a":tru})",
      R"({"a":1} x)",
      R"({"a":1)",
      R"({"a" 1})",
      R"([1,2])",
      R"("just a string")",
      R"({"a":"unterminated)",
      "{\"a\":\"raw\ttab\"}",
      "{\"a\":\"raw\x01control in a long string......\"}",
      R"({"a":[1,2,]})",
      R"({"a":-})",
      R"({"a":1e})",
      "",
  };
  for (const char* c : cases) {
    INFO(c);
    LineFields f;
    bool parser_ok = nlohmann::json::accept(c);
    CHECK((ScanLine(c, &f) == nullptr) == (parser_ok && std::string(c).find('{') == 0));
  }
}

TEST_CASE("line scan: the members the verifier reads, and only top-level ones") {
  LineFields f;
  std::string line =
      R"({"connection":"c1","inner":{"seq":99,"type":"fake"},"prev":"00ff","s":"\"seq\":5","seq":42,"session":"c1-0","channel":3,"type":"session_close"})";
  REQUIRE(ScanLine(line, &f) == nullptr);
  CHECK(f.has_seq);
  CHECK(f.seq == 42);
  CHECK(f.prev == "00ff");
  CHECK(f.type == "session_close");
  CHECK(f.connection == "c1");
  CHECK(f.session == "c1-0");
  CHECK(f.has_channel);
  CHECK(f.channel == 3);
  CHECK(std::string(ScanLine(R"({"seq":1,"seq":2})", &f)) == "duplicate \"seq\"");
  CHECK(std::string(ScanLine(R"({"seq":"1"})", &f)) == "\"seq\" is not a non-negative integer");
  CHECK(std::string(ScanLine(R"({"seq":-1})", &f)) == "\"seq\" is not a non-negative integer");
  CHECK(std::string(ScanLine(R"({"seq":1.5})", &f)) == "\"seq\" is not a non-negative integer");
  CHECK(std::string(ScanLine(R"({"seq":99999999999999999999})", &f)) ==
        "\"seq\" is not a non-negative integer");
  CHECK(std::string(ScanLine(R"({"seq":x})", &f)) == "not valid JSON");
  CHECK(std::string(ScanLine(R"({"type":1})", &f)) == "\"type\" is not a string");
  CHECK(std::string(ScanLine(R"([1])", &f)) == "not a JSON object");
  CHECK(std::string(ScanLine(R"({"a":{"b":{"c":)", &f)) == "not valid JSON");
  std::string deep(100, '[');
  CHECK(std::string(ScanLine("{\"a\":" + deep + std::string(100, ']') + "}", &f)) == "not valid JSON");
}

TEST_CASE("line hashes are merkle.h's leaf hash and the plain SHA-256") {
  std::string leaf, plain;
  for (std::string line : {std::string(), std::string("{\"a\":1}"), std::string(1000, 'x')}) {
    LineHashes(line, &leaf, &plain);
    CHECK(leaf == LeafHash(line));
    CHECK(plain == Sha256(line));
  }
}

TEST_CASE("proof tree: roots and inclusion proofs equal merkle.h's, for every size to 70") {
  std::vector<Hash> leaves;
  std::string flat;
  for (int n = 1; n <= 70; ++n) {
    leaves.push_back(LeafHash("leaf " + std::to_string(n)));
    flat += leaves.back();
    ProofTree tree(flat);
    REQUIRE(tree.size() == static_cast<uint64_t>(n));
    CHECK(tree.Root() == RootOf(leaves));
    for (int i = 0; i < n; ++i) {
      auto proof = tree.InclusionProof(i);
      CHECK(proof == InclusionProof(leaves, i, n));
      CHECK(VerifyInclusion(leaves[i], i, n, proof, tree.Root()));
    }
  }
}

TEST_CASE("allowed_signers: options, comments, skipped key types, errors naming the line") {
  auto key = certs::GenerateEd25519();
  REQUIRE(key.ok());
  std::string k = key->Public().ToLine();
  auto ok = TrustedKeys::FromAllowedSigners(
      "# comment\n\n  hopgate/gw1,hopgate/gw2 " + k + " laptop\n"
      "* namespaces=\"hopgate-audit,git\",valid-after=\"202601010000\" " + k + "\n"
      "* sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIA== x\n",
      "as");
  REQUIRE(ok.ok());
  REQUIRE(ok->signers().size() == 2);
  CHECK(ok->signers()[1].namespaces == "hopgate-audit,git");
  CHECK(ok->Check(key->Public(), "hopgate/gw2", "hopgate-audit", 1795168800).ok());
  CHECK(ok->Check(key->Public(), "hopgate/gw2", "hopgate-audit", 0).ok());  // line 3: no period
  CHECK(ok->Check(key->Public(), "other", "hopgate-audit", 1795168800).ok());
  auto early = ok->Check(key->Public(), "other", "hopgate-audit", 0);
  REQUIRE(!early.ok());
  CHECK(early.message() == "signed by " + key->Public().Fingerprint() +
                               ", trusted only in another period (valid-after/valid-before) "
                               "(allowed signers as)");
  CHECK(!ok->Check(key->Public(), "other", "ssh", 1795168800).ok());
  auto stranger = certs::GenerateEd25519();
  CHECK(!ok->Check(stranger->Public(), "hopgate/gw1", "hopgate-audit", 1795168800).ok());
  auto bad = TrustedKeys::FromAllowedSigners("# x\n* frobnicate=\"1\" " + k + "\n", "as");
  REQUIRE(!bad.ok());
  CHECK(bad.message() == "as:2: invalid option \"frobnicate\"");
  bad = TrustedKeys::FromAllowedSigners("hopgate/gw1\n", "as");
  CHECK(bad.message() == "as:1: expected principals, then a key");
  bad = TrustedKeys::FromAllowedSigners("* valid-after=\"2026\" " + k + "\n", "as");
  CHECK(bad.message() == "as:1: valid-after: time \"2026\" is not YYYYMMDD[HHMM[SS]][Z]");
  bad = TrustedKeys::FromAllowedSigners("# nothing\n", "as");
  CHECK(bad.message() == "as: no signer keys in the allowed signers file");
  CHECK(MatchPatternList("hopgate/gw1", "a,hopgate/*") == 1);
  CHECK(MatchPatternList("hopgate/gw1", "*,!hopgate/gw1") == -1);
  CHECK(MatchPatternList("hopgate/gw1", "other") == 0);
}

TEST_CASE("session ids and which events belong to a session") {
  CHECK(ValidSessionId("c85d14e7c7ab0653a"));
  CHECK(ValidSessionId("c85d14e7c7ab0653a-0"));
  CHECK(!ValidSessionId("c85d14e7c7ab0653a-"));
  CHECK(!ValidSessionId("x85d14e7c7ab0653a"));
  CHECK(!ValidSessionId("c../../etc"));
  CHECK(!ValidSessionId("c1-0-0"));
  // The views point into the lines: keep them alive.
  std::vector<std::string> lines = {
      R"({"connection":"c1","type":"auth"})",
      R"({"connection":"c12","type":"auth"})",
      R"({"channel":0,"connection":"c1","type":"channel_open"})",
      R"({"channel":1,"connection":"c1","type":"channel_open"})",
      R"({"channel":2,"connection":"c1","session":"c1-1","type":"session_request"})",
      R"({"session":"c1-1","type":"recording_progress"})",
  };
  std::vector<LineFields> f(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) REQUIRE(ScanLine(lines[i], &f[i]) == nullptr);
  const LineFields &conn = f[0], &other = f[1], &ch0 = f[2], &ch1 = f[3], &sess = f[4],
                   &progress = f[5];
  CHECK(BelongsToSession(conn, "c1"));
  CHECK(!BelongsToSession(other, "c1"));
  CHECK(BelongsToSession(progress, "c1"));
  CHECK(BelongsToSession(conn, "c1-1"));
  CHECK(!BelongsToSession(ch0, "c1-1"));
  CHECK(BelongsToSession(ch1, "c1-1"));
  CHECK(BelongsToSession(sess, "c1-1"));
  CHECK(!BelongsToSession(sess, "c1-0"));
  CHECK(BelongsToSession(progress, "c1-1"));
}
