#include "audit/trust.h"

#include <time.h>

#include "certs/sshsig.h"
#include "common/strings.h"

namespace hopgate::audit {
namespace {

bool StartsWithNoCase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && ToLower(text.substr(0, prefix.size())) == prefix;
}

// Options come between the principals and the key; a key type name never
// holds '=', '"' or ',', nor is it "cert-authority".
bool IsOptionToken(std::string_view token) {
  return token.find_first_of("=\",") != std::string_view::npos ||
         StartsWithNoCase(token, "cert-authority");
}

// Splits off the first whitespace-delimited token (quotes keep spaces).
std::string_view NextToken(std::string_view* rest) {
  *rest = Trim(*rest);
  bool quoted = false;
  size_t i = 0;
  for (; i < rest->size(); ++i) {
    char c = (*rest)[i];
    if (c == '"') quoted = !quoted;
    if (!quoted && (c == ' ' || c == '\t')) break;
  }
  std::string_view token = rest->substr(0, i);
  *rest = Trim(rest->substr(i));
  return token;
}

// "YYYYMMDD", "YYYYMMDDHHMM" or "YYYYMMDDHHMMSS", optionally ending in "Z".
Result<int64_t> ParseSignerTime(std::string_view text) {
  if (!text.empty() && (text.back() == 'Z' || text.back() == 'z')) text.remove_suffix(1);
  if (text.size() != 8 && text.size() != 12 && text.size() != 14) {
    return Error{"time \"" + std::string(text) + "\" is not YYYYMMDD[HHMM[SS]][Z]"};
  }
  for (char c : text) {
    if (c < '0' || c > '9') return Error{"time \"" + std::string(text) + "\" is not a number"};
  }
  auto num = [&](size_t at, size_t n) { return std::stoi(std::string(text.substr(at, n))); };
  struct tm tm {};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(4, 2) - 1;
  tm.tm_mday = num(6, 2);
  if (text.size() >= 12) {
    tm.tm_hour = num(8, 2);
    tm.tm_min = num(10, 2);
  }
  if (text.size() == 14) tm.tm_sec = num(12, 2);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60) {
    return Error{"time \"" + std::string(text) + "\" is out of range"};
  }
  return static_cast<int64_t>(timegm(&tm));
}

// Reads the comma-separated options of one line into `s`.
Status ParseOptions(std::string_view opts, AllowedSigner* s) {
  while (!opts.empty()) {
    size_t end = 0;
    bool quoted = false;
    for (; end < opts.size() && (quoted || opts[end] != ','); ++end) {
      if (opts[end] == '"') quoted = !quoted;
    }
    if (quoted) return Error{"unterminated quote in options"};
    std::string_view opt = opts.substr(0, end);
    opts = end < opts.size() ? opts.substr(end + 1) : std::string_view();
    size_t eq = opt.find('=');
    std::string name = ToLower(opt.substr(0, eq));
    if (eq == std::string_view::npos) {
      if (name != "cert-authority") return Error{"invalid option \"" + std::string(opt) + "\""};
      s->cert_authority = true;
      continue;
    }
    std::string_view value = opt.substr(eq + 1);
    if (value.size() < 2 || value.front() != '"' || value.back() != '"') {
      return Error{"option " + name + " needs a quoted value"};
    }
    value = value.substr(1, value.size() - 2);
    if (name == "namespaces") {
      s->namespaces = std::string(value);
    } else if (name == "valid-after" || name == "valid-before") {
      auto t = ParseSignerTime(value);
      if (!t) return Error{name + ": " + t.message()};
      (name == "valid-after" ? s->valid_after : s->valid_before) = *t;
    } else {
      return Error{"invalid option \"" + name + "\""};
    }
  }
  return Status::Ok();
}

// One non-comment line; nullopt for a key type hopgate cannot verify (a
// FIDO or DSA key kept in a shared file), which can never match.
Result<std::optional<AllowedSigner>> ParseSignerLine(std::string_view line) {
  AllowedSigner s;
  std::string_view rest = line;
  s.principals = std::string(NextToken(&rest));
  if (s.principals.empty() || rest.empty()) return Error{"expected principals, then a key"};
  std::string_view peek = rest;
  std::string_view first = NextToken(&peek);
  if (IsOptionToken(first)) {
    Status st = ParseOptions(first, &s);
    if (!st) return st.error();
    rest = peek;
  }
  std::string_view type = rest.substr(0, rest.find_first_of(" \t"));
  if (certs::IsKnownUnsupportedKeyType(type)) return std::optional<AllowedSigner>();
  auto key = certs::ParsePublicKeyLine(rest);
  if (!key) return key.error();
  s.key = std::move(*key);
  return std::optional<AllowedSigner>(std::move(s));
}

}  // namespace

int MatchPatternList(std::string_view text, std::string_view list) {
  int result = 0;
  for (const auto& item : Split(list, ',')) {
    std::string_view pat = Trim(item);
    bool negated = !pat.empty() && pat[0] == '!';
    if (negated) pat.remove_prefix(1);
    if (pat.empty() || !GlobMatch(pat, text)) continue;
    if (negated) return -1;
    result = 1;
  }
  return result;
}

Result<TrustedKeys> TrustedKeys::FromAllowedSigners(std::string_view text,
                                                    const std::string& file) {
  TrustedKeys t;
  t.source_ = "allowed signers " + file;
  int number = 0;
  for (const auto& raw : Split(text, '\n')) {
    ++number;
    std::string_view line = Trim(raw);
    if (line.empty() || line[0] == '#') continue;
    auto s = ParseSignerLine(line);
    if (!s) {
      Error e{file + ":" + std::to_string(number) + ": " + s.message(), Code::kInvalidArgument};
      e.line = number;
      return e;
    }
    if (!*s) continue;
    (*s)->line = number;
    t.signers_.push_back(std::move(**s));
  }
  if (t.signers_.empty()) {
    return MakeError(Code::kInvalidArgument, file + ": no signer keys in the allowed signers file");
  }
  return t;
}

Result<TrustedKeys> TrustedKeys::FromPublicKeys(std::string_view text, const std::string& file) {
  auto keys = certs::ParsePublicKeyLines(text);
  if (!keys) {
    return MakeError(Code::kInvalidArgument,
                     file + (keys.error().line ? ":" + std::to_string(keys.error().line) : "") +
                         ": " + keys.message());
  }
  if (keys->empty()) return MakeError(Code::kInvalidArgument, file + ": no public key in it");
  TrustedKeys t;
  t.source_ = "key " + file;
  for (auto& k : *keys) {
    AllowedSigner s;
    s.principals = "*";
    s.key = std::move(k);
    t.signers_.push_back(std::move(s));
  }
  return t;
}

Status TrustedKeys::Check(const certs::PublicKey& key, std::string_view principal,
                          std::string_view name_space, int64_t now) const {
  std::string why = "not a trusted key";
  for (const auto& s : signers_) {
    if (s.cert_authority || !(s.key == key)) continue;
    if (MatchPatternList(principal, s.principals) != 1) {
      why = "not trusted for \"" + EscapeControl(principal) + "\"";
      continue;
    }
    if (!s.namespaces.empty() && MatchPatternList(name_space, s.namespaces) != 1) {
      why = "not trusted for namespace \"" + std::string(name_space) + "\"";
      continue;
    }
    if ((s.valid_after && now < *s.valid_after) || (s.valid_before && now >= *s.valid_before)) {
      why = "trusted only in another period (valid-after/valid-before)";
      continue;
    }
    return Status::Ok();
  }
  return MakeError(Code::kUnauthenticated,
                   "signed by " + key.Fingerprint() + ", " + why + " (" + source_ + ")");
}

Result<CheckpointText> VerifySignedCheckpoint(std::string_view text, std::string_view signature,
                                              const TrustedKeys& trusted, int64_t now) {
  auto parsed = ParseCheckpoint(text);
  if (!parsed) return MakeError(Code::kInvalidArgument, parsed.message());
  if (signature.empty()) return MakeError(Code::kUnauthenticated, "the checkpoint is not signed");
  auto sig = certs::SshSigVerify(signature, kCheckpointNamespace, text);
  if (!sig) return MakeError(Code::kUnauthenticated, sig.message());
  Status st = trusted.Check(sig->key, parsed->origin, kCheckpointNamespace, now);
  if (!st) return st.error();
  return parsed;
}

}  // namespace hopgate::audit
