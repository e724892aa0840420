#!/bin/sh
# Writes the seed corpus of private_key_fuzzer with ssh-keygen: a key of each
# type as text, and the same keys decoded to their openssh-key-v1 bytes
# (*.bin; the harness armours inputs that do not start with '-'), including
# the refused kinds: RSA, DSA, passphrase-protected and PEM/PKCS#8 keys.
# Keys are made fresh each run; none of them is used anywhere else.
# Usage: certs/fuzz/make_private_key_corpus.sh   (from anywhere)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/corpus/private_key_fuzzer"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"

key() {  # name, ssh-keygen args...
  name=$1; shift
  ssh-keygen -q "$@" -f "$tmp/$name" >/dev/null 2>&1 || { echo "skipped $name" >&2; return 0; }
  cp "$tmp/$name" "$out/$name.key"
  # The body between the armour lines, decoded (OpenSSH format only).
  if head -1 "$tmp/$name" | grep -q 'OPENSSH PRIVATE KEY'; then
    sed '1d;$d' "$tmp/$name" | tr -d '\n' | base64 -d > "$out/$name.bin"
  fi
}

key ed25519 -t ed25519 -N '' -C 'alice@laptop'
key ecdsa256 -t ecdsa -b 256 -N '' -C 'ecdsa 256'
key ecdsa384 -t ecdsa -b 384 -N '' -C ''
key ecdsa521 -t ecdsa -b 521 -N '' -C "$(printf 'long comment %.0s' $(seq 40))"
key rsa2048 -t rsa -b 2048 -N '' -C 'rsa is refused'
key dsa -t dsa -N '' -C 'dsa is refused'
key ed25519_encrypted -t ed25519 -N 'passphrase' -C 'encrypted'
key ecdsa_encrypted -t ecdsa -b 256 -N 'passphrase' -a 1
key rsa_pem -t rsa -b 1024 -N '' -m PEM
key ecdsa_pkcs8 -t ecdsa -b 256 -N '' -m PKCS8
cp "$here/keys/fuzz_ca" "$out/fuzz_ca.key"
# Variants: CRLF line ends, text around the armour, no trailing newline,
# a truncated body, two keys in one file.
sed 's/$/\r/' "$out/ed25519.key" > "$out/ed25519_crlf.key"
{ echo 'leading text'; cat "$out/ecdsa256.key"; echo 'trailing text'; } > "$out/ecdsa256_wrapped.key"
printf '%s' "$(cat "$out/ed25519.key")" > "$out/ed25519_no_newline.key"
head -c 120 "$out/ed25519.bin" > "$out/ed25519_truncated.bin"
cat "$out/ed25519.key" "$out/ecdsa384.key" > "$out/two_keys.key"
chmod 644 "$out"/*
echo "corpus written to $out"
