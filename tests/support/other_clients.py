#!/usr/bin/python3
"""SSH clients other than OpenSSH through a recorded host, for hopgate's
interoperability tests: paramiko (a direct-tcpip channel through the gateway
with a second Transport over it) and asyncssh (tunnel=). Each runs a command
and an SFTP upload and download, and prints one JSON object:
  {"exec": "<stdout>", "exit": N, "sftp_roundtrip": true|false, "cipher": "..."}
Run with /usr/bin/python3 (Debian's python3-paramiko, python3-asyncssh).
"""
import argparse
import asyncio
import json
import socket
import sys

GATE_USER = "alice"


def paramiko_run(args):
    import paramiko
    key = paramiko.Ed25519Key.from_private_key_file(args.key)
    gate = paramiko.Transport(socket.create_connection(("127.0.0.1", args.port), timeout=20))
    gate.start_client(timeout=20)
    gate.auth_publickey(GATE_USER, key)
    ch = gate.open_channel("direct-tcpip", (args.host, 22), ("127.0.0.1", 0), timeout=20)
    inner = paramiko.Transport(ch)
    inner.start_client(timeout=20)
    seen = inner.get_remote_server_key()
    host_key_ok = (seen.get_name() + " " + seen.get_base64()) == args.host_key
    inner.auth_publickey(args.login, key)
    session = inner.open_session()
    session.exec_command(args.command)
    out = b""
    while True:
        chunk = session.recv(65536)
        if not chunk:
            break
        out += chunk
    status = session.recv_exit_status()
    sftp = paramiko.SFTPClient.from_transport(inner)
    sftp.put(args.local, args.remote)
    sftp.get(args.remote, args.back)
    sftp.close()
    cipher = inner.remote_cipher
    inner.close()
    gate.close()
    return {"exec": out.decode(), "exit": status, "cipher": cipher, "host_key_ok": host_key_ok}


def no_common_cipher(args):
    """The inner session offers only a cipher the gateway refuses; reports the
    inner error and whether the gateway then closed the outer channel."""
    import time
    import paramiko
    key = paramiko.Ed25519Key.from_private_key_file(args.key)
    gate = paramiko.Transport(socket.create_connection(("127.0.0.1", args.port), timeout=20))
    gate.start_client(timeout=20)
    gate.auth_publickey(GATE_USER, key)
    ch = gate.open_channel("direct-tcpip", (args.host, 22), ("127.0.0.1", 0), timeout=20)
    all_ciphers = list(paramiko.Transport._preferred_ciphers)
    inner = paramiko.Transport(
        ch, disabled_algorithms={"ciphers": [c for c in all_ciphers if c != "aes128-cbc"]})
    error = ""
    try:
        inner.start_client(timeout=10)
    except Exception as e:  # noqa: BLE001 - the failure is the point
        error = repr(e)
    # The gateway must close the outer channel itself; paramiko does not.
    deadline = time.time() + 10
    while time.time() < deadline and not ch.closed:
        time.sleep(0.05)
    # Closed, not merely at EOF: a client such as Dropbear waits for the close.
    return {"inner_error": error, "outer_closed": ch.closed}


async def asyncssh_main(args):
    import asyncssh
    key = asyncssh.read_private_key(args.key)
    async with asyncssh.connect("127.0.0.1", port=args.port, username=GATE_USER,
                                client_keys=[key], known_hosts=None) as gate:
        async with asyncssh.connect(args.host, port=22, tunnel=gate, username=args.login,
                                    client_keys=[key], known_hosts=None) as conn:
            seen = conn.get_server_host_key()
            host_key_ok = seen.export_public_key("openssh").decode().split()[:2] == \
                args.host_key.split()[:2]
            r = await conn.run(args.command)
            async with conn.start_sftp_client() as sftp:
                await sftp.put(args.local, args.remote)
                await sftp.get(args.remote, args.back)
            cipher = conn.get_extra_info("recv_cipher")
            return {"exec": r.stdout, "exit": r.exit_status, "cipher": cipher,
                    "host_key_ok": host_key_ok}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("client", choices=["paramiko", "asyncssh", "no-common-cipher"])
    p.add_argument("--port", type=int, required=True, help="the gateway's port")
    p.add_argument("--key", required=True, help="alice's private key (Ed25519)")
    p.add_argument("--host", default="db1")
    p.add_argument("--login", default="root")
    p.add_argument("--host-key", default="", help="the interception key line expected")
    p.add_argument("--command", default="echo hello")
    p.add_argument("--local")
    p.add_argument("--remote")
    p.add_argument("--back")
    args = p.parse_args()
    if args.client == "no-common-cipher":
        print(json.dumps(no_common_cipher(args)), flush=True)
        return
    if args.client == "paramiko":
        result = paramiko_run(args)
    else:
        result = asyncio.run(asyncssh_main(args))
    with open(args.local, "rb") as a, open(args.back, "rb") as b:
        result["sftp_roundtrip"] = a.read() == b.read()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
