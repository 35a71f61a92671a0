"""50 concurrent clients for 30 s, each in a loop of a mixed workload on 10 boxes of 100 messages (2 KB
recordings): 40% message metadata, 20% newest 50 of a box, 10% `GET /vmboxes`, 15% folder change of one
message (each client changes only its own share of the messages), 15% raw audio download: through a service
of 1 worker, then the same mix made directly to CouchDB for as long (document GET, the view month by
month until 51 rows, crossbar_listing + folder counts, document GET + PUT, attachment GET), then through a
service of 2 workers (`kazoo-vm serve --workers 2`); both API runs are compared with the direct run between
them. Every answer that is not 2xx, or a failed connection, is an error. The clients are one asyncio process
on loopback."""
from __future__ import annotations

import asyncio
import random
import time

from kazoo_vm.storage.dbnames import gregorian_now, modb
from kazoo_vm.voicemail.message_docs import db_of

from yarl import URL

from ..harness import MB, Context, cpu_seconds, listening_pids
from ..measure import Row, mean, median, ms, percentile
from ..seed import months_back, spread, wav

NAME = "concurrent"
WORKERS = (1, 2)
THROUGHPUT_GOAL = 0.9
LATENCY_GOAL = 1.5  # p50
MIX = {"get": 40, "list": 20, "vmboxes": 10, "folder": 15, "raw": 15}
VIEWS = [("mailbox_messages", "listing_by_mailbox"), ("kazoo_vm_messages", "box_folder_counts"),
         ("kazoo_vm_messages", "timestamp_box_folder_counts")]


async def _clients(count: int, seconds: float, work) -> tuple[list[tuple[str, float, bool]], float, list[str]]:
    """`count` loops of `work(op, client, rng)` until the deadline; (op, seconds, ok) per request, and what
    went wrong with each failed one (`work` answers True, or what it got instead)."""
    samples: list[tuple[str, float, bool]] = []
    errors: list[str] = []
    deadline = time.perf_counter() + seconds

    async def client(number: int) -> None:
        rng = random.Random(number)
        while time.perf_counter() < deadline:
            op = rng.choices(list(MIX), weights=list(MIX.values()))[0]
            started = time.perf_counter()
            try:
                outcome = await work(op, number, rng)
            except Exception as failure:  # noqa: BLE001 - every failure is counted, none stops the run
                outcome = f"{type(failure).__name__}: {failure}"
            took = time.perf_counter() - started
            if outcome is not True:
                errors.append(f"{op}: {outcome} after {took:.1f} s"[:240])
            samples.append((op, took, outcome is True))

    started = time.perf_counter()
    await asyncio.gather(*(client(number) for number in range(count)))
    return samples, time.perf_counter() - started, errors


def _summary(failures: list[str]) -> str:
    """Failures counted by what they were (without their durations)."""
    kinds: dict[str, int] = {}
    for failure in failures:
        kind = failure.rsplit(" after ", 1)[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    return ", ".join(f"{count} x {kind}" for kind, count in sorted(kinds.items(), key=lambda item: -item[1]))


def _outcome(reply) -> bool | str:
    """True for a 2xx answer; else its status and error message."""
    if 200 <= reply.status < 300:
        return True
    try:
        message = reply.json().get("message") or reply.json().get("reason")
    except (ValueError, AttributeError):
        message = reply.body[:100].decode(errors="replace")
    return f"{reply.status} ({message})"


async def run(ctx: Context) -> list:
    clients, seconds = ctx.size(50, 10), ctx.size(30.0, 3.0)
    account = await ctx.seeder.account("bench concurrent")
    boxes = await ctx.seeder.boxes(account, 10)
    recording = wav(2048)
    messages = []  # (box id, message id)
    for box in boxes:
        for message_id in await ctx.seeder.messages(account, box, spread(100, 40), audio=lambda _: recording):
            messages.append((box["_id"], message_id))
    names = {}
    for box_id, message_id in messages:
        doc = (await ctx.direct.request("GET", db_of(account, message_id), message_id)).json()
        names[message_id] = next(iter(doc["_attachments"]))
    await ctx.seeder.warm(account.db, "vmboxes", "crossbar_listing")
    await ctx.seeder.warm_modbs(account, months_back(5), VIEWS)
    months = [modb(account.id, *month) for month in months_back(5)]
    months = [db for db in months if (await ctx.direct.request("GET", db)).status == 200]
    folders = ("saved", "new")

    def mine(number: int, rng: random.Random):
        return rng.choice(messages[number::clients] or messages)

    def api_work(api):
        async def work(op: str, number: int, rng: random.Random) -> bool:
            box_id, message_id = rng.choice(messages)
            if op == "get":
                reply = await api.request("GET", f"/vmboxes/{box_id}/messages/{message_id}")
            elif op == "list":
                reply = await api.request("GET", f"/vmboxes/{box_id}/messages?page_size=50")
            elif op == "vmboxes":
                reply = await api.request("GET", "/vmboxes")
            elif op == "folder":
                box_id, message_id = mine(number, rng)
                reply = await api.request("POST", f"/vmboxes/{box_id}/messages/{message_id}",
                                          json={"data": {"folder": rng.choice(folders)}})
            else:
                reply = await api.request("GET", f"/vmboxes/{box_id}/messages/{message_id}/raw", stream=True)
            return _outcome(reply)
        return work

    def direct_work(client):
        """The mix made to CouchDB itself (ctx.direct), or through the bare relay."""
        async def work(op: str, number: int, rng: random.Random) -> bool:
            box_id, message_id = rng.choice(messages)
            db = db_of(account, message_id)
            if op == "get":
                reply = await client.request("GET", db, message_id)
            elif op == "list":  # month by month, newest first, until the page and the row after it are read
                rows = 0
                for month in months:
                    reply = await client.view(month, "mailbox_messages", "listing_by_mailbox",
                                              startkey=[box_id, {}], endkey=[box_id, 0], descending=True,
                                              limit=51 - rows)
                    if _outcome(reply) is not True:
                        break
                    rows += len(reply.json()["rows"])
                    if rows > 50:
                        break
            elif op == "vmboxes":
                replies = await asyncio.gather(
                    client.view(account.db, "vmboxes", "crossbar_listing", limit=51),
                    *(client.view(month, "kazoo_vm_messages", "box_folder_counts", group_level=2) for month in months))
                return next((_outcome(reply) for reply in replies if _outcome(reply) is not True), True)
            elif op == "folder":
                box_id, message_id = mine(number, rng)
                db = db_of(account, message_id)
                doc = (await client.request("GET", db, message_id)).json()
                doc["metadata"]["folder"] = rng.choice(folders)
                doc["pvt_modified"] = gregorian_now()
                reply = await client.request("PUT", db, message_id, json=doc)
            else:
                reply = await client.request("GET", db, message_id, names[message_id], stream=True)
            return _outcome(reply)
        return work

    async def settle() -> None:
        """Indexes up to date before each run: the folder changes of a run leave work for the next one's
        view queries (PouchDB Server updates an index when it is queried)."""
        await ctx.seeder.warm(account.db, "vmboxes", "crossbar_listing")
        await ctx.seeder.warm_modbs(account, months_back(5), VIEWS)

    couch_pids = listening_pids(URL(ctx.couch_url).port)

    async def api_run(workers: int) -> dict:
        service = await ctx.service(workers=workers)
        await settle()
        before, kinds_before = await service.stats()
        cpu = CpuMeter(service.pids, couch_pids)
        async with service.memory() as memory:
            samples, elapsed, failures = await _clients(clients, seconds, api_work(ctx.api(service, account.id)))
        after, kinds_after = await service.stats()
        count = max(len(samples), 1)
        return {"samples": samples, "elapsed": elapsed, "failures": failures, "memory": memory,
                "couch": (after - before) / count, "cpu": cpu.per_request(count),
                "kinds": {name: round(value / count, 3) for name, value in sorted((kinds_after - kinds_before).items())}}

    async def direct_run(client, pids: list[int]) -> dict:
        cpu = CpuMeter(pids, couch_pids)
        samples, elapsed, failures = await _clients(clients, seconds, direct_work(client))
        return {"samples": samples, "elapsed": elapsed, "failures": failures,
                "cpu": cpu.per_request(max(len(samples), 1))}

    # one worker, CouchDB directly, the relay, two workers: the direct run sits between the API runs it is
    # compared with
    for workers in WORKERS:
        await ctx.service(workers=workers)
    one = await api_run(WORKERS[0])
    await settle()
    direct = await direct_run(ctx.direct, [])
    relay = await ctx.relay()
    await settle()
    relayed = await direct_run(relay, ctx.relay_process.pids)
    two = await api_run(WORKERS[1])
    label = f"{clients} clients, mixed workload, {seconds:g} s"
    return [*_rows(one, direct, f"{label}, {WORKERS[0]} worker"), *_rows(two, direct, f"{label}, {WORKERS[1]} workers"),
            *_rows(relayed, direct, f"{label}, through a bare aiohttp relay (floor of a Python hop)", goals=False)]


class CpuMeter:
    """CPU time used by the service, CouchDB (the process(es) listening on its port: one node of a cluster)
    and this benchmark process (the clients) from its creation on, per request. When the machine's cores are
    all busy, the direct run's total over the API run's total is the throughput ratio the CPU allows."""

    def __init__(self, service_pids: list[int], couch_pids: list[int]):
        self.service_pids, self.couch_pids = service_pids, couch_pids
        self.start = self._now()

    def _now(self) -> dict[str, float]:
        return {"service": cpu_seconds(self.service_pids), "couchdb": cpu_seconds(self.couch_pids),
                "clients": time.process_time()}

    def per_request(self, count: int) -> dict[str, float]:
        """Milliseconds of CPU per request, by process, and in total."""
        used = {name: (value - self.start[name]) * 1000 / count for name, value in self._now().items()}
        used["total"] = sum(used.values())
        return {name: round(value, 3) for name, value in used.items()}


def _cpu_note(api: dict, direct: dict) -> str:
    a, d = api["cpu"], direct["cpu"]
    return (f"CPU ms per request: this run service (or relay) {a['service']:.2f} + CouchDB {a['couchdb']:.2f} + "
            f"clients {a['clients']:.2f} = {a['total']:.2f}; direct run CouchDB {d['couchdb']:.2f} + clients "
            f"{d['clients']:.2f} = {d['total']:.2f}: with every core busy the CPU allows this run/direct "
            f"{d['total'] / a['total']:.2f}" if a["total"] else "no CPU figures")


def _rows(api: dict, direct: dict, label: str, *, goals: bool = True) -> list[Row]:
    """Throughput and latency rows of one run (through the API, or the relay without goals) against the direct
    run. The clients are a closed loop: each mean latency is the clients over the throughput (Little's law)."""
    api_samples, direct_samples = api["samples"], direct["samples"]
    api_errors = sum(1 for _, _, ok in api_samples if not ok)
    direct_errors = sum(1 for _, _, ok in direct_samples if not ok)
    api_ms, direct_ms = ms([s for _, s, _ in api_samples]), ms([s for _, s, _ in direct_samples])
    memory = api.get("memory")
    throughput = Row(NAME, f"{label}: throughput", "req/s", len(api_samples) / api["elapsed"], None,
                     len(direct_samples) / direct["elapsed"], None, api.get("couch"),
                     memory.peak / MB if memory else None, memory.growth / MB if memory else None,
                     goal=f"zero errors; API/direct >= {THROUGHPUT_GOAL:g}" if goals else None,
                     notes=f"{len(api_samples)} requests, {api_errors} errors; direct {len(direct_samples)} "
                           f"requests, {direct_errors} errors" +
                           (f"; errors: {_summary(api['failures'])}" if api["failures"] else "") +
                           (f"; direct errors: {_summary(direct['failures'])}" if direct["failures"] else "") +
                           f"; {_cpu_note(api, direct)}")
    latency = Row(NAME, f"{label}: latency", "ms", median(api_ms), percentile(api_ms, 95), median(direct_ms),
                  percentile(direct_ms, 95), api.get("couch"),
                  goal=f"p50 API/direct <= {LATENCY_GOAL:g}" if goals else None,
                  notes=f"p99: {percentile(api_ms, 99):.1f} ms, direct {percentile(direct_ms, 99):.1f} ms; mean "
                        f"{mean(api_ms):.1f} ms, direct {mean(direct_ms):.1f} ms")
    if goals:
        throughput.met = throughput.ratio_within(THROUGHPUT_GOAL) and api_errors == 0
        latency.met = latency.ratio_within(LATENCY_GOAL)
    per_op = {}
    for op in MIX:
        api_op = ms([s for name, s, _ in api_samples if name == op])
        direct_op = ms([s for name, s, _ in direct_samples if name == op])
        per_op[op] = {"api_count": len(api_op), "api_median": median(api_op), "api_p99": percentile(api_op, 99),
                      "direct_count": len(direct_op), "direct_median": median(direct_op),
                      "direct_p99": percentile(direct_op, 99)}
    latency.extra.update(api_p99=percentile(api_ms, 99), direct_p99=percentile(direct_ms, 99), per_operation=per_op,
                         api_mean=mean(api_ms), direct_mean=mean(direct_ms))
    throughput.extra.update(api_errors=api_errors, direct_errors=direct_errors, api_failures=api["failures"][:20],
                            direct_failures=direct["failures"][:20],
                            couch_requests_by_kind=api.get("kinds"), cpu_ms_per_request=api["cpu"],
                            direct_cpu_ms_per_request=direct["cpu"],
                            cpu_allowed_ratio=direct["cpu"]["total"] / api["cpu"]["total"] if api["cpu"]["total"] else None)
    return [throughput, latency]
