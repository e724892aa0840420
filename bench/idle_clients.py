#!/usr/bin/python3
"""Holds many idle authenticated SSH connections to a gateway, each with one
direct-tcpip channel open to a TCP sink, from one process (asyncssh, Debian's
python3-asyncssh). For bench/run.sh's idle-connection section.

  idle_clients.py --port P --user U --key K --dest-port D [--count N] ...
    Prints one JSON line when all are open (or failed): {"open": N,
    "failed": M, "seconds": S, "cpu_seconds": C, "errors": [...]} (C: this
    process's user+sys CPU while opening them), then holds them until stdin
    closes (or a byte arrives on it) or --hold seconds pass, then exits
    (closing everything).

  idle_clients.py sink [--port 0] [--hold S]
    The TCP sink those channels end at: one asyncio process that accepts on
    127.0.0.1 and discards whatever arrives (no thread per connection).
    Prints {"listening": PORT}, then serves until stdin closes (or a byte
    arrives on it) or --hold seconds pass.

Both raise their open-files soft limit to the hard limit. Run with
/usr/bin/python3 (Debian's, which has asyncssh).
"""
import argparse
import asyncio
import json
import os
import resource
import sys
import time

import asyncssh


def raise_nofile():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def hold(seconds):
    """Returns when stdin reaches end of file or has a byte, or after seconds."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def readable():
        try:
            os.read(sys.stdin.fileno(), 1)
        except OSError:
            pass
        if not done.done():
            done.set_result(None)
    loop.add_reader(sys.stdin.fileno(), readable)
    try:
        await asyncio.wait_for(done, timeout=seconds)
    except asyncio.TimeoutError:
        pass
    finally:
        loop.remove_reader(sys.stdin.fileno())


# --- the sink -------------------------------------------------------------

class Discard(asyncio.Protocol):
    def data_received(self, data):
        pass


async def sink_async(args):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Discard, "127.0.0.1", args.port, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"listening": port}), flush=True)
    await hold(args.hold)
    server.close()


# --- the clients ----------------------------------------------------------

class Sink(asyncssh.SSHTCPSession):
    def data_received(self, data, datatype):
        pass


async def one(args, key, sem, conns, errors):
    async with sem:
        try:
            conn = await asyncssh.connect(
                args.host, port=args.port, username=args.user, client_keys=[key],
                known_hosts=None, keepalive_interval=0, connect_timeout=60)
            try:
                chan, _ = await asyncio.wait_for(
                    conn.create_connection(Sink, args.dest_host, args.dest_port),
                    timeout=60)
            except BaseException:
                conn.close()
                raise
            conns.append((conn, chan))
        except Exception as e:  # noqa: BLE001 - counted and reported
            errors.append(repr(e))


async def clients_async(args):
    key = asyncssh.read_private_key(args.key)
    sem = asyncio.Semaphore(args.parallel)
    conns, errors = [], []
    start, cpu0 = time.monotonic(), cpu_seconds()
    await asyncio.gather(*(one(args, key, sem, conns, errors) for _ in range(args.count)))
    distinct = list(dict.fromkeys(errors))
    print(json.dumps({"open": len(conns), "failed": len(errors),
                      "seconds": round(time.monotonic() - start, 3),
                      "cpu_seconds": round(cpu_seconds() - cpu0, 3),
                      "errors": distinct[:5]}), flush=True)
    await hold(args.hold)
    for conn, _ in conns:
        conn.close()
    await asyncio.gather(*(conn.wait_closed() for conn, _ in conns), return_exceptions=True)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "sink":
        p = argparse.ArgumentParser(prog="idle_clients.py sink")
        p.add_argument("--port", type=int, default=0)
        p.add_argument("--hold", type=float, default=600)
        args = p.parse_args(sys.argv[2:])
        raise_nofile()
        asyncio.run(sink_async(args))
        return
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--dest-host", default="127.0.0.1")
    p.add_argument("--dest-port", type=int, required=True)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--parallel", type=int, default=64)
    p.add_argument("--hold", type=float, default=600)
    args = p.parse_args()
    raise_nofile()
    asyncio.run(clients_async(args))


if __name__ == "__main__":
    main()
