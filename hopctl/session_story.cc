#include "hopctl/session_story.h"

#include <cstdio>
#include <map>

#include "common/strings.h"
#include "common/time_util.h"

namespace hopgate::hopctl {
namespace {

using nlohmann::json;

std::string S(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return "";
  if (it->is_string()) return Safe(it->get<std::string>());
  if (it->is_number() || it->is_boolean()) return it->dump();
  return "";
}

std::optional<int64_t> I(const json& j, const char* key) {
  auto it = j.find(key);
  if (it != j.end() && it->is_number_integer()) return it->get<int64_t>();
  return std::nullopt;
}

std::string List(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return "";
  std::string out;
  for (const auto& v : *it) {
    if (!v.is_string()) continue;
    out += (out.empty() ? "" : ", ") + Safe(v.get<std::string>());
  }
  return out;
}

std::string Quoted(const std::string& s) { return "\"" + s + "\""; }

// ", rule R (policy P)" / ": reason" after allow / deny.
std::string Decided(const json& j) {
  std::string decision = S(j, "decision");
  if (decision.empty()) decision = S(j, "result");
  std::string out = decision == "allow"     ? "allowed"
                    : decision == "deny"    ? "denied"
                    : decision == "success" ? "succeeded"
                    : decision == "failure" ? "failed"
                                            : decision;
  if (!S(j, "rule").empty()) out += " by rule " + S(j, "rule");
  if (!S(j, "policy_version").empty()) out += " (policy " + S(j, "policy_version") + ")";
  if (!S(j, "reason").empty()) out += ": " + S(j, "reason");
  return out;
}

std::string Bytes(const json& j) {
  std::string out;
  if (auto up = I(j, "bytes_client_to_target")) out += HumanBytes(static_cast<uint64_t>(*up)) + " up";
  if (auto down = I(j, "bytes_target_to_client")) {
    out += (out.empty() ? "" : ", ") + HumanBytes(static_cast<uint64_t>(*down)) + " down";
  }
  if (auto ms = I(j, "duration_ms")) out += (out.empty() ? "" : ", ") + HumanDuration(*ms);
  return out;
}

std::string Login(const json& j) {
  std::string out = "login as " + Quoted(S(j, "user")) + " ";
  bool ok = S(j, "result") == "success";
  out += ok ? "accepted: " : "refused: ";
  out += S(j, "method");
  if (!S(j, "key_type").empty()) out += " " + S(j, "key_type");
  if (!S(j, "fingerprint").empty()) out += " " + S(j, "fingerprint");
  auto cert = j.find("certificate");
  if (cert != j.end() && cert->is_object()) {
    out += "; certificate key id " + Quoted(S(*cert, "key_id")) + ", serial " + S(*cert, "serial") +
           ", CA " + S(*cert, "ca_fingerprint") + ", principals " + List(*cert, "principals") +
           ", valid " + S(*cert, "valid_after") + " to " + S(*cert, "valid_before");
  }
  if (!ok && !S(j, "reason").empty()) out += ": " + S(j, "reason");
  return out;
}

std::string ChannelOpenText(const json& j) {
  std::string out = "channel " + S(j, "channel") + " " + S(j, "kind");
  if (!S(j, "destination").empty()) out += " " + S(j, "destination");
  out += ": " + Decided(j);
  if (!S(j, "dial").empty()) out += "; dialled " + S(j, "dial");
  if (!List(j, "route").empty()) out += " via " + List(j, "route");
  if (!S(j, "failed_hop").empty()) out += "; failed at hop " + S(j, "failed_hop");
  if (!S(j, "error").empty()) out += "; could not be carried out: " + S(j, "error");
  if (j.contains("recorded") && j["recorded"].is_boolean() && j["recorded"].get<bool>()) {
    out += "; recorded";
  }
  if (auto n = I(j, "suppressed"); n && *n > 0) {
    out += " (and " + std::to_string(*n) + " more refused since the last one written)";
  }
  return out;
}

struct Teller {
  std::map<std::string, std::string> what;  // "session#channel" -> `exec "cmd"`, `shell`

  std::string Part(const json& j) { return S(j, "session") + " #" + S(j, "channel"); }

  std::string Request(const json& j) {
    std::string req = S(j, "request"), cmd = S(j, "command");
    std::string label = req == "exec" ? "exec " + Quoted(cmd) : cmd.empty() ? req : req + " " + cmd;
    std::string out = Part(j) + " " + label + ": " + Decided(j);
    if (!S(j, "forced_command").empty()) {
      out += "; forced command " + Quoted(S(j, "forced_command")) + " ran instead";
    }
    if (S(j, "decision") == "allow" &&
        (req == "shell" || req == "exec" || req == "subsystem" || req == "direct-tcpip")) {
      what[Part(j)] = label;
    }
    return out;
  }

  std::vector<std::string> Close(const json& j) {
    std::string label = what.count(Part(j)) ? what[Part(j)] : S(j, "kind");
    std::string out = Part(j) + " " + label + " ended";
    if (auto st = I(j, "exit_status")) out += ": exit status " + std::to_string(*st);
    if (!S(j, "exit_signal").empty()) out += ": signal " + S(j, "exit_signal");
    if (!Bytes(j).empty()) out += "; " + Bytes(j);
    if (!S(j, "reason").empty()) out += "; " + S(j, "reason");
    std::vector<std::string> lines = {out};
    if (!S(j, "recording").empty()) {
      lines.push_back("    recording " + S(j, "recording") + " sha256 " + S(j, "recording_sha256") +
                      " (" + S(j, "recording_size") + " bytes)");
    }
    return lines;
  }

  std::string Sftp(const json& j) {
    std::string op = S(j, "op");
    std::string out = Part(j) + " sftp " + op + " " + Quoted(S(j, "path"));
    if (!S(j, "new_path").empty()) out += " -> " + Quoted(S(j, "new_path"));
    if (!S(j, "mode").empty()) out += " (" + S(j, "mode") + ")";
    if (op == "close") {
      out += " read " + HumanBytes(static_cast<uint64_t>(I(j, "bytes_read").value_or(0))) +
             ", wrote " + HumanBytes(static_cast<uint64_t>(I(j, "bytes_written").value_or(0)));
    }
    return out + ": " + S(j, "status");
  }

  std::vector<std::string> Event(const json& j) {
    std::string type = S(j, "type");
    if (type == "connection_open") {
      return {"connected from " + S(j, "client_addr") + " port " + S(j, "client_port") + " to " +
              S(j, "listen")};
    }
    if (type == "auth") return {Login(j)};
    if (type == "channel_open") return {ChannelOpenText(j)};
    if (type == "channel_close") {
      return {"channel " + S(j, "channel") + " " + S(j, "kind") + " closed: " + Bytes(j) +
              (S(j, "reason").empty() ? "" : "; " + S(j, "reason"))};
    }
    if (type == "session_open") {
      bool ok = S(j, "result") == "success";
      std::string out = "recorded session " + S(j, "session") + ": login " + S(j, "login") + "@" +
                        S(j, "target") + (ok ? " succeeded" : " failed");
      if (!S(j, "rule").empty()) out += ", rule " + S(j, "rule");
      if (!S(j, "reason").empty()) out += (ok ? "; recorded because " : ": ") + S(j, "reason");
      if (!S(j, "upstream_key_id").empty()) out += "; certificate key id " + S(j, "upstream_key_id");
      return {out};
    }
    if (type == "session_request") return {Request(j)};
    if (type == "session_close") return Close(j);
    if (type == "sftp") return {Sftp(j)};
    if (type == "recording_failed") return {Part(j) + " recording failed: " + S(j, "error")};
    if (type == "session_limit") {
      return {"limit hit: " + S(j, "limit") + " (" + HumanDuration(I(j, "seconds").value_or(0) * 1000) +
              (S(j, "rule").empty() ? "" : ", rule " + S(j, "rule")) + ")"};
    }
    if (type == "credential_revoked") {
      return {"credential revoked: " + S(j, "reason") + " (" + S(j, "fingerprint") + ")"};
    }
    if (type == "connection_close") {
      return {"disconnected: " + S(j, "reason") + "; after " +
              HumanDuration(I(j, "duration_ms").value_or(0)) + ", channels: " + S(j, "channels")};
    }
    return {type + " " + Safe(j.dump(-1, ' ', false, json::error_handler_t::replace))};
  }
};

// "HH:MM:SS.mmm" of the event; a "-- YYYY-MM-DD --" line first when the
// day changes.
std::string Clock(const json& j, std::string* day, std::vector<std::string>* out) {
  std::string ts = S(j, "ts");
  if (ts.size() < 23) return std::string(12, ' ');
  std::string d = ts.substr(0, 10);
  if (d != *day) {
    *day = d;
    out->push_back("-- " + d + " --");
  }
  return ts.substr(11, 12);
}

}  // namespace

std::string Safe(const std::string& text) { return EscapeControl(text); }

std::string Field(const json& e, const char* key) {
  auto it = e.find(key);
  return it != e.end() && it->is_string() ? it->get<std::string>() : "";
}


std::string HumanDuration(int64_t ms) {
  if (ms < 0) ms = 0;
  char buf[32];
  int64_t s = ms / 1000;
  if (s < 60) {
    snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000);
  } else if (s < 3600) {
    snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  } else if (s < 86400) {
    snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
             static_cast<long long>(s / 60 % 60));
  } else {
    snprintf(buf, sizeof buf, "%lldd%02lldh", static_cast<long long>(s / 86400),
             static_cast<long long>(s / 3600 % 24));
  }
  return buf;
}

StoryScope ParseScope(const std::string& id) {
  StoryScope scope;
  size_t first = id.find('-');
  scope.connection = id.substr(0, first);
  if (first == std::string::npos) return scope;
  size_t second = id.find('-', first + 1);
  scope.session = id.substr(0, second);
  if (second != std::string::npos) {
    std::string m = id.substr(second + 1);
    if (!m.empty() && m.size() < 10 && m.find_first_not_of("0123456789") == std::string::npos) {
      scope.inner = std::stoll(m);
    }
  }
  return scope;
}

bool InScope(const StoryScope& scope, const json& e) {
  if (scope.session.empty()) return true;
  std::string type = Field(e, "type");
  std::string session = Field(e, "session");
  if (session.empty()) {
    if (type != "channel_open" && type != "channel_close") return true;  // the connection's own
    std::string channel = e.contains("channel") ? e["channel"].dump() : "";
    return scope.connection + "-" + channel == scope.session;
  }
  if (session != scope.session) return false;
  if (!scope.inner || type == "session_open") return true;
  return e.contains("channel") && e["channel"].is_number_integer() &&
         e["channel"].get<int64_t>() == *scope.inner;
}

std::vector<std::string> TellStory(const audit::SessionSummary& s, const std::vector<json>& events,
                                   const std::vector<audit::RecordingInfo>& recordings) {
  std::vector<std::string> out;
  out.push_back("session " + Safe(s.id) + ": " + (s.user.empty() ? "(no login)" : Safe(s.user)) +
                " from " + (s.Source().empty() ? "?" : Safe(s.Source())));
  std::string when = s.start_ms ? FormatRfc3339Millis(*s.start_ms) : "?";
  when += " to " + (s.end_ms ? FormatRfc3339Millis(*s.end_ms) : std::string("(still open)"));
  if (s.start_ms && s.end_ms) when += " (" + HumanDuration(*s.end_ms - *s.start_ms) + ")";
  if (!s.end_reason.empty()) when += ": " + Safe(s.end_reason);
  out.push_back("  " + when);
  std::string targets;
  for (const auto& t : s.targets) targets += (targets.empty() ? "" : ", ") + Safe(t);
  std::string logins;
  for (const auto& l : s.logins) logins += (logins.empty() ? "" : ", ") + Safe(l);
  out.push_back("  targets " + (targets.empty() ? "-" : targets) +
                (logins.empty() ? "" : "; logins " + logins) + "; " +
                (s.recorded ? "recorded" : "not recorded") + "; " + HumanBytes(s.bytes_up) + " up, " +
                HumanBytes(s.bytes_down) + " down");
  out.push_back("");
  Teller teller;
  std::string day;
  for (const auto& e : events) {
    if (Field(e, "type") == "recording_progress") continue;
    std::vector<std::string> lines = teller.Event(e);
    std::string clock = Clock(e, &day, &out);
    for (size_t i = 0; i < lines.size(); ++i) {
      out.push_back((i == 0 ? clock : std::string(12, ' ')) + "  " + lines[i]);
    }
  }
  for (const auto& r : recordings) {
    if (r.closed) continue;
    out.push_back("");
    out.push_back("open recording " + Safe(r.part) + ": " + Safe(r.path) + " (still being written)");
  }
  return out;
}

}  // namespace hopgate::hopctl
