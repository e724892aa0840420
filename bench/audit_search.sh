#!/usr/bin/env bash
# Session search at scale: generates about 1 GB of asciicast recordings
# (recorded shell sessions: coloured prompts, words, numbers, paths, hex)
# and the audit log that names them, written by the gateway's own FileSink
# and CastWriter (bench/gen_sessions.cc), with one rare marker printed once
# in one session. Then:
#   - indexes them once (`hopctl sessions`, which builds the index beside
#     the log) and prints the indexing time, rate and index size;
#   - times `hopctl sessions --grep MARKER` (median of 5 runs, each a
#     whole hopctl process: open, check the log for news, search) against
#     the goal of under 1 s, and checks it found exactly the one line in
#     the right session;
#   - times a search for a word found everywhere and one for a 2-letter
#     prefix of many words (first 20 matches each), and an incremental
#     call with nothing new.
#
# Usage: bench/audit_search.sh [--size-mib 1024] [--sessions 1000] [--keep]
# HOPCTL_BIN and GEN_BIN, if set, are the hopctl and gen_sessions to run
# (no bazel build). Not part of the test suite; needs about 4x the size free
# in /tmp (recordings, then the index).
set -euo pipefail
for v in HOPCTL_BIN GEN_BIN; do
  case "${!v:-}" in "" | /*) ;; *) printf -v "$v" '%s' "$PWD/${!v}" ;; esac
done
cd "$(dirname "$0")/.."

SIZE_MIB=1024
SESSIONS=1000
KEEP=0
usage() { echo "usage: $0 [--size-mib N] [--sessions N] [--keep]" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --size-mib) [ $# -ge 2 ] || usage; SIZE_MIB=$2; shift 2 ;;
    --sessions) [ $# -ge 2 ] || usage; SESSIONS=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) usage ;;
  esac
done
bounded() {  # name value min max
  [[ $2 =~ ^[0-9]+$ ]] && [ "$2" -ge "$3" ] && [ "$2" -le "$4" ] ||
    { echo "bench: $1 must be an integer in [$3, $4]" >&2; exit 2; }
}
bounded --size-mib "$SIZE_MIB" 1 65536
bounded --sessions "$SESSIONS" 1 1000000
SIZE_MIB=$((10#$SIZE_MIB)) SESSIONS=$((10#$SESSIONS))

if [ -n "${HOPCTL_BIN:-}" ] && [ -n "${GEN_BIN:-}" ]; then
  HOPCTL=$HOPCTL_BIN GEN=$GEN_BIN
else
  # .bazelrc builds everything with -O2 already.
  bazel build //hopctl:hopctl //bench:gen_sessions >&2
  BIN="$(bazel info bazel-bin 2>/dev/null)"
  HOPCTL=${HOPCTL_BIN:-$BIN/hopctl/hopctl} GEN=${GEN_BIN:-$BIN/bench/gen_sessions}
fi
for b in "$HOPCTL" "$GEN"; do
  [ -x "$b" ] || { echo "bench: $b is not an executable file" >&2; exit 1; }
done

need_kib=$((SIZE_MIB * 1024 * 4))
free_kib=$(df -Pk /tmp | awk 'NR == 2 { print $4 }')
[ "$free_kib" -ge "$need_kib" ] ||
  { echo "bench: /tmp has $((free_kib / 1024)) MiB free; $((need_kib / 1024)) MiB needed" >&2; exit 1; }

WORK=$(mktemp -d /tmp/hopgate-search.XXXXXX)
cleanup() {
  if [ $KEEP -eq 1 ]; then echo "work directory: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
LOG=$WORK/audit.jsonl
MARKER="Q7Zrare$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')marker"

echo "generating $SIZE_MIB MiB of recordings in $SESSIONS sessions ..." >&2
t0=$(now)
EXPECT=$("$GEN" --dir "$WORK" --size-mib "$SIZE_MIB" --sessions "$SESSIONS" --marker "$MARKER")
t1=$(now)
cast_bytes=$(du -sb "$WORK/recordings" | cut -f1)
echo "generated $((cast_bytes / 1048576)) MiB in $(secs "$t0" "$t1") s" >&2

# Wall time, and CPU time (user+sys), which a busy machine disturbs less.
TIMEFORMAT='%R %U %S'
{ time "$HOPCTL" sessions --audit "$LOG" >/dev/null; } 2>"$WORK/index.time"
read -r index_s index_user index_sys <"$WORK/index.time"
index_cpu=$(awk -v u="$index_user" -v s="$index_sys" 'BEGIN { printf "%.1f", u + s }')
index_bytes=$(stat -c %s "$LOG.index.sqlite")

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
time_grep() {  # TEXT [extra args...] -> prints seconds, median of 5
  local text=$1; shift
  for _ in 1 2 3 4 5; do
    local a b
    a=$(now)
    "$HOPCTL" sessions --audit "$LOG" --grep "$text" "$@" >"$WORK/grep.out" || true
    b=$(now)
    secs "$a" "$b"; echo
  done | median
}
rare_s=$(time_grep "$MARKER")
hits=$(wc -l <"$WORK/grep.out")
found_in=$(cut -d' ' -f1 <"$WORK/grep.out" | sort -u | tr '\n' ' ')
common_s=$(time_grep "root@db1" --limit 20)
prefix_s=$(time_grep "ab" --limit 20)
t0=$(now)
"$HOPCTL" sessions --audit "$LOG" --json >/dev/null
t1=$(now)
noop_s=$(secs "$t0" "$t1")

verdict=$(awk -v s="$rare_s" 'BEGIN { print (s < 1.0 ? "met" : "NOT met") }')
correct="yes"
[ "$hits" -eq 1 ] && [ "$found_in" = "$EXPECT-0-0 " ] || correct="NO: $hits lines in $found_in (expected $EXPECT-0-0)"

echo
echo "session search (hopctl sessions --grep; $SESSIONS recorded sessions, $((cast_bytes / 1048576)) MiB of asciicast)"
printf '  %-58s %14s   %s\n' metric measured goal
printf '  %-58s %14s\n' "index once: wall time / CPU time (s)" "$index_s / $index_cpu"
printf '  %-58s %14s\n' "index once: MB of recordings per CPU second" \
  "$(awk -v b="$cast_bytes" -v s="$index_cpu" 'BEGIN { printf "%.1f", b / 1e6 / s }')"
printf '  %-58s %14s\n' "index size (MiB; x recordings)" \
  "$((index_bytes / 1048576)) ($(awk -v i="$index_bytes" -v c="$cast_bytes" 'BEGIN { printf "%.2f", i / c }'))"
printf '  %-58s %14s   %s\n' "--grep a rare marker, median of 5 (s)" "$rare_s" "< 1 ($verdict)"
printf '  %-58s %14s\n' "  found exactly its one line, in the right session" "$correct"
printf '  %-58s %14s\n' "--grep a word on every screen, first 20 lines (s)" "$common_s"
printf '  %-58s %14s\n' "--grep a 2-letter prefix of many words, first 20 lines (s)" "$prefix_s"
printf '  %-58s %14s\n' "list all sessions, index already up to date (s)" "$noop_s"
