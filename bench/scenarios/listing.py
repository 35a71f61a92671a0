"""A box's newest 50 messages out of 10,000 spread over 12 months, and a walk through all its pages, against
the same view queries made directly (`mailbox_messages/listing_by_mailbox`, month by month, newest first,
51 rows a page: the 50 shown and one to know there is a next page). The same walk through a box of
1,000 messages over the same months shows whether the CouchDB requests per page depend on the box's size.
The service runs with KAZOO_VM_RETENTION_DAYS=400 so that the whole year is in its window."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kazoo_vm.storage.dbnames import modb, year_month

from ..harness import Context, counted, expect, timed
from ..measure import latency_row, mean
from ..seed import months_back, spread

NAME = "listing"
GOAL = 1.3  # the newest page
WALK_GOAL = 2.0
PAGE = 50
RETENTION_DAYS = 400
VIEW = ("mailbox_messages", "listing_by_mailbox")


@dataclass
class DirectWalk:
    """A client paging the view itself: month by month, from just after the last row it got."""
    ctx: Context
    account: Any
    box_id: str
    months: list[tuple[int, int]]  # newest first, only months that hold messages
    start: int
    end: int
    month: int = 0
    key: Any = None
    client: Any = None  # who is asked: CouchDB itself (ctx.direct) unless given (the bare relay)

    async def page(self) -> tuple[float, int]:
        """One page: (seconds, rows); rows < PAGE + 1 means it was the last."""
        seconds, rows = 0.0, []
        while len(rows) < PAGE + 1 and self.month < len(self.months):
            db = modb(self.account.id, *self.months[self.month])
            startkey = self.key if self.key is not None else [self.box_id, self.end]
            took, reply = await timed(lambda: (self.client or self.ctx.direct).view(
                db, *VIEW, startkey=startkey, endkey=[self.box_id, self.start], descending=True,
                limit=PAGE + 1 - len(rows)))
            seconds += took
            found = expect(reply, 200, what="direct view query").json()["rows"]
            rows += found
            if len(rows) < PAGE + 1:
                self.month, self.key = self.month + 1, None
        if len(rows) > PAGE:  # the next page starts at the extra row, in the month read last
            self.key = rows[PAGE]["key"]
        return seconds, len(rows)


async def _walk(ctx: Context, service, api, account, box_id: str, months, start: int, end: int) -> dict:
    """Every page through the API and directly, page by page."""
    direct = DirectWalk(ctx, account, box_id, months, start, end)
    api_times, direct_times, couch, listed, cursor = [], [], [], 0, None
    while True:
        query = f"?page_size={PAGE}" + (f"&start_key={cursor}" if cursor else "")
        sample = await counted(service, lambda: api.request("GET", f"/vmboxes/{box_id}/messages{query}"))
        body = expect(sample.reply, 200, what="GET messages").json()
        seconds, _ = await direct.page()
        api_times.append(sample.seconds)
        direct_times.append(seconds)
        couch.append(sample)
        listed += len(body["data"])
        cursor = body.get("next_start_key")
        if not cursor:
            return {"api": api_times, "direct": direct_times, "couch": couch, "listed": listed}


async def run(ctx: Context) -> list:
    big, small, repeats = ctx.size(10_000, 1_000), ctx.size(1_000, 100), ctx.size(100, 10)
    service = await ctx.service(KAZOO_VM_RETENTION_DAYS=str(RETENTION_DAYS))
    account = await ctx.seeder.account("bench listing")
    large_box, small_box = await ctx.seeder.boxes(account, 2)
    times = {large_box["_id"]: spread(big, 365), small_box["_id"]: spread(small, 365)}
    await ctx.seeder.messages(account, large_box, times[large_box["_id"]])
    await ctx.seeder.messages(account, small_box, times[small_box["_id"]])
    await ctx.seeder.warm_modbs(account, months_back(15), [VIEW])
    held = sorted({year_month(t) for t in times[large_box["_id"]]}, reverse=True)
    end, start = times[large_box["_id"]][0] + 60, times[large_box["_id"]][-1] - 60
    api = ctx.api(service, account.id)
    box_id = large_box["_id"]

    relay = await ctx.relay()
    api_times, direct_times, relay_times, couch = [], [], [], []
    async with service.memory() as memory:
        for index in range(repeats + 3):
            sample = await counted(service, lambda: api.request("GET", f"/vmboxes/{box_id}/messages?page_size={PAGE}"))
            expect(sample.reply, 200, what="GET messages")
            seconds, rows = await DirectWalk(ctx, account, box_id, held, start, end).page()
            relayed, relayed_rows = await DirectWalk(ctx, account, box_id, held, start, end, client=relay).page()
            if relayed_rows != rows:
                raise RuntimeError("the relay did not answer what CouchDB did")
            if index >= 3:
                api_times.append(sample.seconds)
                direct_times.append(seconds)
                relay_times.append(relayed)
                couch.append(sample)
    newest = latency_row(NAME, f"newest {PAGE} of {big:,} messages (12 months)", api_times, direct_times, couch,
                         goal=f"API/direct <= {GOAL:g}",
                         notes=f"direct: listing_by_mailbox of the newest month, descending, limit {PAGE + 1}")
    newest.met = newest.ratio_within(GOAL)
    newest.memory(memory)
    floor = latency_row(NAME, f"the same newest {PAGE} through a bare aiohttp relay (floor of a Python hop)",
                        relay_times, direct_times, None,
                        notes="bench/relay.py: the same view request(s) relayed as they are, no logic; interleaved "
                              "with the API and direct requests above")

    async with service.memory() as memory:
        walk_big = await _walk(ctx, service, api, account, box_id, held, start, end)
    small_held = sorted({year_month(t) for t in times[small_box["_id"]]}, reverse=True)
    walk_small = await _walk(ctx, service, api, account, small_box["_id"], small_held,
                             times[small_box["_id"]][-1] - 60, times[small_box["_id"]][0] + 60)
    rows = [newest, floor]
    for size, walk in ((small, walk_small), (big, walk_big)):
        row = latency_row(NAME, f"page through {size:,} messages, {PAGE} a page ({len(walk['api'])} pages)",
                          walk["api"], walk["direct"], walk["couch"])
        row.extra["listed"] = walk["listed"]
        row.extra["couch_requests_per_page"] = [sample.couch_requests for sample in walk["couch"]]
        if walk["listed"] != size:
            row.notes = f"listed {walk['listed']} of {size} messages. "
        rows.append(row)
    small_row, big_row = rows[2], rows[3]
    big_row.memory(memory)
    steady_small = [sample.steady_requests for sample in walk_small["couch"]]
    steady_big = [sample.steady_requests for sample in walk_big["couch"]]
    for row, steady in ((small_row, steady_small), (big_row, steady_big)):
        row.extra["steady_requests_per_page"] = steady
    constant = max(steady_big) <= max(steady_small)
    big_row.goal = f"CouchDB requests/page do not grow with the box; API/direct <= {WALK_GOAL:g}"
    big_row.met = big_row.ratio_within(WALK_GOAL) and constant
    big_row.notes += (f"CouchDB requests per page without the account lookup (cached 5 s): {small:,} messages "
                      f"{min(steady_small)}-{max(steady_small)} (mean {mean(steady_small):.2f}), {big:,} messages "
                      f"{min(steady_big)}-{max(steady_big)} (mean {mean(steady_big):.2f}): "
                      f"{'constant' if constant else 'GROWS'}. Direct: the same pages read from the view month by "
                      f"month (limit {PAGE + 1}, the extra row's key starts the next page)")
    small_row.notes += "the baseline for the growth comparison"
    return rows
