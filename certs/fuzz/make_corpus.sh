#!/bin/sh
# Regenerates the committed seed corpora of the certs fuzz targets with
# ssh-keygen. The fuzz CA and user keys under keys/ are public test keys, also
# embedded in fuzz_fixture.h; other keys are made fresh each run.
# Usage: certs/fuzz/make_corpus.sh   (from the repository root)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
certs="$here/corpus/cert_fuzzer"
krls="$here/corpus/krl_fuzzer"
mkdir -p "$certs" "$krls"
cp "$here/keys/fuzz_ca" "$tmp/ca"
cp "$here/keys/fuzz_ca.pub" "$tmp/ca.pub"
cp "$here/keys/fuzz_user" "$tmp/user"
cp "$here/keys/fuzz_user.pub" "$tmp/user.pub"
chmod 600 "$tmp/ca" "$tmp/user"
ssh-keygen -q -t ecdsa -b 521 -N '' -f "$tmp/ec521"
ssh-keygen -q -t ecdsa -b 256 -N '' -f "$tmp/ca_ec256"
ssh-keygen -q -t rsa -b 2048 -N '' -f "$tmp/ca_rsa"
ssh-keygen -q -t rsa -b 1024 -N '' -f "$tmp/rsa"

b64blob() { awk '{print $2}' "$1" | base64 -d; }

sign() {  # name ca key args...
  name=$1 ca=$2 key=$3
  shift 3
  ssh-keygen -q -s "$tmp/$ca" "$@" "$tmp/$key.pub"
  cp "$tmp/$key-cert.pub" "$certs/$name.txt"
  b64blob "$tmp/$key-cert.pub" > "$certs/$name.bin"
}

sign basic ca user -I alice@corp -z 7 -n alice,bob -V 20261120100000Z:20261121100000Z
sign options ca user -I opts -n alice -O force-command=/bin/true \
  -O source-address=10.0.0.0/8,2001:db8::/32 -O no-pty -O extension:x@example.com=y
sign critical ca user -I crit -n alice -O critical:foo=bar
sign host ca user -h -I host -n host.example.com
sign noprincipals ca user -I none
sign ec521_by_ec256 ca_ec256 ec521 -I ec -z 99 -n alice -O clear
sign rsa_by_rsa512 ca_rsa rsa -t rsa-sha2-512 -I rsa -n alice
sign sha1 ca_rsa user -t ssh-rsa -I sha1 -n alice
head -c 150 "$certs/basic.bin" > "$certs/truncated.bin"
printf 'ssh-ed25519-cert-v01@openssh.com AAAA!!!\n' > "$certs/badtext.txt"
cp "$tmp/user.pub" "$certs/plainkey.txt"

krl() {  # name ca_arg spec
  printf '%b' "$3" > "$tmp/spec"
  rm -f "$tmp/krl"
  if [ -n "$2" ]; then
    ssh-keygen -k -f "$tmp/krl" -s "$2" "$tmp/spec" 2>/dev/null
  else
    ssh-keygen -k -f "$tmp/krl" "$tmp/spec" 2>/dev/null
  fi
  cp "$tmp/krl" "$krls/$1.krl"
}

krl serials "$tmp/ca.pub" 'serial: 7\nserial: 100-200\nserial: 500\nserial: 502\nserial: 504\nserial: 506\nserial: 99999\n'
krl ids "$tmp/ca.pub" 'id: alice@corp\nid: bob\n'
krl anyca none 'id: alice@corp\nserial: 15\n'
krl keys '' "key: $(cat "$tmp/user.pub")\nsha256: $(cat "$tmp/rsa.pub")\nsha1: $(cat "$tmp/ec521.pub")\n"
krl hash '' "hash: $(ssh-keygen -lf "$tmp/ca.pub" | awk '{print $2}')\n"
# -u adds to an existing KRL.
cp "$krls/ids.krl" "$tmp/krl"
printf 'serial: 1-5\n' > "$tmp/spec"
ssh-keygen -k -u -f "$tmp/krl" -s "$tmp/ca.pub" "$tmp/spec" 2>/dev/null
cp "$tmp/krl" "$krls/updated.krl"
head -c 60 "$krls/serials.krl" > "$krls/truncated.krl"
{ echo '# revoked keys'; echo; cat "$tmp/user.pub"; cat "$certs/basic.txt"; } > "$krls/revoked_keys.txt"
printf '# bad\nnot a key\n' > "$krls/garbage.txt"
echo "corpus written to $certs and $krls"
