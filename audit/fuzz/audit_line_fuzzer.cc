// Fuzz target: what hopctl audit verify parses from a log someone may have
// tampered with, and from the auditor's trust files. The fast line scanner
// never reads out of bounds and agrees with nlohmann's parser on every line
// both accept (the members it reports are the parser's); the checkpoint text
// and allowed_signers parsers never crash. Under libFuzzer, from the root:
//   tests/fuzz.sh --seconds 60 audit_line_fuzzer
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "audit/checkpoint.h"
#include "audit/line_scan.h"
#include "audit/trust.h"

namespace {

void Check(bool ok) {
  if (!ok) abort();
}

void CheckAgainstParser(std::string_view line) {
  hopgate::audit::LineFields f;
  const char* bad = hopgate::audit::ScanLine(line, &f);
  auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  // Invalid UTF-8 is the parser's alone to refuse; escaped keys ("se\u0071")
  // are the parser's alone to decode.
  if (bad || j.is_discarded() || line.find('\\') != std::string_view::npos) return;
  Check(j.is_object());
  Check(f.has_seq == j.contains("seq"));
  if (f.has_seq) Check(j["seq"].is_number_unsigned() && j["seq"].get<uint64_t>() == f.seq);
  Check(f.has_type == j.contains("type"));
  if (f.has_type) Check(j["type"].is_string() && j["type"].get<std::string>() == f.type);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (size_t start = 0; start <= in.size();) {
    size_t nl = in.find('\n', start);
    CheckAgainstParser(in.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start));
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  (void)hopgate::audit::ParseCheckpoint(in);
  (void)hopgate::audit::TrustedKeys::FromAllowedSigners(in, "fuzz");
  return 0;
}
