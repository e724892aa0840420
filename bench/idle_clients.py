#!/usr/bin/python3
"""Holds many idle authenticated SSH connections to a gateway, each with one
direct-tcpip channel open to a TCP sink, from one process (asyncssh, Debian's
python3-asyncssh). For bench/run.sh's idle-connection section.

Prints one JSON line when all are open (or failed): {"open": N, "failed": M,
"seconds": S, "errors": [...]}, then holds them until stdin closes or
--hold seconds pass, then exits (closing everything).
"""
import argparse
import asyncio
import json
import resource
import sys
import time

import asyncssh


class Sink(asyncssh.SSHTCPSession):
    def data_received(self, data, datatype):
        pass


async def one(args, key, sem, conns, errors):
    async with sem:
        try:
            conn = await asyncssh.connect(
                args.host, port=args.port, username=args.user, client_keys=[key],
                known_hosts=None, keepalive_interval=0, connect_timeout=60)
            chan, _ = await conn.create_connection(Sink, args.dest_host, args.dest_port)
            conns.append((conn, chan))
        except Exception as e:  # noqa: BLE001 - counted and reported
            if len(errors) < 5:
                errors.append(repr(e))
            errors.append(None)


async def main_async(args):
    key = asyncssh.read_private_key(args.key)
    sem = asyncio.Semaphore(args.parallel)
    conns, errors = [], []
    start = time.time()
    await asyncio.gather(*(one(args, key, sem, conns, errors) for _ in range(args.count)))
    failed = sum(1 for e in errors if e is None)
    print(json.dumps({"open": len(conns), "failed": failed, "seconds": round(time.time() - start, 2),
                      "errors": [e for e in errors if e][:5]}), flush=True)
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def stdin_closed():
        if not done.done():
            done.set_result(None)
    loop.add_reader(sys.stdin.fileno(), lambda: (sys.stdin.read(1) == "" or True) and stdin_closed())
    try:
        await asyncio.wait_for(done, timeout=args.hold)
    except asyncio.TimeoutError:
        pass
    for conn, _ in conns:
        conn.close()


def main():
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
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
