"""Webhook delivery from the change feeds: boxes written straight into CouchDB one after the other (as any
writer would: Kazoo, another instance, this API), each raising one `object` event, delivered to a receiver
in this process by a service with events on. Measured: events delivered per second (deliveries / time from
the first write to the last delivery) and the delay from a write's answer to its delivery, with 1 hook and
with 100 hooks on the account, by the only service running (the services of the scenarios before are
stopped first). There is no direct equivalent: the `direct` columns stay empty."""
from __future__ import annotations

import asyncio
import time

from aiohttp import web

from kazoo_vm.devtools.local_couch import free_port
from kazoo_vm.storage.dbnames import gregorian_now
from kazoo_vm.voicemail.ids import new_id

from ..harness import Context, expect
from ..measure import Row, median, percentile

NAME = "events"
POLL_SECONDS = "0.5"
FOLLOW_SECONDS = 60.0


class Receiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.arrived: dict[str, list[float]] = {}
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.arrived.setdefault(body["id"], []).append(time.monotonic())
        return web.Response(status=204)

    def count(self) -> int:
        return sum(len(times) for times in self.arrived.values())


async def _followed(ctx: Context, service, hooks: int) -> None:
    deadline = time.monotonic() + FOLLOW_SECONDS
    while time.monotonic() < deadline:
        async with ctx.session.get(f"{service.base}/v2/health") as resp:
            events = (await resp.json())["data"]["events"]
        if events.get("accounts_followed"):
            await asyncio.sleep(2.0)  # every hook of the account is in force within a second or two
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("the service did not follow the bench account")


async def _measure(ctx: Context, hooks: int, writes: int) -> list[Row]:
    service = await ctx.service(KAZOO_VM_EVENTS="true", KAZOO_VM_EVENTS_POLL_SECONDS=POLL_SECONDS)
    receiver = Receiver()
    await receiver.start()
    account = await ctx.seeder.account(f"bench events {hooks}")
    api = ctx.api(service, account.id)
    made = []
    try:
        for index in range(hooks):
            reply = await api.request("PUT", "/webhooks", json={"data": {
                "name": f"bench {index}", "uri": f"http://127.0.0.1:{receiver.port}/hook", "hook": "object",
                "format": "json", "custom_data": {"type": "vmbox", "action": "doc_created"}}})
            made.append(expect(reply, 201, what="PUT /webhooks").json()["data"]["id"])
        await _followed(ctx, service, hooks)
        written: dict[str, float] = {}
        started = time.monotonic()
        for index in range(writes):
            box_id, now = new_id(), gregorian_now()
            doc = {"_id": box_id, "name": f"Events {index}", "mailbox": str(200000 + index), "pvt_type": "vmbox",
                   "pvt_account_id": account.id, "pvt_created": now, "pvt_modified": now}
            expect(await ctx.direct.request("PUT", account.db, box_id, json=doc), 201, 202, what="direct PUT")
            written[box_id] = time.monotonic()
        deadline = time.monotonic() + 120
        while receiver.count() < writes * hooks and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        last = max((t for times in receiver.arrived.values() for t in times), default=time.monotonic())
        delays = [(t - written[box_id]) * 1000 for box_id, times in receiver.arrived.items() if box_id in written
                  for t in times]
        delivered = receiver.count()
        rate = delivered / (last - started) if last > started else None
        complete = delivered == writes * hooks
        label = f"{writes} box writes, {hooks} hook{'s' if hooks > 1 else ''}"
        throughput = Row(NAME, f"{label}: deliveries per second", "events/s", api_median=rate,
                         goal="every event delivered once", met=complete,
                         notes=f"{delivered} of {writes * hooks} deliveries; poll mode every {POLL_SECONDS} s "
                               "where the server has no _db_updates")
        delay = Row(NAME, f"{label}: delay from write to delivery", "ms", api_median=median(delays),
                    api_p95=percentile(delays, 95), notes="from the write's answer to the receiver's arrival")
        return [throughput, delay]
    finally:
        for hook_id in made:
            reply = await ctx.direct.request("GET", "webhooks", hook_id)
            if reply.status == 200:
                await ctx.direct.request("DELETE", "webhooks", hook_id, params={"rev": reply.json()["_rev"]})
        if receiver.runner is not None:
            await receiver.runner.cleanup()


async def run(ctx: Context) -> list[Row]:
    # Every service the scenarios before started runs the event pipeline too (KAZOO_VM_EVENTS is on by default)
    # and holds a share of the lease partitions: the bench account would be followed, half the time, by one of
    # them, and never by the service measured here. They are stopped (their leases released) before it starts.
    await ctx.close()
    rows = await _measure(ctx, 1, ctx.size(300, 20))
    rows += await _measure(ctx, 100, ctx.size(30, 5))
    return rows
