"""What every scenario uses: the service process (with its CouchDB request counter and its memory), an API
client, a direct CouchDB client, and timing."""
from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from kazoo_vm.devtools.local_couch import free_port
from kazoo_vm.http.tokens import issue

ROOT = Path(__file__).resolve().parents[1]
AVOIDED_PORTS = {5984, 5990, 8011}
MB = 1024 * 1024


def bench_port() -> int:
    while True:
        port = free_port()
        if port not in AVOIDED_PORTS:
            return port


@dataclass
class Memory:
    """The service's resident memory around a piece of work: RSS when it started, and the peak (VmHWM,
    reset at the start) while it ran. Bytes."""
    start_rss: int = 0
    peak: int = 0

    @property
    def growth(self) -> int:
        return max(self.peak - self.start_rss, 0)


def _proc_status(pid: int) -> dict[str, int]:
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) * 1024
    return values


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far (their threads included); 0 for gone ones."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def terminate(process: subprocess.Popen) -> None:
    """SIGTERM, and SIGKILL after 15 s."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def listening_pids(port: int) -> list[int]:
    """The processes listening on a loopback TCP port (from `ss`); [] when `ss` cannot say."""
    try:
        out = subprocess.run(["ss", "-tlnpH", f"( sport = :{port} )"], capture_output=True, text=True,
                             timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted({int(pid) for pid in re.findall(r"pid=(\d+),", out)})


class ServiceProcess:
    """`python -m bench.service` on a free loopback port, with the given environment settings; with
    `workers` > 1, that many worker processes on the port (as `kazoo-vm serve --workers`), each with a side
    port: counts and memory are summed over the workers."""

    def __init__(self, couch_url: str, secret: str, workdir: Path, workers: int = 1, **settings: str):
        self.couch_url = couch_url
        self.secret = secret
        self.settings = settings
        self.workers = workers
        self.port = bench_port()
        self.side_ports = [bench_port() for _ in range(workers)]
        self.pids: list[int] = []
        self.log_path = workdir / f"service-{self.port}.log"
        self.process: subprocess.Popen | None = None
        self.session: aiohttp.ClientSession | None = None
        self.profile: Path | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self, timeout: float = 60.0) -> None:
        env = dict(os.environ, KAZOO_VM_COUCHDB_URL=self.couch_url, KAZOO_VM_SECRET=self.secret,
                   KAZOO_VM_HOST="127.0.0.1", KAZOO_VM_PORT=str(self.port),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        env.update(self.settings)
        command = [sys.executable, "-m", "bench.service", "--port", str(self.port), "--workers", str(self.workers),
                   "--side-port", ",".join(map(str, self.side_ports))]
        if os.environ.get("BENCH_PYSPY"):  # a directory: the service runs under py-spy, its samples written there
            self.profile = Path(os.environ["BENCH_PYSPY"]) / f"service-{self.port}-{self.workers}w.txt"
            self.profile.parent.mkdir(parents=True, exist_ok=True)
            command = [str(Path(sys.executable).with_name("py-spy")), "record", "--format", "raw", "--subprocesses",
                       "--rate", os.environ.get("BENCH_PYSPY_RATE", "500"),
                       "--output", str(self.profile), "--", *command]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=log, start_new_session=True)
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=3600))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited at start: {self.log_tail()}")
            try:
                async with self.session.get(f"{self.base}/v2/health") as resp:
                    if resp.status == 200:
                        self.pids = await self._worker_pids()
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise RuntimeError(f"the service did not answer within {timeout:.0f} s: {self.log_tail()}")

    def log_tail(self, lines: int = 5) -> str:
        try:
            return " | ".join(self.log_path.read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return "no log"

    @property
    def side_port(self) -> int:
        return self.side_ports[0]

    async def _worker_stats(self, side_port: int) -> dict:
        async with self.session.get(f"http://127.0.0.1:{side_port}/stats") as resp:
            return await resp.json()

    async def _worker_pids(self) -> list[int]:
        """Every worker's process id, once every worker answers on its side port."""
        return [(await self._worker_stats(port))["pid"] for port in self.side_ports]

    async def stats(self) -> tuple[int, Counter]:
        """The service's count of CouchDB requests so far, and the same by kind (summed over the workers)."""
        requests, kinds = 0, Counter()
        for found in await asyncio.gather(*(self._worker_stats(port) for port in self.side_ports)):
            requests += found["requests"]
            kinds.update(found.get("kinds") or {})
        return requests, kinds

    async def requests(self) -> int:
        return (await self.stats())[0]

    async def migrate(self, accounts: list[str], workers: int, batch: int) -> dict:
        async with self.session.post(f"http://127.0.0.1:{self.side_port}/migrate",
                                     json={"accounts": accounts, "workers": workers, "batch": batch}) as resp:
            if resp.status != 200:
                raise RuntimeError(f"migration failed ({resp.status}): {self.log_tail()}")
            return await resp.json()

    def memory_now(self) -> dict[str, int]:
        """VmRSS and VmHWM, summed over the workers (the supervisor of several holds no requests)."""
        total: Counter = Counter()
        for pid in self.pids or [self.pid]:
            total.update(_proc_status(pid))
        return dict(total)

    def couch_bytes_received(self) -> dict[str, int] | None:
        """Bytes received so far on each of the service's open TCP connections to CouchDB (from the kernel's
        tcp_info, via `ss`), by connection; None when `ss` is not available."""
        port = URL(self.couch_url).port
        try:
            out = subprocess.run(["ss", "-tinpH", "state", "established", f"( dport = :{port} )"],
                                 capture_output=True, text=True, timeout=10, check=True).stdout
        except (OSError, subprocess.SubprocessError):
            return None
        found: dict[str, int] = {}
        connection = None
        for line in out.splitlines():
            if not line[:1].isspace():
                fields = line.split()
                connection = " ".join(fields[2:4]) if any(f"pid={pid}," in line for pid in self.pids) else None
            elif connection is not None:
                received = re.search(r"bytes_received:(\d+)", line)
                found[connection] = int(received[1]) if received else 0
        return found

    @asynccontextmanager
    async def memory(self):
        """Peak RSS around a block: VmHWM is reset (clear_refs 5) before it and read after it."""
        for pid in self.pids or [self.pid]:
            with open(f"/proc/{pid}/clear_refs", "w") as clear:
                clear.write("5")
        found = Memory(start_rss=self.memory_now()["VmRSS"])
        try:
            yield found
        finally:
            found.peak = self.memory_now()["VmHWM"]

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()
        if self.process is not None and self.process.poll() is None:
            if self.profile is not None:  # py-spy writes its samples once the service it runs has stopped
                for child in _children(self.process.pid):
                    os.kill(child, signal.SIGTERM)
                try:
                    self.process.wait(timeout=30)
                    return
                except subprocess.TimeoutExpired:
                    pass
            terminate(self.process)


class RelayProcess:
    """`python -m bench.relay` (the bare aiohttp relay, the floor of a Python HTTP hop) on a free loopback port."""

    def __init__(self, couch_url: str, workdir: Path):
        self.couch_url = couch_url
        self.port = bench_port()
        self.log_path = workdir / f"relay-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pids(self) -> list[int]:
        return [self.process.pid] if self.process is not None else []

    async def start(self, session: aiohttp.ClientSession, timeout: float = 30.0) -> None:
        env = dict(os.environ, KAZOO_VM_COUCHDB_URL=self.couch_url,
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "bench.relay", "--port", str(self.port)], cwd=ROOT,
                                            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the relay exited at start: {self.log_path.read_text(errors='replace')[-500:]}")
            try:
                async with session.get(f"{self.base}/") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise RuntimeError(f"the relay did not answer within {timeout:.0f} s")

    async def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            terminate(self.process)


@dataclass
class Reply:
    status: int
    body: bytes
    headers: Any = None
    size: int = 0

    def json(self) -> Any:
        import json
        return json.loads(self.body)


async def _send(session: aiohttp.ClientSession, method: str, url: Any, *, stream: bool = False,
                **kwargs: Any) -> Reply:
    """One request, its body read (or, with stream, read in chunks and counted, never kept)."""
    async with session.request(method, url, **kwargs) as resp:
        if stream:
            size = 0
            async for chunk in resp.content.iter_chunked(256 * 1024):
                size += len(chunk)
            return Reply(resp.status, b"", resp.headers, size)
        body = await resp.read()
        return Reply(resp.status, body, resp.headers, len(body))


@dataclass
class Api:
    """The API of one account, as a client sees it."""
    session: aiohttp.ClientSession
    base: str
    account_id: str
    token: str

    def url(self, path: str) -> str:
        return f"{self.base}/v2/accounts/{self.account_id}{path}"

    async def request(self, method: str, path: str, *, headers: dict | None = None, **kwargs: Any) -> Reply:
        return await _send(self.session, method, self.url(path),
                           headers={"X-Auth-Token": self.token, **(headers or {})}, **kwargs)


def api_for(session: aiohttp.ClientSession, service: ServiceProcess, account_id: str) -> Api:
    return Api(session, service.base, account_id, issue(service.secret, account_id, 3600 * 4))


class Direct:
    """CouchDB itself, asked the same things the service asks it; every database name and id is sent
    percent-encoded, as the service sends them."""

    def __init__(self, session: aiohttp.ClientSession, couch_url: str):
        parsed = URL(couch_url)
        self.session = session
        self.base = str(parsed.with_user(None).with_password(None)).rstrip("/")
        self.headers = {"Authorization": aiohttp.BasicAuth(parsed.user, parsed.password or "").encode()} \
            if parsed.user else {}
        self.bulk_get: bool | None = None

    def url(self, *segments: str) -> URL:
        return URL(self.base + "/" + "/".join(quote(segment, safe="") for segment in segments), encoded=True)

    async def request(self, method: str, *segments: str, headers: dict | None = None, **kwargs: Any) -> Reply:
        return await _send(self.session, method, self.url(*segments), headers={**self.headers, **(headers or {})},
                           **kwargs)

    async def docs(self, db: str, ids: list[str], *, attachments: bool = False) -> list[dict]:
        """Documents by id, read the fastest way this server has, as the service reads them: `_bulk_get` on Apache
        CouchDB (docs/couchdb.md, "Reading documents by id"), `_all_docs` by keys on PouchDB Server. The
        benchmark's documents have no conflicts, so `_bulk_get`'s one leaf is the document."""
        if self.bulk_get is None:
            self.bulk_get = "couchdb" in expect(await self.request("GET"), 200, what="GET /").json()
        extra = {"attachments": "true"} if attachments else {}
        if self.bulk_get:
            reply = await self.request("POST", db, "_bulk_get", params=extra, headers={"Accept": "application/json"},
                                       json={"docs": [{"id": doc_id} for doc_id in ids]})
            return [entry["docs"][0]["ok"] for entry in expect(reply, 200, what="direct _bulk_get").json()["results"]]
        reply = await self.request("POST", db, "_all_docs", params={"include_docs": "true", **extra}, json={"keys": ids})
        return [row["doc"] for row in expect(reply, 200, what="direct _all_docs").json()["rows"]]

    async def view(self, db: str, design: str, view: str, **params: Any) -> Reply:
        import json
        query = {name: json.dumps(value) for name, value in params.items() if value is not None}
        return await self.request("GET", db, "_design", design, "_view", view, params=query)


@dataclass
class Sample:
    """One timed API request: seconds, CouchDB requests it made (in all and by kind), and the reply."""
    seconds: float
    couch_requests: int
    reply: Reply
    kinds: Counter = field(default_factory=Counter)

    @property
    def steady_requests(self) -> int:
        """The CouchDB requests without reads of the `accounts` database: the service caches an account for
        5 s, so whether a request reads it depends on the clock, not on the request."""
        return self.couch_requests - sum(count for name, count in self.kinds.items() if " accounts " in name)


async def timed(call: Callable[[], Awaitable[Reply]]) -> tuple[float, Reply]:
    started = time.perf_counter()
    reply = await call()
    return time.perf_counter() - started, reply


async def counted(service: ServiceProcess, call: Callable[[], Awaitable[Reply]]) -> Sample:
    """Time an API request and count the CouchDB requests it made (the counter is read outside the timing)."""
    before, kinds_before = await service.stats()
    seconds, reply = await timed(call)
    after, kinds_after = await service.stats()
    return Sample(seconds, after - before, reply, kinds_after - kinds_before)


def expect(reply: Reply, *statuses: int, what: str = "request") -> Reply:
    if reply.status not in statuses:
        raise RuntimeError(f"{what} answered {reply.status}: {reply.body[:300]!r}")
    return reply


@dataclass
class Context:
    """What a scenario gets: sizes (quick or full), the seeder, clients, and services by settings."""
    quick: bool
    couch_url: str
    seeder: Any
    direct: Direct
    session: aiohttp.ClientSession
    workdir: Path
    secret: str
    services: dict[tuple, ServiceProcess] = field(default_factory=dict)
    relay_process: RelayProcess | None = None

    def size(self, full: Any, quick: Any) -> Any:
        return quick if self.quick else full

    async def service(self, workers: int = 1, **settings: str) -> ServiceProcess:
        """A running service with these KAZOO_VM_* settings and workers (one per distinct set)."""
        key = tuple(sorted(settings.items())) + ((("workers", str(workers)),) if workers > 1 else ())
        if key not in self.services:
            service = ServiceProcess(self.couch_url, self.secret, self.workdir, workers, **settings)
            await service.start()
            self.services[key] = service
        return self.services[key]

    async def relay(self) -> Direct:
        """CouchDB through the bare aiohttp relay (bench/relay.py), asked as `direct` is."""
        if self.relay_process is None:
            relay = RelayProcess(self.couch_url, self.workdir)
            await relay.start(self.session)
            self.relay_process = relay
        return Direct(self.session, self.relay_process.base)

    def api(self, service: ServiceProcess, account_id: str) -> Api:
        return api_for(self.session, service, account_id)

    async def close(self) -> None:
        for service in self.services.values():
            await service.stop()
        self.services.clear()
        if self.relay_process is not None:
            await self.relay_process.stop()
            self.relay_process = None
