#!/bin/sh
# Writes the seed corpus of net_fuzzer: one file per group of address,
# CIDR, host:port and host-name spellings (one per line), and one file per
# line of the tricky ones. Deterministic.
# Usage: common/fuzz/make_corpus.sh   (from anywhere)
set -eu
out="$(cd "$(dirname "$0")" && pwd)/corpus/net_fuzzer"
mkdir -p "$out"
group() {  # name, lines...
  name=$1; shift
  printf '%s\n' "$@" > "$out/$name.txt"
}
group ipv4 127.0.0.1 0.0.0.0 255.255.255.255 10.0.3.7 1.2.3 1.2 1 01.02.03.04 0x7f.0.0.1 \
  0x7f000001 2130706433 127.1 127.0.1 0177.0.0.1 0X7F.1 1.2.3.4. 1.2.3.4.5 256.1.1.1 0x 0x.1 00 08 \
  1..2 .1.2.3 '1.2.3.4 ' ' 1.2.3.4' 4294967295 4294967296 0xffffffff 0x100000000 0.0.0.1 \
  0377.0377.0377.0377 1.0xffffff 1.2.0xffff 1.2.65536 '' 000000000000000000001 0x00000000000000007f.1
group ipv6 ::1 :: ::ffff:127.0.0.1 ::ffff:7f00:1 '[::1]' '[::1' '::1]' fe80::1%eth0 2001:db8::1 \
  2001:0db8:0000:0000:0000:0000:0000:0001 1:2:3:4:5:6:7:8 1:2:3:4:5:6:7:8:9 ::1.2.3.4 \
  64:ff9b::1.2.3.4 ::: 1::2::3 ::ffff:0.0.0.0 '[::ffff:127.0.0.1]' '[]' '[1.2.3.4]' FE80::A \
  ::ffff:1.2.3 0:0:0:0:0:ffff:10.0.0.1 '[2001:db8::1]' '[[::1]]'
group hostport host:22 '[::1]:22' '[::1]:0' 1.2.3.4:65535 1.2.3.4:65536 host: :22 '[]:22' \
  '[1.2.3.4]:22' a:b:c host:022 host:+22 host:-1 'host: 22' localhost:0 db1.internal:5432 \
  '[fe80::1%eth0]:22' '[::1]' '[::1]x22' '[::1]:' '[::1]:99999' 0.0.0.0:2222 '[::]:2222' \
  127.0.0.1:00022 'h:1:2' '[::ffff:127.0.0.1]:22' 0x7f.1:22 'db1.:22'
group names DB1.Internal. db1..internal -db db- a_b.example xn--bcher-kva.example localhost \
  db1.internal.. . .. 10.0.3.9.1 1.2.3.4.com 1.2.3.com4 com.1 db1.0x10 0x10.db1 a.0x b.0xg \
  'bad\host' 'db 1' "$(printf 'db\t1')" UPPER.CASE.EXAMPLE a-b-c.d-e-f _srv.example \
  "$(printf 'a%.0s' $(seq 63)).example" "$(printf 'a%.0s' $(seq 64)).example" \
  "$(printf 'abcdefghi.%.0s' $(seq 25))com" "$(printf 'abcdefghi.%.0s' $(seq 26))com"
group cidr 10.0.0.0/8 10.0.0.1/8 10.0.0.0/33 10.0.0.0/ /8 ::/0 2001:db8::/32 2001:db8::/129 \
  ::ffff:10.0.0.0/104 0.0.0.0/0 10.0.0.0/08 10.0.0.0/0008 1.2.3.4/32 1.2.3.4/-1 '10.0.0.0/8 ' \
  fe80::/10 fe80::1/10 ::ffff:0:0/96 127.0.0.0/8/8 '[::1]/128' 10.0.0.0/+8 2001:db8::/48
n=0
for f in ipv4 ipv6 hostport names cidr; do
  while IFS= read -r line; do
    n=$((n + 1))
    printf '%s' "$line" > "$out/line_$n"
  done < "$out/$f.txt"
done
echo "corpus written to $out"
