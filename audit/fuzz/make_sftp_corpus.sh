#!/bin/sh
# Regenerates the seed corpus of the SFTP fuzz target: every scenario of
# sftp_test, and a small session with OpenSSH's real sftp-server, written in
# the harness's record format (audit/sftp_testing.h FuzzInput).
# Usage: audit/fuzz/make_sftp_corpus.sh   (from the repository root)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
corpus="$root/audit/fuzz/sftp_corpus"
cd "$root"
bazel build //audit:sftp_test //audit:sftp_server_test
bin=$(bazel info bazel-bin)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$corpus"
for t in sftp_test sftp_server_test; do
  TEST_TMPDIR="$tmp" SFTP_SEED_DIR="$corpus" "$bin/audit/$t" >/dev/null
done
ls -l "$corpus"
