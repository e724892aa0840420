#!/usr/bin/env python3
"""Writes the seed corpora of the policy fuzz targets.

- policy_fuzzer: the policies in README.md and in the policy tests (raw
  strings holding "version: 1"), with placeholder keys ("ssh-ed25519
  AAAA...") replaced by real ones, and hand-written policies that use every
  key, the files they name appended after NUL bytes (the harness's reader
  hands them out in order).
- authorized_keys_fuzzer: keys of each type made by ssh-keygen, every option
  OpenSSH knows (accepted, refused and malformed), comments, blank lines.
- patterns_fuzzer: destination, listen and from= patterns, one per line.

Keys are made fresh by ssh-keygen on each run; none is used anywhere else.
Usage: policy/fuzz/make_corpus.py   (from anywhere)
"""
import base64
import os
import pathlib
import re
import struct
import subprocess
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CORPUS = HERE / "corpus"


def write(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data.encode() if isinstance(data, str) else data)


def keygen(tmp, name, *args):
    path = os.path.join(tmp, name)
    try:
        subprocess.run(["ssh-keygen", "-q", "-N", "", "-C", name, "-f", path, *args],
                       check=True, capture_output=True)
    except subprocess.CalledProcessError:
        return None
    with open(path + ".pub") as f:
        pub = f.read().strip()
    with open(path) as f:
        priv = f.read()
    return pub, priv


def sstring(b):
    return struct.pack(">I", len(b)) + b


def main():
    with tempfile.TemporaryDirectory() as tmp:
        keys = {}
        for name, args in [("ed25519", ["-t", "ed25519"]),
                           ("ecdsa256", ["-t", "ecdsa", "-b", "256"]),
                           ("ecdsa384", ["-t", "ecdsa", "-b", "384"]),
                           ("ecdsa521", ["-t", "ecdsa", "-b", "521"]),
                           ("rsa2048", ["-t", "rsa", "-b", "2048"]),
                           ("rsa1024", ["-t", "rsa", "-b", "1024"]),
                           ("dsa", ["-t", "dsa"]),
                           ("ca", ["-t", "ed25519"])]:
            k = keygen(tmp, name, *args)
            if k:
                keys[name] = k
        # A certificate line (refused as a key).
        subprocess.run(["ssh-keygen", "-q", "-s", os.path.join(tmp, "ca"), "-I", "id",
                        "-n", "alice", os.path.join(tmp, "ed25519.pub")], check=True,
                       capture_output=True)
        with open(os.path.join(tmp, "ed25519-cert.pub")) as f:
            cert_line = f.read().strip()
    ed = keys["ed25519"][0]
    # A security-key line, written by hand (no hardware here).
    sk_blob = sstring(b"sk-ssh-ed25519@openssh.com") + sstring(bytes(range(32))) + sstring(b"ssh:")
    sk_line = "sk-ssh-ed25519@openssh.com " + base64.b64encode(sk_blob).decode() + " sk"
    ed_type, ed_b64, _ = ed.split(" ", 2)

    write_authorized_keys(keys, ed, ed_b64, cert_line, sk_line)
    write_patterns()
    write_policies(keys, ed)


def write_authorized_keys(keys, ed, ed_b64, cert_line, sk_line):
    t = "authorized_keys_fuzzer"
    for name, (pub, _) in keys.items():
        write(t, f"plain_{name}", pub + "\n")
    options = [
        "restrict", "no-port-forwarding", "no-pty", "no-agent-forwarding", "no-x11-forwarding",
        "no-user-rc", "restrict,port-forwarding", "restrict,pty,agent-forwarding,x11-forwarding,user-rc",
        'command="/usr/bin/backup --daily"', r'command="echo \"quoted\" \\ back"',
        'from="10.0.0.0/8,!10.9.0.0/16"', 'from="192.168.1.*,2001:db8::/32,::1"',
        'from="!*"', 'from="host.example.com"', 'from=""', 'from="10.0.0.1/8"',
        'permitopen="db1:5432"', 'permitopen="[2001:db8::1]:22",permitopen="10.0.3.*:22"',
        'permitopen="*:*"', 'permitopen="db1"', 'permitlisten="8080"',
        'permitlisten="localhost:*"', 'permitlisten="[::1]:9000"', 'permitlisten="0.0.0.0:80"',
        'expiry-time="20270101"', 'expiry-time="202701011230"', 'expiry-time="20270101123059Z"',
        'expiry-time="20271301"', 'expiry-time="2027"', 'cert-authority', 'principals="alice"',
        'environment="A=B"', 'tunnel="1"', 'no-touch-required', 'verify-required',
        'bogus-option', 'no-pty=1', 'command', 'command="a",command="b"', 'COMMAND="upper"',
        'no-pty,', ',no-pty', 'no-pty,,restrict', 'command="unterminated',
        'command=unquoted', 'from="10.0.0.0/8" ',
        'restrict,command="ls",from="10.0.0.0/8",permitopen="db1:22",permitlisten="8080",'
        'expiry-time="20991231",no-user-rc',
    ]
    for i, o in enumerate(options):
        write(t, f"option_{i:02d}", f"{o} {ed}\n")
    write(t, "all_options_file",
          "# every accepted option, one per line\n\n" +
          "".join(f"{o} {pub}\n" for o, (pub, _) in zip(options[:24], list(keys.values()) * 4)))
    write(t, "certificate", cert_line + "\n")
    write(t, "sk_key", sk_line + "\n")
    write(t, "type_mismatch", f"ecdsa-sha2-nistp256 {ed_b64} mismatch\n")
    write(t, "bad_base64", "ssh-ed25519 AAAA!!!! bad\n")
    write(t, "truncated_blob", f"ssh-ed25519 {ed_b64[:40]} short\n")
    write(t, "no_key", "ssh-ed25519\n")
    write(t, "tabs_crlf", f"  \tno-pty\t{ed}\r\n\r\n#c\r\n")
    write(t, "unknown_type", "ssh-foo AAAA comment\n")
    write(t, "trailing", f"{ed} comment with   spaces and \"quotes\"\n")


def write_patterns():
    t = "patterns_fuzzer"
    groups = {
        "readme": ["db1:22", "db1:5432", "10.0.3.*:22", "10.0.3.7:22", "10.0.0.0/24:*",
                   "[2001:db8::]/32:22", "*.db.internal:5432", "*:*", "8080", "127.0.0.1:9000",
                   "*:9100", "localhost:*", "[::1]:*", "[2001:db8::1]:22", "db1:*",
                   "db*.prod.internal:*", "*.corp.example:443", "10.20.1.0/24:*",
                   "127.0.0.0/8:*", "127.0.0.1/32:7000", "[2001:db8:1::/48]:22"],
        "bad": ["*", "db1", "db1:70000", "db1:0", "a..b:22", "bad\\host:22", "[2001:db8::*]:22",
                "10.0.3.9.1:22", "::1:22", "[::1]", "[::1]x", "[::1]/:22", "[::1]/129:22",
                "10.0.0.1/8:22", ":22", "db1:", "[]:22", "*.:22", ".db:22", "db1.:22",
                "DB1.Example.:22", "SECRET.internal.:22", "0x7f.1:22", "10.0.3.*:*", "10.*.*.*:22",
                "1?.0.0.1:22", "[::ffff:127.0.0.1]:22", "[::ffff:10.0.0.0]/104:22",
                "[fe80::1%eth0]:22", "0.0.0.0:8080", "localhost:0", "[::]:*", "host:8080"],
        "from": ["10.0.0.0/8,!10.9.0.0/16", "192.168.1.*", "!10.0.0.1,10.0.0.0/8", "::1",
                 "2001:db8::/32,!2001:db8::1", "*", "!*", "", ",", "10.0.0.0/8,,10.0.0.1",
                 "host.example.com", "::ffff:10.0.0.0/104", "10.0.0.?"],
    }
    for name, lines in groups.items():
        write(t, name, "\n".join(lines) + "\n")
        for i, line in enumerate(lines):
            write(t, f"{name}_{i:02d}", line)


def yaml_blocks(text):
    return re.findall(r"```ya?ml\n(.*?)```", text, re.S)


def raw_strings(text):
    return re.findall(r'R"\((.*?)\)"', text, re.S)


def real_keys(text, keys):
    pubs = [keys[k][0] for k in ("ed25519", "ecdsa256", "rsa2048", "ecdsa384")]
    n = [0]

    def sub(m):
        n[0] += 1
        return pubs[n[0] % len(pubs)].rsplit(" ", 1)[0] + m.group(1)
    return re.sub(r"ssh-ed25519 AAAA\.\.\.( ?[^\"\n]*)", sub, text)


def write_policies(keys, ed):
    t = "policy_fuzzer"
    readme = (ROOT / "README.md").read_text()
    n = 0
    for block in yaml_blocks(readme):
        if "listen" in block and "rules" not in block:
            continue  # a config, or the Prometheus examples
        if "scrape_configs" in block or "groups:\n  - name" in block:
            continue
        if not block.startswith("version"):
            block = "version: 1\n" + block
        write(t, f"readme_{n:02d}", real_keys(block, keys))
        n += 1
    for test in sorted((ROOT / "policy").glob("*_test.cc")):
        for i, s in enumerate(raw_strings(test.read_text())):
            if "version: 1" in s:
                write(t, f"{test.stem}_{i:02d}", s)
    ed2 = keys["ecdsa256"][0]
    ident = keys["ed25519"][1]
    host_key = keys["ecdsa384"][0].rsplit(" ", 1)[0]
    full = f"""version: 1
users:
  alice:
    keys:
      - {ed}
      - restrict,port-forwarding,from="10.0.0.0/8",permitopen="db1:22",expiry-time="20991231" {ed2}
  deploy:
    authorized_keys: keys/deploy
  bob: {{}}
groups:
  dba: [alice, bob]
  ops: [deploy]
hosts:
  jump1:
    address: "10.1.0.10:22"
    login: hopgate
    identity: keys/jump1
    host_key: "{host_key}"
  jump2:
    address: "[2001:db8::10]:2222"
    login: hopgate
    known_hosts: known_hosts
    via: [jump1]
  db1:
    address: "10.0.3.7:22"
    aliases: [db1.internal, DB-One]
    record: true
    host_key: "{host_key}"
    via: [jump1, jump2]
  web:
    address: "web.example.com:22"
rules:
  - name: deny-secret
    effect: deny
    users: [bob]
    from: ["192.168.0.0/16", "2001:db8::/32"]
    destinations: ["secret.internal:*", "10.9.0.0/16:*"]
  - name: dba
    groups: [dba]
    principals: [alice, root]
    permit_open: ["db1:22", "db1:5432", "10.0.3.*:22", "[2001:db8::]/32:22", "*.internal:*"]
    record: true
    record_input: true
    logins: [root, postgres]
    force_command: /usr/bin/psql
    pty: false
    agent_forwarding: true
    x11_forwarding: yes
    max_session: 8h
    idle_timeout: 15m
  - name: ops
    users: [deploy]
    allow_tcp_forwarding: yes
    permit_open: ["*:*"]
    permit_listen: ["8080", "127.0.0.1:9000", "*:9100", "[::1]:*"]
"""
    files = [f"# deploy\n\n{keys['ecdsa521'][0]}\nno-pty,command=\"/bin/true\" {keys['rsa2048'][0]}\n",
             ident,
             f"[2001:db8::10]:2222 {host_key}\n"]
    write(t, "full", full + "\0" + "\0".join(files))
    write(t, "full_no_files", full)
    write(t, "routes_cycle", """version: 1
hosts:
  a: {address: "10.0.0.1:22", login: x, host_key: "ssh-ed25519 AAAA", via: [b]}
  b: {address: "10.0.0.2:22", login: x, via: [c, a]}
  c: {address: "10.0.0.3:22", via: [a]}
  d: {address: "10.0.0.4:22", via: [d]}
  e: {address: "10.0.0.5:22", via: [nope]}
  f: {address: "10.0.0.6:22", via: []}
rules: []
""")
    write(t, "yaml_features", """%YAML 1.2
---
version: !!int 1
users: &u
  alice: {keys: ["%s"]}
groups:
  g: [alice, *u]
  h: &h [alice]
  i: *h
hosts:
  ? [complex, key]
  : {address: "a:1"}
  "db1": {address: '10.0.0.1:22', aliases: [DB1.]}
rules:
  - &r {name: r, users: [alice], permit_open: ["db1:22"]}
  - *r
  - {<<: *r, name: s}
...
""".replace("%s", ed))
    write(t, "errors", """version: 2
users:
  "bad name": {keys: [1, [2], {a: b}]}
  alice: {keys: "not a list", authorized_keys: [x], extra: 1}
groups: [not, a, map]
hosts:
  10.0.0.1: {address: "10.0.0.1"}
  db.: {address: "0.0.0.0:22"}
  x: {address: "[::1]", aliases: "y", record: maybe, login: "bad login"}
rules:
  - {name: "", effect: maybe, from: ["10.0.0.1/8"], max_session: 0s, idle_timeout: forever}
  - {name: d, effect: deny, permit_open: ["a:1"], pty: false}
  - {name: a, destinations: ["a:1"], allow_tcp_forwarding: sometimes, logins: ["a b"]}
  - {name: a}
  - just a string
""")


if __name__ == "__main__":
    main()
