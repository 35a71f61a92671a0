"""`python -m bench.service`: the API as `kazoo-vm serve` runs it, in a process of its own, plus a side port
for the benchmark. With `--workers N` (N > 1), as `kazoo-vm serve --workers N` runs it: N processes on the
API port (kazoo_vm.workers), each with a side port of its own (`--side-port` is a comma-separated list).

The API is the same application `kazoo-vm serve` serves, on the same event loop (`make_app` over one
`Voicemail`, settings from the environment, the INFO request log, no access log). The process holds nothing
else, so its /proc/<pid>/status is the service's memory. The side port (another aiohttp site in the same process,
bound to 127.0.0.1) answers:

- `GET /stats`: `{"requests": n, "kinds": {...}}`: the service's own count of CouchDB requests
  (`voicemail.store.requests`), the same requests by kind ("GET modb document", "POST account _all_docs"...)
  and the process id,
  counted by a listener registered on the client (`CouchClient.listeners`: a dictionary increment per CouchDB
  request);
- `POST /migrate` `{"accounts": [...], "workers": n, "batch": n}`: runs the domain code of `kazoo-vm migrate`
  (migration_runner.plan + migrate) with the service's `Voicemail`, and answers its summary, the seconds it
  took and the CouchDB requests it made.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import signal
import sys
import time
from collections import Counter
from urllib.parse import unquote

from aiohttp import web

from kazoo_vm import event_loop
from kazoo_vm.config import Settings
from kazoo_vm.http.app import make_app
from kazoo_vm.voicemail.service import Voicemail


def kind(method: str, path: str) -> str:
    """What a CouchDB request is: method, kind of database, kind of target."""
    db, _, rest = path.partition("/")
    db = unquote(db)
    where = ("accounts" if db == "accounts" else "modb" if re.search(r"-\d{6}$", db)
             else "account" if db.startswith("account/") else "other")
    rest = rest.split("?")[0]
    what = ("database" if not rest else "view" if rest.startswith("_design/") and "/_view/" in rest
            else "design document" if rest.startswith("_design/") else rest if rest.startswith("_")
            else "attachment" if "/" in rest else "document")
    return f"{method} {where} {what}"


def count_kinds(voicemail: Voicemail) -> Counter:
    kinds: Counter = Counter()
    voicemail.store.client.listeners.append(lambda method, path: kinds.update((kind(method, path),)))
    return kinds


def side_app(voicemail: Voicemail) -> web.Application:
    routes = web.RouteTableDef()
    kinds = count_kinds(voicemail)

    @routes.get("/stats")
    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"requests": voicemail.store.requests, "kinds": kinds, "pid": os.getpid()})

    @routes.post("/migrate")
    async def migrate(request: web.Request) -> web.Response:
        from kazoo_vm.voicemail import migration_runner

        body = await request.json()
        before, kinds_before, started = voicemail.store.requests, Counter(kinds), time.perf_counter()
        work = await migration_runner.plan(voicemail, body["accounts"], None)
        run = await migration_runner.migrate(voicemail, work, workers=int(body.get("workers", 4)),
                                             batch=int(body.get("batch", 200)), dry_run=False,
                                             progress=lambda account, stats: None)
        return web.json_response({"seconds": time.perf_counter() - started,
                                  "requests": voicemail.store.requests - before,
                                  "kinds": dict(sorted((kinds - kinds_before).items())),
                                  "summary": run.total.summary()})

    app = web.Application()
    app.add_routes(routes)
    return app


async def serve(host: str, port: int, side_port: int, reuse_port: bool = False) -> None:
    settings = Settings.from_env()
    voicemail = Voicemail(settings)
    runners = [web.AppRunner(make_app(settings, voicemail), access_log=None),
               web.AppRunner(side_app(voicemail), access_log=None)]
    for runner in runners:
        await runner.setup()
    await web.TCPSite(runners[0], host, port, reuse_port=reuse_port or None).start()
    await web.TCPSite(runners[1], "127.0.0.1", side_port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    for runner in runners:
        await runner.cleanup()


def setup_logging(worker: int | None = None) -> None:
    """The log `kazoo-vm serve` writes: one INFO line per request, on stderr."""
    where = "" if worker is None else f"[worker {worker}] "
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s %(levelname)s {where}%(name)s %(message)s")


def worker(index: int, host: str, port: int, side_port: int) -> None:
    """One of `--workers N`, in a process of its own."""
    from kazoo_vm.workers import stop_with_parent

    setup_logging(index)
    stop_with_parent()
    event_loop.choose(Settings.from_env().uvloop)
    asyncio.run(serve(host, port, side_port, reuse_port=True))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.service")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--side-port", required=True, help="one port, or one per worker (comma-separated)")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    side_ports = [int(port) for port in args.side_port.split(",")]
    if len(side_ports) != args.workers:
        parser.error("--side-port needs one port per worker")
    if args.workers == 1:
        setup_logging()
        event_loop.choose(Settings.from_env().uvloop)
        asyncio.run(serve(args.host, args.port, side_ports[0]))
        return
    from kazoo_vm.workers import Supervisor

    setup_logging()
    sys.exit(Supervisor(args.workers, worker, lambda index: (args.host, args.port, side_ports[index])).run())


if __name__ == "__main__":
    main()
