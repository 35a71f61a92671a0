"""The benchmark run: a CouchDB (a fresh in-memory PouchDB Server, or KAZOO_VM_COUCHDB_URL), the selected
scenarios one after the other, then the table on stdout and the JSON file."""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import aiohttp

from kazoo_vm import event_loop
from kazoo_vm.config import Settings

from . import chart, report, targets
from .harness import Context, Direct, ROOT
from .measure import Row
from .scenarios import SCENARIOS
from .seed import Seeder

DEFAULT_OUTPUT = ROOT / "bench" / "results" / "latest.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=(
        "Benchmark kazoo-vm against CouchDB itself: each scenario's API latency or throughput next to the "
        "same request made directly to CouchDB, the CouchDB requests per API request and the service's "
        "memory. Without --target: KAZOO_VM_COUCHDB_URL when set, else an in-memory PouchDB Server."))
    parser.add_argument("--target", metavar="TARGET",
                        help="pouchdb (in-memory PouchDB Server), couchdb (Apache CouchDB single node) or cluster "
                             "(3 nodes), both started with KAZOO_VM_COUCHDB_SCRIPT (default "
                             "../shared/couchdb/couchdb) and removed after, or the URL of a CouchDB to use")
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds per scenario")
    parser.add_argument("--only", action="append", metavar="NAME", default=[],
                        help=f"run only these scenarios (repeat or comma-separate): {', '.join(SCENARIOS)}")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"JSON file (default {DEFAULT_OUTPUT})")
    parser.add_argument("--chart", type=Path, metavar="FILE",
                        help="chart of API/direct with the goals (.png or .svg; default: the JSON file's name "
                             "with .png; needs matplotlib, the `bench` extra)")
    args = parser.parse_args(argv)
    try:
        args.couch = targets.choose(args.target)
    except targets.TargetError as error:
        parser.error(str(error))
    args.chart = args.chart or args.output.with_suffix(".png")
    names = [name.strip() for value in args.only for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    args.names = [name for name in SCENARIOS if name in names] if names else list(SCENARIOS)
    return args


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = next((int(line.split()[1]) * 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:")), 0)
    return {"nproc": os.cpu_count(), "memory_gb": round(memory / 1024 ** 3, 1), "cpu": cpu,
            "python": platform.python_version(), "kernel": platform.release()}


def code_version() -> dict:
    """The commit measured, and whether kazoo_vm/ had changes not committed yet."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "kazoo_vm"], cwd=ROOT, capture_output=True,
                               text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"commit": head, "kazoo_vm_uncommitted_changes": bool(dirty)}


def pouchdb_server_version() -> str | None:
    try:
        return json.loads((ROOT / "node_modules" / "pouchdb-server" / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def describe(target: targets.Target) -> str:
    if target.name == "pouchdb":
        return f"in-memory PouchDB Server {pouchdb_server_version()} (node_modules)"
    if target.name == "couchdb":
        return "Apache CouchDB single node (started by the benchmark)"
    if target.name == "cluster":
        return "Apache CouchDB 3-node cluster, q=2 n=3 (started by the benchmark)"
    return target.description


async def run(args: argparse.Namespace) -> list[Row]:
    target: targets.Target = args.couch
    log(f"bench: target {target.name}: starting" if target.name in targets.NAMES else f"bench: target {target.name}")
    couch_url = target.start()
    try:
        return await _run(args, target, couch_url)
    finally:
        target.stop()


async def _run(args: argparse.Namespace, target: targets.Target, couch_url: str) -> list[Row]:
    rows: list[Row] = []
    started = time.monotonic()
    meta = {"quick": args.quick, "scenarios": args.names, "machine": machine(), "code": code_version(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "load_average_start": os.getloadavg(),
            "target": target.name, "couchdb": describe(target),
            "service_event_loop": event_loop.kind(Settings.from_env().uvloop)}
    seeder = Seeder(couch_url)
    # idle connections are dropped before PouchDB Server closes them (after 5 s), so that none is reused
    # just as the server closes it
    connector = aiohttp.TCPConnector(limit=256, keepalive_timeout=3)
    session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None, sock_read=3600))
    workdir = tempfile.TemporaryDirectory(prefix="kazoo-vm-bench-")
    ctx = Context(args.quick, couch_url, seeder, Direct(session, couch_url), session, Path(workdir.name),
                  secrets.token_hex(32))
    try:
        welcome = await ctx.direct.request("GET")
        meta["couchdb_welcome"] = welcome.json() if welcome.status == 200 else welcome.status
        for name in args.names:
            log(f"bench: {name} ...")
            began = time.monotonic()
            try:
                found = await SCENARIOS[name](ctx)
            except Exception as failure:  # noqa: BLE001 - a broken scenario is reported, the others still run
                traceback.print_exc()
                logs = "; ".join(f"service log: {service.log_tail(2)}" for service in ctx.services.values())
                found = [Row(name, "scenario failed", "", goal="runs", met=False,
                             notes=f"{type(failure).__name__}: {failure}"[:500] + (f" ({logs[:500]})" if logs else ""))]
            for row in found:
                row.extra["scenario_seconds"] = round(time.monotonic() - began, 1)
            rows += found
            log(f"bench: {name} done in {time.monotonic() - began:.0f} s")
    finally:
        services = [dict(key) for key in ctx.services]
        await ctx.close()
        await session.close()
        if target.shared:
            await seeder.cleanup()
        await seeder.close()
        workdir.cleanup()
    meta.update(seconds=round(time.monotonic() - started), load_average_end=os.getloadavg(), service_settings=services)
    print(report.render(rows), flush=True)
    report.write_json(args.output, meta, rows)
    log(f"bench: written to {args.output}")
    drawn = chart.draw(rows, meta, args.chart)
    log(f"bench: chart written to {args.chart}" if drawn is None else f"bench: no chart: {drawn}")
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rows = asyncio.run(run(args))
    return 1 if any(row.measure == "scenario failed" for row in rows) else 0
