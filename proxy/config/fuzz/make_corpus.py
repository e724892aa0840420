#!/usr/bin/env python3
"""Writes the seed corpus of config_fuzzer: the configuration reference in
README.md, the configs of config_test.cc, the demo's and the test harness's
configs, and hand-written ones for every section, value form and error.
Deterministic.
Usage: proxy/config/fuzz/make_corpus.py   (from anywhere)
"""
import pathlib
import re

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[2]
OUT = HERE / "corpus" / "config_fuzzer"

MINIMAL = """version: 1
listen: ["127.0.0.1:0"]
host_keys: [/tmp/gate/host_ed25519]
policy: /tmp/gate/policy.yaml
audit:
  log: /tmp/gate/audit.jsonl
"""


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    n = 0
    for block in re.findall(r"```ya?ml\n(.*?)```", (ROOT / "README.md").read_text(), re.S):
        if "listen" in block or "host_keys" in block or "upstream" in block:
            if "scrape_configs" in block:
                continue
            (OUT / f"readme_{n:02d}").write_text(block)
            n += 1
    test = (ROOT / "proxy/config/config_test.cc").read_text()
    for i, s in enumerate(re.findall(r'R"\((.*?)\)"', test, re.S)):
        (OUT / f"config_test_{i:02d}").write_text(s)
    for i, s in enumerate(re.findall(r'ParseConfig\(\s*"((?:[^"\\]|\\.)*)"', test)):
        (OUT / f"config_test_inline_{i:02d}").write_text(s.encode().decode("unicode_escape"))
    demo = (ROOT / "deploy/demo.sh").read_text()
    m = re.search(r"<<CONFIG\n(.*?)CONFIG\n", demo, re.S)
    if m:
        (OUT / "demo").write_text(m.group(1).replace("$DEMO", "/tmp/demo")
                                  .replace("$GATE_PORT", "2222"))
    (OUT / "minimal").write_text(MINIMAL)
    extra = {
        "every_section": """limits:
  login_grace_time: 1h30m
  max_startups: 100000
  max_sessions_per_user: 1000000
  max_auth_tries: 100
  connect_timeout: 2d
  max_connections: 1
  max_channels_per_connection: 1
authentication:
  trusted_user_ca_keys: ca.pub
  revoked_keys: ../revoked.krl
  close_revoked_sessions: no
  min_rsa_bits: 16384
metrics:
  listen: "127.0.0.1:0"
recording:
  host_key: rec_key
  min_free_bytes: 0
  notice: ""
upstream:
  user_ca_key: /etc/hopgate/upstream_ca
  max_channels_per_connection: 10000
  idle_close: 0s
log_level: debug
""",
        "audit_tree": """audit:
  log: audit.jsonl
  recordings: rec
  signing_key: sign
  origin: "hopgate/gate\\u00e9 \\"quoted\\""
  checkpoint_interval: 1s
  rotate_size: 4KiB
  rotate_interval: 1m
""",
        "sizes": "audit:\n  log: a\n  rotate_size: 1125899906842624\n  rotate_interval: 0\n",
        "sizes_units": "audit:\n  log: a\n  rotate_size: 1TB\n",
        "recording_list": "recording:\n  host_keys: [a, /b, \"c d\", '']\n  notice: \"\\x01\\t\\u2028\"\n",
        "errors": """limits:
  login_grace_time: 0s
  max_startups: -1
  max_auth_tries: 1.5
  connect_timeout: 99999999999d
  bogus: 1
authentication: [not, a, map]
metrics: {listen: "[::1]:9642"}
recording: {host_key: a, host_keys: [b], min_free_bytes: 1125899906842625}
upstream: {idle_close: soon}
log_level: loud
""",
        "metrics_name": "metrics:\n  listen: \"localhost:9642\"\n",
        "listen_forms": "",
    }
    for name, tail in extra.items():
        base = MINIMAL
        if tail.startswith("audit:"):
            base = base[:base.index("audit:")]
        (OUT / name).write_text(base + tail)
    (OUT / "listen_forms").write_text(MINIMAL.replace(
        '["127.0.0.1:0"]', '["0.0.0.0:2222", "[::]:2222", "localhost:22", "[::1]:0", "127.1:22"]'))
    (OUT / "listen_proxy").write_text(MINIMAL.replace(
        '["127.0.0.1:0"]', '\n  - "127.0.0.1:0"\n  - {address: "0.0.0.0:2200", proxy_protocol: true, '
        'proxy_from: ["10.0.0.0/8", "::1", "192.0.2.7/32"]}\n  - address: "[::1]:2201"\n'
        '    proxy_protocol: false\n'))
    (OUT / "listen_proxy_errors").write_text(MINIMAL.replace(
        '["127.0.0.1:0"]', '[{address: "0.0.0.0:1", proxy_protocol: true}, {proxy_from: [x]}, '
        '{address: 1.2.3.4:5, proxy_from: ["10.0.0.1/8"], proxy_protocol: 1}]'))
    (OUT / "flow_style").write_text(
        '{version: 1, listen: ["[::1]:2222"], host_keys: [k], policy: p, audit: {log: l}}\n')
    (OUT / "anchors").write_text(
        "version: 1\nlisten: &l [\"127.0.0.1:22\"]\nhost_keys: *l\npolicy: &p p\n"
        "audit: {log: *p, recordings: *p}\n")
    (OUT / "not_a_map").write_text("- version: 1\n")
    (OUT / "tab").write_text("version: 1\n\tlisten: []\n")
    (OUT / "empty").write_text("")


if __name__ == "__main__":
    main()
