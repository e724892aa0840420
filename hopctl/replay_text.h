// Text hopctl replay writes around the recordings: separators naming each
// channel, and notes. Much of it comes from clients (commands, logins,
// paths, a recording's title), so all of it goes through ForTerminal first:
// nothing in it can act on the auditor's terminal or hide what it says.
// Pure functions.
#pragma once

#include <string>
#include <string_view>

#include "audit/cast_reader.h"
#include "hopctl/replay_log.h"

namespace hopgate::hopctl {

// EscapeControl (C0, DEL, C1 and invalid UTF-8 as \xNN), and also the
// invisible characters that reorder or hide text (bidirectional controls,
// zero-width characters, line and paragraph separators, the byte-order
// mark) as \u{XXXX}, so a command cannot show as something it is not.
std::string ForTerminal(std::string_view text);

// At most `cols` characters (code points), cut at a character boundary.
std::string Fit(const std::string& s, size_t cols);

// What a channel ran, for its separator: "ID: shell | alice as root on
// db1:22 | TIME | exit 0", "exec: CMD", "sftp: 6 file operations",
// "exec (forced): CMD (asked: X)". Escaped.
std::string Describe(const ReplayChannel& c);

// The same from a recording's own header, for a bare FILE.cast. Escaped.
std::string DescribeFile(const std::string& path, const audit::CastInfo& h);

}  // namespace hopgate::hopctl
