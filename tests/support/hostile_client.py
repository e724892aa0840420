#!/usr/bin/python3
"""A hostile SSH client for hopgate's security tests, on paramiko (Debian's
python3-paramiko): what OpenSSH's ssh will not send, sent on purpose.

Every subcommand connects to the gateway on 127.0.0.1, prints one JSON object
on stdout and exits 0 (the test judges the JSON). Run with /usr/bin/python3.

  open    open COUNT direct-tcpip channels to DEST (host bytes sent verbatim,
          may contain control characters), hold them HOLD seconds
  burst   pipeline signed public-key requests for several keys at once,
          without waiting for replies
  serve   a TCP server that writes a banner to every connection (a service to
          forward to), until killed
  logins  COUNT connections, one after another, each offering KEY as USER
          (a key the gateway refuses): a failed-login flood
  slowloris  open PER_SOURCE connections from each of SOURCES (loopback
          addresses) and send an endless identification string one byte per
          second for SECONDS; report how long each connection stayed open
"""
import argparse
import json
import socket
import sys
import threading
import time

import paramiko
from paramiko.common import cMSG_SERVICE_REQUEST, cMSG_USERAUTH_REQUEST
from paramiko.message import Message


def load_key(path):
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key_file(path)
        except Exception:  # noqa: BLE001 - try the next key type
            continue
    raise SystemExit("cannot load key " + path)


def connect(args, key):
    sock = socket.create_connection(("127.0.0.1", args.port), timeout=20)
    t = paramiko.Transport(sock)
    t.start_client(timeout=20)
    t.auth_publickey(args.user, key)
    return t


def cmd_open(args):
    key = load_key(args.key)
    t = connect(args, key)
    host, _, port = args.dest.encode("latin-1").decode("unicode_escape").rpartition(":")
    opened, refused, reasons = [], 0, []
    for i in range(args.count):
        try:
            if args.kinds == "mixed" and i % 2 == 1:
                ch = t.open_session(timeout=20)  # the gateway's own session channel
            else:
                ch = t.open_channel("direct-tcpip", (host, int(port)), ("127.0.0.1", 4242),
                                    timeout=20)
            opened.append(ch)
        except paramiko.ChannelException as e:
            refused += 1
            if len(reasons) < 3:
                reasons.append("%d %s" % (e.code, e.text))
        except Exception as e:  # noqa: BLE001 - report anything else too
            refused += 1
            reasons.append(repr(e))
            break
    first = ""
    if opened:
        opened[0].settimeout(5)
        try:
            first = opened[0].recv(100).decode("latin-1")
        except Exception:  # noqa: BLE001
            first = ""
    print(json.dumps({"opened": len(opened), "refused": refused, "reasons": reasons,
                      "first_bytes": first}), flush=True)
    if args.hold:
        time.sleep(args.hold)
    for ch in opened:
        ch.close()
    t.close()


def cmd_logins(args):
    key = load_key(args.key)
    refused, other = 0, []
    for _ in range(args.count):
        t = None
        try:
            sock = socket.create_connection(("127.0.0.1", args.port), timeout=20)
            t = paramiko.Transport(sock)
            t.start_client(timeout=20)
            t.auth_publickey(args.user, key)
            other.append("accepted")
        except paramiko.AuthenticationException:
            refused += 1
        except Exception as e:  # noqa: BLE001 - report anything else too
            if len(other) < 3:
                other.append(repr(e))
        finally:
            if t is not None:
                t.close()
    print(json.dumps({"refused": refused, "other": other}), flush=True)


def cmd_banners(args):
    """Opens COUNT channels to DEST one after another; each must deliver the
    first line the server sends before the client sends anything."""
    key = load_key(args.key)
    t = connect(args, key)
    host, _, port = args.dest.rpartition(":")
    seen, missing = 0, 0
    for _ in range(args.count):
        ch = t.open_channel("direct-tcpip", (host, int(port)), ("127.0.0.1", 4242), timeout=20)
        ch.settimeout(5)
        got = b""
        try:
            while b"\n" not in got:
                chunk = ch.recv(100)
                if not chunk:
                    break
                got += chunk
        except Exception:  # noqa: BLE001 - a timeout counts as missing
            pass
        if b"\n" in got:
            seen += 1
        else:
            missing += 1
        ch.close()
    print(json.dumps({"seen": seen, "missing": missing}), flush=True)
    t.close()


def cmd_stall(args):
    """One connection: a channel to a destination that never answers the TCP
    handshake, and meanwhile a second channel to an echo server. Reports how
    long the second took to echo, and what became of the first."""
    key = load_key(args.key)
    t = connect(args, key)
    result = {}

    def blackhole():
        host, _, port = args.blackhole.rpartition(":")
        start = time.time()
        try:
            t.open_channel("direct-tcpip", (host, int(port)), ("127.0.0.1", 4242), timeout=60)
            result["blackhole"] = "opened"
        except paramiko.ChannelException as e:
            result["blackhole"] = "refused %d" % e.code
        except Exception as e:  # noqa: BLE001
            result["blackhole"] = repr(e)
        result["blackhole_ms"] = int((time.time() - start) * 1000)

    th = threading.Thread(target=blackhole)
    th.start()
    time.sleep(0.3)  # the first request is now waiting on its connect
    host, _, port = args.echo.rpartition(":")
    start = time.time()
    ch = t.open_channel("direct-tcpip", (host, int(port)), ("127.0.0.1", 4243), timeout=60)
    ch.settimeout(30)
    got = b""
    while b"\n" not in got:
        got += ch.recv(100)  # the banner line
    ch.sendall(b"ping\n")
    echo = b""
    while b"ping\n" not in echo:
        echo += ch.recv(100)
    result["echo_ms"] = int((time.time() - start) * 1000)
    ch.close()
    th.join()
    print(json.dumps(result), flush=True)
    t.close()


def cmd_burst(args):
    keys = [load_key(p) for p in args.keys.split(",")]
    sock = socket.create_connection(("127.0.0.1", args.port), timeout=20)
    t = paramiko.Transport(sock)
    t.start_client(timeout=20)
    # Ask for ssh-userauth by hand, then send every signed request at once.
    m = Message()
    m.add_byte(cMSG_SERVICE_REQUEST)
    m.add_string("ssh-userauth")
    t._send_message(m)
    time.sleep(0.5)
    for key in keys:
        algo = key.get_name()
        blob = key.asbytes()
        data = Message()
        data.add_string(t.session_id)
        data.add_byte(cMSG_USERAUTH_REQUEST)
        data.add_string(args.user)
        data.add_string("ssh-connection")
        data.add_string("publickey")
        data.add_boolean(True)
        data.add_string(algo)
        data.add_string(blob)
        sig = key.sign_ssh_data(data.asbytes())
        m = Message()
        m.add_byte(cMSG_USERAUTH_REQUEST)
        m.add_string(args.user)
        m.add_string("ssh-connection")
        m.add_string("publickey")
        m.add_boolean(True)
        m.add_string(algo)
        m.add_string(blob)
        m.add_string(sig.asbytes() if hasattr(sig, "asbytes") else sig)
        t._send_message(m)
    # Wait for the verdict: authenticated, or the gateway hung up.
    deadline = time.time() + 10
    while time.time() < deadline and t.is_active() and not t.is_authenticated():
        time.sleep(0.05)
    print(json.dumps({"authenticated": t.is_authenticated(), "active": t.is_active()}),
          flush=True)
    t.close()


def cmd_serve(args):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((args.bind, args.port))
    srv.listen(256)
    print(json.dumps({"listening": srv.getsockname()[1]}), flush=True)

    def handle(c):
        try:
            c.sendall(args.banner.encode() + b"\n")
            while True:
                data = c.recv(4096)
                if not data:
                    break
                if args.echo:
                    c.sendall(data)
        except OSError:
            pass
        finally:
            c.close()

    while True:
        c, _ = srv.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def cmd_slowloris(args):
    import select
    conns = []  # [socket, source, opened_at, closed_at]
    start = time.monotonic()
    for source in args.sources.split(","):
        for _ in range(args.per_source):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.bind((source, 0))
            try:
                c.connect(("127.0.0.1", args.port))
            except OSError:
                c.close()
                conns.append([None, source, time.monotonic() - start, time.monotonic() - start])
                continue
            c.setblocking(False)
            conns.append([c, source, time.monotonic() - start, None])
    print(json.dumps({"opened": len(conns)}), flush=True)
    ident = b"SSH-2.0-" + b"s" * 4096
    sent = 0
    while time.monotonic() - start < args.seconds:
        live = [x for x in conns if x[3] is None]
        if not live:
            break
        for x in live:
            try:
                x[0].send(ident[sent:sent + 1])
            except OSError:
                pass
        sent += 1
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            live = [x for x in conns if x[3] is None]
            if not live:
                break
            ready, _, _ = select.select([x[0] for x in live], [], [],
                                        max(0, deadline - time.monotonic()))
            by_sock = {x[0]: x for x in live}
            for r in ready:
                try:
                    data = r.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    x = by_sock[r]
                    x[3] = time.monotonic() - start
                    r.close()
    lasted = {}
    for c, source, opened, closed in conns:
        end = closed if closed is not None else time.monotonic() - start
        lasted.setdefault(source, []).append(round(end - opened, 2))
        if c is not None and closed is None:
            c.close()
    print(json.dumps({"seconds_open": lasted,
                      "still_open": sum(1 for x in conns if x[3] is None)}), flush=True)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    o = sub.add_parser("open")
    o.add_argument("--port", type=int, required=True)
    o.add_argument("--user", required=True)
    o.add_argument("--key", required=True)
    o.add_argument("--dest", required=True, help="host:port; \\n escapes are decoded")
    o.add_argument("--count", type=int, default=1)
    o.add_argument("--hold", type=float, default=0)
    o.add_argument("--kinds", choices=["direct-tcpip", "mixed"], default="direct-tcpip",
                   help="mixed: every other channel a session channel")
    lg = sub.add_parser("logins")
    lg.add_argument("--port", type=int, required=True)
    lg.add_argument("--user", required=True)
    lg.add_argument("--key", required=True)
    lg.add_argument("--count", type=int, default=100)
    n = sub.add_parser("banners")
    n.add_argument("--port", type=int, required=True)
    n.add_argument("--user", required=True)
    n.add_argument("--key", required=True)
    n.add_argument("--dest", required=True)
    n.add_argument("--count", type=int, default=200)
    st = sub.add_parser("stall")
    st.add_argument("--port", type=int, required=True)
    st.add_argument("--user", required=True)
    st.add_argument("--key", required=True)
    st.add_argument("--blackhole", required=True)
    st.add_argument("--echo", required=True)
    b = sub.add_parser("burst")
    b.add_argument("--port", type=int, required=True)
    b.add_argument("--user", required=True)
    b.add_argument("--keys", required=True, help="comma-separated private key files")
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--banner", required=True)
    s.add_argument("--bind", default="127.0.0.1", help="a loopback address")
    s.add_argument("--echo", action="store_true", help="echo what each client sends")
    sl = sub.add_parser("slowloris")
    sl.add_argument("--port", type=int, required=True)
    sl.add_argument("--sources", required=True, help="comma-separated loopback addresses")
    sl.add_argument("--per-source", type=int, default=150)
    sl.add_argument("--seconds", type=float, default=20)
    args = p.parse_args()
    {"open": cmd_open, "logins": cmd_logins, "banners": cmd_banners, "burst": cmd_burst, "stall": cmd_stall,
     "serve": cmd_serve, "slowloris": cmd_slowloris}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
