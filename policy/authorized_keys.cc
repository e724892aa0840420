#include "policy/authorized_keys.h"

#include <ctime>

#include "certs/key.h"
#include "common/encoding.h"
#include "common/strings.h"
#include "common/wire.h"

namespace hopgate::policy {
namespace {

bool IsKeyTypeName(std::string_view word) {
  static constexpr std::string_view kTypes[] = {
      "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
      "ecdsa-sha2-nistp521", "ssh-dss", "sk-ssh-ed25519@openssh.com",
      "sk-ecdsa-sha2-nistp256@openssh.com"};
  for (auto t : kTypes) {
    if (word == t) return true;
  }
  return word.find("-cert-v01@openssh.com") != std::string_view::npos;
}

// Splits `[options]` off the front of a line. Options end at the first
// unquoted space or tab.
Result<std::string_view> TakeOptions(std::string_view* line) {
  bool quoted = false;
  size_t i = 0;
  for (; i < line->size(); ++i) {
    char c = (*line)[i];
    if (c == '\\' && quoted && i + 1 < line->size()) {
      ++i;
      continue;
    }
    if (c == '"') quoted = !quoted;
    if (!quoted && (c == ' ' || c == '\t')) break;
  }
  if (quoted) return Error{"unterminated quote in options"};
  std::string_view opts = line->substr(0, i);
  *line = Trim(line->substr(i));
  return opts;
}

struct Option {
  std::string name;
  std::optional<std::string> value;
};

Result<std::vector<Option>> SplitOptions(std::string_view text) {
  std::vector<Option> out;
  size_t i = 0;
  while (i < text.size()) {
    Option opt;
    size_t start = i;
    while (i < text.size() && text[i] != ',' && text[i] != '=') ++i;
    opt.name = ToLower(text.substr(start, i - start));
    if (opt.name.empty()) return Error{"empty option"};
    if (i < text.size() && text[i] == '=') {
      ++i;
      if (i >= text.size() || text[i] != '"') {
        return Error{"value of option \"" + opt.name + "\" must be in double quotes"};
      }
      ++i;
      std::string value;
      bool closed = false;
      while (i < text.size()) {
        char c = text[i++];
        if (c == '\\' && i < text.size() && text[i] == '"') {
          value.push_back('"');
          ++i;
        } else if (c == '"') {
          closed = true;
          break;
        } else {
          value.push_back(c);
        }
      }
      if (!closed) return Error{"unterminated value of option \"" + opt.name + "\""};
      opt.value = std::move(value);
    }
    if (i < text.size()) {
      if (text[i] != ',') return Error{"expected ',' after option \"" + opt.name + "\""};
      ++i;
      if (i == text.size()) return Error{"trailing ',' in options"};
    }
    out.push_back(std::move(opt));
  }
  return out;
}

// An error unless option `o` has a value.
Status NeedValue(const Option& o) {
  if (!o.value) return Error{"option \"" + o.name + "\" needs a value"};
  return Status::Ok();
}

// An error when option `o` has a value.
Status NoValue(const Option& o) {
  if (o.value) return Error{"option \"" + o.name + "\" takes no value"};
  return Status::Ok();
}

// Applies `o` when it is a flag: restrict, a no-* option, or a positive
// keyword (which only re-enables after restrict). Returns false when `o` is
// not a flag.
bool ApplyFlag(const Option& o, bool restrict, Restrictions* r) {
  if (o.name == "restrict") {
    // applied before the loop
  } else if (o.name == "no-port-forwarding") {
    r->port_forwarding = false;
  } else if (o.name == "no-pty") {
    r->pty = false;
  } else if (o.name == "no-agent-forwarding") {
    r->agent_forwarding = false;
  } else if (o.name == "no-x11-forwarding") {
    r->x11_forwarding = false;
  } else if (o.name == "no-user-rc") {
    r->user_rc = false;
  } else if (o.name == "port-forwarding") {
    if (restrict) r->port_forwarding = true;
  } else if (o.name == "pty") {
    if (restrict) r->pty = true;
  } else if (o.name == "agent-forwarding") {
    if (restrict) r->agent_forwarding = true;
  } else if (o.name == "x11-forwarding") {
    if (restrict) r->x11_forwarding = true;
  } else if (o.name == "user-rc") {
    if (restrict) r->user_rc = true;
  } else {
    return false;
  }
  return true;
}

// Applies an option that is not a flag: command, from, permitopen,
// permitlisten or expiry-time. Unsupported and unknown options are errors.
Status ApplyValueOption(const Option& o, bool* seen_command, Restrictions* r) {
  if (o.name == "command") {
    if (Status st = NeedValue(o); !st) return st;
    if (*seen_command) return Error{"option \"command\" given twice"};
    *seen_command = true;
    r->force_command = *o.value;
  } else if (o.name == "from") {
    if (Status st = NeedValue(o); !st) return st;
    auto m = AddressMatcher::Parse(*o.value);
    if (!m) return Error{"from=\"" + *o.value + "\": " + m.message()};
    r->from = *m;
  } else if (o.name == "permitopen") {
    if (Status st = NeedValue(o); !st) return st;
    auto p = OpenPattern::Parse(*o.value);
    if (!p) return Error{"permitopen=\"" + *o.value + "\": " + p.message()};
    if (!r->permit_open) r->permit_open.emplace();
    r->permit_open->push_back(*p);
  } else if (o.name == "permitlisten") {
    if (Status st = NeedValue(o); !st) return st;
    auto p = ListenPattern::Parse(*o.value);
    if (!p) return Error{"permitlisten=\"" + *o.value + "\": " + p.message()};
    if (!r->permit_listen) r->permit_listen.emplace();
    r->permit_listen->push_back(*p);
  } else if (o.name == "expiry-time") {
    if (Status st = NeedValue(o); !st) return st;
    auto t = ParseExpiryTime(*o.value);
    if (!t) return Error{"expiry-time=\"" + *o.value + "\": " + t.message()};
    r->expiry_time = *t;
  } else if (o.name == "cert-authority" || o.name == "principals") {
    return Error{"option \"" + o.name +
                 "\" is not supported; trust user CAs with authentication.trusted_user_ca_keys"};
  } else if (o.name == "environment" || o.name == "tunnel" || o.name == "no-touch-required" ||
             o.name == "verify-required") {
    return Error{"option \"" + o.name + "\" is not supported by hopgate"};
  } else {
    return Error{"unknown option \"" + o.name + "\""};
  }
  return Status::Ok();
}

Status ApplyOptions(const std::vector<Option>& options, Restrictions* r) {
  bool restrict = false;
  bool seen_command = false;
  // restrict turns everything off; the positive keywords re-enable, in any
  // order, as in OpenSSH.
  for (const auto& o : options) restrict |= o.name == "restrict";
  if (restrict) {
    r->port_forwarding = r->pty = r->agent_forwarding = r->x11_forwarding = r->user_rc = false;
  }
  for (const auto& o : options) {
    Status st = ApplyFlag(o, restrict, r) ? NoValue(o) : ApplyValueOption(o, &seen_command, r);
    if (!st) return st;
  }
  return Status::Ok();
}

}  // namespace

Result<AddressMatcher> AddressMatcher::Parse(std::string_view text) {
  AddressMatcher m;
  m.text = std::string(text);
  for (const auto& raw : Split(text, ',')) {
    std::string_view item = Trim(raw);
    Entry e;
    if (!item.empty() && item[0] == '!') {
      e.negated = true;
      item.remove_prefix(1);
    }
    if (item.empty()) return Error{"empty address pattern"};
    if (item.find('/') != std::string_view::npos) {
      auto c = Cidr::Parse(item);
      if (!c) return Error{c.message()};
      e.cidr = *c;
    } else {
      for (char c : item) {
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                  c == '.' || c == ':' || c == '*' || c == '?';
        if (!ok) {
          return Error{"\"" + std::string(item) +
                       "\": only addresses, address globs and CIDRs are supported (no host names)"};
        }
      }
      e.glob = ToLower(item);
    }
    m.entries.push_back(std::move(e));
  }
  if (m.entries.empty()) return Error{"empty address list"};
  return m;
}

bool AddressMatcher::Matches(const IpAddress& addr_in) const {
  IpAddress addr = addr_in.Unmapped();
  std::string text = addr.ToString();
  bool positive = false;
  for (const auto& e : entries) {
    bool hit = e.cidr ? e.cidr->Contains(addr) : GlobMatchNoCase(e.glob, text);
    if (hit && e.negated) return false;
    if (hit) positive = true;
  }
  return positive;
}

Result<int64_t> ParseExpiryTime(std::string_view text) {
  std::string_view t = text;
  if (!t.empty() && (t.back() == 'Z' || t.back() == 'z')) t.remove_suffix(1);
  if (t.size() != 8 && t.size() != 12 && t.size() != 14) {
    return Error{"expected YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS"};
  }
  for (char c : t) {
    if (c < '0' || c > '9') return Error{"expected digits"};
  }
  auto num = [&](size_t pos, size_t len) { return std::stoi(std::string(t.substr(pos, len))); };
  struct tm tm = {};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(4, 2) - 1;
  tm.tm_mday = num(6, 2);
  if (t.size() >= 12) {
    tm.tm_hour = num(8, 2);
    tm.tm_min = num(10, 2);
  }
  if (t.size() == 14) tm.tm_sec = num(12, 2);
  if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 59) {
    return Error{"date or time out of range"};
  }
  return static_cast<int64_t>(timegm(&tm));
}

Result<AuthorizedKey> ParseAuthorizedKeyLine(std::string_view line_in, std::string_view where,
                                             int min_rsa_bits) {
  std::string_view line = Trim(line_in);
  AuthorizedKey key;
  key.restrictions.source = std::string(where);
  std::string_view first = line.substr(0, line.find_first_of(" \t"));
  if (!IsKeyTypeName(first)) {
    auto opts = TakeOptions(&line);
    if (!opts) return Error{opts.message()};
    auto parsed = SplitOptions(*opts);
    if (!parsed) return Error{parsed.message()};
    Status st = ApplyOptions(*parsed, &key.restrictions);
    if (!st) return Error{st.message()};
    key.has_options = true;
  }
  size_t sp = line.find_first_of(" \t");
  std::string_view type = line.substr(0, sp);
  if (type.empty()) return Error{"missing key type"};
  if (!IsKeyTypeName(type)) return Error{"unknown key type \"" + std::string(type) + "\""};
  if (type.find("-cert-v01@openssh.com") != std::string_view::npos) {
    return Error{"certificates cannot be listed as keys; trust the CA instead"};
  }
  if (type == "ssh-dss") return Error{"DSA keys are not accepted"};
  std::string_view rest = sp == std::string_view::npos ? "" : Trim(line.substr(sp));
  size_t sp2 = rest.find_first_of(" \t");
  std::string_view b64 = rest.substr(0, sp2);
  if (b64.empty()) return Error{"missing base64 key after \"" + std::string(type) + "\""};
  key.comment = sp2 == std::string_view::npos ? "" : std::string(Trim(rest.substr(sp2)));
  auto blob = Base64Decode(b64);
  if (!blob) return Error{"key is not valid base64: " + blob.message()};
  WireReader r(*blob);
  std::string_view blob_type;
  if (!r.ReadString(&blob_type, 64)) return Error{"key blob is malformed"};
  if (blob_type != type) {
    return Error{"key type \"" + std::string(type) + "\" does not match the key's own type \"" +
                 std::string(blob_type) + "\""};
  }
  auto parsed = certs::ParsePublicKeyBlob(*blob);
  if (!parsed) return Error{"invalid " + std::string(type) + " key: " + parsed.message()};
  if (parsed->type == certs::KeyType::kRsa && parsed->Bits() < min_rsa_bits) {
    return Error{"RSA key of " + std::to_string(parsed->Bits()) + " bits is too small (minimum " +
                 std::to_string(min_rsa_bits) + ", authentication.min_rsa_bits)"};
  }
  key.type = std::string(type);
  key.blob = parsed->blob;  // canonical
  return key;
}

std::vector<AuthorizedKey> ParseAuthorizedKeysFile(std::string_view text, Diagnostics* diags,
                                                   int min_rsa_bits) {
  std::vector<AuthorizedKey> keys;
  int lineno = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? text.npos : nl - pos);
    ++lineno;
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    std::string_view trimmed = Trim(line);
    if (trimmed.empty() || trimmed[0] == '#') continue;
    int col = static_cast<int>(line.find_first_not_of(" \t")) + 1;
    SourceLocation loc{diags->file(), lineno, col};
    auto key = ParseAuthorizedKeyLine(trimmed, loc.ToString(), min_rsa_bits);
    if (!key) {
      diags->Error(loc, key.message());
      continue;
    }
    key->location = loc;
    keys.push_back(std::move(*key));
  }
  return keys;
}

}  // namespace hopgate::policy
