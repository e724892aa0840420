#!/usr/bin/env bash
# What `hopctl sessions --database` costs with and without its cache. A
# PostgreSQL of its own (as bench/fleet.sh starts one) gets the audit events
# of a generated replica (bench/gen_sessions: the gateway's own FileSink and
# CastWriter, many recorded sessions) in its audit_events table, the way the
# copier leaves them. Then, on the first 99% of the events:
#   - cold: the cache is built from nothing (--reindex), as every call cost
#     before the cache (a temporary index rebuilt each time);
#   - warm: a second call with nothing new;
# and after the last 1% arrive in the database:
#   - incremental: the call that reads only them.
#
# Usage: bench/fleet_sessions.sh [--size-mib N] [--sessions K]
# Run as root (initdb runs as postgres); loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=64
SESSIONS=2000
while [ $# -gt 0 ]; do
  case "$1" in
    --size-mib) SIZE_MIB=$2; shift 2 ;;
    --sessions) SESSIONS=$2; shift 2 ;;
    *) echo "usage: $0 [--size-mib N] [--sessions K]" >&2; exit 2 ;;
  esac
done
[[ $SIZE_MIB =~ ^[0-9]+$ && $SIZE_MIB -ge 1 && $SIZE_MIB -le 4096 ]] ||
  { echo "fleet_sessions.sh: --size-mib must be 1..4096" >&2; exit 2; }
[[ $SESSIONS =~ ^[0-9]+$ && $SESSIONS -ge 1 && $SESSIONS -le 1000000 ]] ||
  { echo "fleet_sessions.sh: --sessions must be 1..1000000" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "fleet_sessions.sh: run as root (initdb runs as postgres)" >&2; exit 2; }
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$PGBIN" ] || { echo "fleet_sessions.sh: PostgreSQL is not installed" >&2; exit 2; }

if [ -n "${HOPCTL_BIN:-}" ] && [ -n "${GEN_BIN:-}" ]; then
  HOPCTL=$HOPCTL_BIN GEN=$GEN_BIN
else
  bazel build //hopctl:hopctl //bench:gen_sessions >&2
  BIN=$(bazel info bazel-bin 2>/dev/null)
  HOPCTL=$BIN/hopctl/hopctl GEN=$BIN/bench/gen_sessions
fi

W=$(mktemp -d /tmp/hopgate-fleet-sessions.XXXXXX)
chmod 0755 "$W"
cleanup() {
  [ -f "$W/pg/data/postmaster.pid" ] &&
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

mkdir -p "$W/pg" && chown postgres: "$W/pg"
runuser -u postgres -- "$PGBIN/initdb" -D "$W/pg/data" --auth=trust -U hopgate --no-sync >/dev/null
for attempt in 1 2 3 4 5; do
  PGPORT=$(free_port)
  if runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg/data" -l "$W/pg/log" -w -t 60 \
       -o "-k $W/pg -p $PGPORT -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null; then
    break
  fi
  PGPORT=""
done
[ -n "$PGPORT" ] || { echo "fleet_sessions.sh: PostgreSQL did not start" >&2; exit 1; }
DSN="postgresql://hopgate@127.0.0.1:$PGPORT/postgres"
psql() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$DSN" "$@"; }

echo "generating $SIZE_MIB MiB of recordings in $SESSIONS sessions ..." >&2
mkdir -p "$W/gen"
"$GEN" --dir "$W/gen" --size-mib "$SIZE_MIB" --sessions "$SESSIONS" --marker bench >/dev/null
# The table as migration 1 (audit/fleet/schema.cc) creates it.
psql -c "CREATE TABLE audit_events (origin text NOT NULL, seq bigint NOT NULL, time timestamptz,
  type text NOT NULL, conn text, username text, event jsonb NOT NULL, line text NOT NULL,
  PRIMARY KEY (origin, seq));"
# The copier's rows: origin, seq, type, connection, user, the event, the line.
python3 - "$W/gen/audit.jsonl" "$W/events.csv" <<'PY'
import csv, json, sys
with open(sys.argv[1]) as src, open(sys.argv[2], "w", newline="") as out:
    w = csv.writer(out)
    for line in src:
        line = line.rstrip("\n")
        if not line:
            continue
        e = json.loads(line)
        w.writerow(["hopgate/bench", e["seq"], e.get("type", ""), e.get("connection", ""),
                    e.get("user", ""), line, line])
PY
TOTAL=$(wc -l < "$W/events.csv")
FIRST=$((TOTAL * 99 / 100))
head -n "$FIRST" "$W/events.csv" > "$W/first.csv"
tail -n +"$((FIRST + 1))" "$W/events.csv" > "$W/rest.csv"
load() { psql -c "\\copy audit_events (origin, seq, type, conn, username, event, line) FROM '$1' WITH (FORMAT csv)"; }
load "$W/first.csv"

run() {  # prints the seconds `hopctl sessions --database` took
  local t0 t1
  t0=$(now)
  "$HOPCTL" sessions --database "$DSN" --index "$W/cache" "$@" > "$W/out.txt"
  t1=$(now)
  secs "$t0" "$t1"
}
cold=$(run --reindex)
warm=$(run)
load "$W/rest.csv"
incremental=$(run)
cold_all=$(run --reindex)
rows=$(($(wc -l < "$W/out.txt") - 1))
echo "events: $TOTAL ($((TOTAL - FIRST)) arriving last), sessions listed: $rows"
echo "hopctl sessions --database: cold (no cache) $cold s; warm (nothing new) $warm s;" \
     "incremental (last 1%) $incremental s; cold on all events $cold_all s"
