#!/usr/bin/env python3
"""Writes the seed corpus of proxy_protocol_fuzzer: PROXY v1 and v2 headers
as HAProxy sends them (send-proxy, send-proxy-v2, health checks), each
followed by an SSH banner, and malformed ones (bad signature, bad lengths,
truncated, oversized). Deterministic.
Usage: common/fuzz/make_proxy_protocol_corpus.py   (from anywhere)"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "proxy_protocol_fuzzer")
SIG = b"\r\n\r\n\x00\r\nQUIT\n"
SSH = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"


def v2(ver_cmd, family, payload):
    return SIG + bytes([ver_cmd, family]) + struct.pack(">H", len(payload)) + payload


V4 = bytes([127, 0, 0, 5, 127, 0, 0, 1]) + struct.pack(">HH", 51234, 2222)
V6 = bytes(15) + b"\x01" + bytes(15) + b"\x01" + struct.pack(">HH", 40000, 22)
TLV = b"\x01" + struct.pack(">H", 2) + b"h2" + b"\x04" + struct.pack(">H", 3) + bytes(3)

SEEDS = {
    "v1_tcp4": b"PROXY TCP4 127.0.0.5 127.0.0.1 51234 2222\r\n" + SSH,
    "v1_tcp6": b"PROXY TCP6 2001:db8::5 ::1 40000 22\r\n" + SSH,
    "v1_unknown": b"PROXY UNKNOWN\r\n" + SSH,
    "v1_unknown_addresses": b"PROXY UNKNOWN ::1 ::1 1 2\r\n",
    "v1_max_length": b"PROXY UNKNOWN " + b"x" * 91 + b"\r\n",
    "v1_too_long": b"PROXY UNKNOWN " + b"x" * 120 + b"\r\n",
    "v1_lf_only": b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
    "v1_bad_port": b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 022\r\n",
    "v1_truncated": b"PROXY TCP4 1.2.3.4 5.6",
    "v1_family_mismatch": b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
    "ssh_direct": SSH,
    "v2_tcp4": v2(0x21, 0x11, V4) + SSH,
    "v2_tcp6": v2(0x21, 0x21, V6) + SSH,
    "v2_tcp4_tlvs": v2(0x21, 0x11, V4 + TLV) + SSH,
    "v2_local": v2(0x20, 0x00, b""),
    "v2_local_with_addresses": v2(0x20, 0x11, V4) + SSH,
    "v2_unix": v2(0x21, 0x31, bytes(216)),
    "v2_udp": v2(0x21, 0x12, V4),
    "v2_short_addresses": v2(0x21, 0x21, V4),
    "v2_tlv_past_end": v2(0x21, 0x11, V4 + b"\x01\x00\x09ab"),
    "v2_bad_signature": SIG[:7] + b"X" + SIG[8:] + b"\x21\x11\x00\x0c" + V4,
    "v2_bad_version": v2(0x11, 0x11, V4),
    "v2_oversized": SIG + b"\x21\x11\xff\xff" + bytes(64),
    "v2_truncated": v2(0x21, 0x11, V4)[:20],
    # found by the fuzzer: the reason for the same bytes depended on how
    # they were split into reads (the SSH hint, a CRLF within 15 bytes)
    "regress_reason_depends_on_split": b"SSH\xae\xd3\xff\xff\xff\xff",
    "regress_short_line_split": b"PROXY \r\nSSH-2.0-x\r\n",
}

os.makedirs(OUT, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
