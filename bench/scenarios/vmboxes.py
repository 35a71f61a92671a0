"""`GET /vmboxes?paginate=false` for 50 and for 500 boxes, each with messages in each of the last 3 months
(default retention), against the same answer computed directly: the `vmboxes/crossbar_listing` view and,
at the same time, the per-box folder counts (`kazoo_vm_messages/box_folder_counts`, group_level 2) of each
month holding messages. The CouchDB requests per listing must not depend on the number of boxes."""
from __future__ import annotations

import asyncio

from kazoo_vm.storage.dbnames import gregorian_now, modb

from ..harness import Context, counted, expect, timed
from ..measure import latency_row
from ..seed import DAY, months_back

NAME = "vmboxes"
LISTING = ("vmboxes", "crossbar_listing")
COUNTS = [("kazoo_vm_messages", "box_folder_counts"), ("kazoo_vm_messages", "timestamp_box_folder_counts")]


async def _account(ctx: Context, boxes: int):
    account = await ctx.seeder.account(f"bench vmboxes {boxes}")
    docs = await ctx.seeder.boxes(account, boxes)
    now = gregorian_now() - 600
    await ctx.seeder.many(account, [(box, now - DAY * (2 + 30 * month) - index)
                                    for index, box in enumerate(docs) for month in range(3)])
    await ctx.seeder.warm(account.db, *LISTING)
    await ctx.seeder.warm_modbs(account, months_back(5), COUNTS)
    return account


async def _measure(ctx: Context, service, account, boxes: int, repeats: int):
    api = ctx.api(service, account.id)
    months = [modb(account.id, year, month) for year, month in months_back(5)]
    months = [db for db in months if (await ctx.direct.request("GET", db)).status == 200]

    async def direct():
        return await asyncio.gather(ctx.direct.view(account.db, *LISTING),
                                    *(ctx.direct.view(db, "kazoo_vm_messages", "box_folder_counts", group_level=2)
                                      for db in months))

    api_times, direct_times, couch, listed = [], [], [], 0
    async with service.memory() as memory:
        for index in range(repeats + 2):
            sample = await counted(service, lambda: api.request("GET", "/vmboxes?paginate=false"))
            listed = len(expect(sample.reply, 200, what="GET /vmboxes").json()["data"])
            seconds, replies = await timed(direct)
            for reply in replies:
                expect(reply, 200, what="direct view")
            if index >= 2:
                api_times.append(sample.seconds)
                direct_times.append(seconds)
                couch.append(sample)
    row = latency_row(NAME, f"GET /vmboxes?paginate=false, {boxes} boxes", api_times, direct_times, couch,
                      notes=f"direct: crossbar_listing + box_folder_counts of the {len(months)} months with "
                            f"messages, in parallel")
    row.extra["listed"] = listed
    if listed != boxes:
        row.notes += f"; listed {listed} of {boxes} boxes"
    return row.memory(memory)


async def run(ctx: Context) -> list:
    few, many, repeats = ctx.size(50, 5), ctx.size(500, 50), ctx.size(20, 3)
    service = await ctx.service()
    small = await _account(ctx, few)
    large = await _account(ctx, many)
    rows = [await _measure(ctx, service, small, few, repeats), await _measure(ctx, service, large, many, repeats)]
    low, high = rows[0].extra, rows[1].extra
    rows[1].goal = f"CouchDB requests independent of the number of boxes ({few} vs {many})"
    rows[1].met = high["steady_requests_max"] <= low["steady_requests_max"] and \
        high["steady_requests_min"] <= low["steady_requests_min"]
    rows[1].notes += (f"; CouchDB requests per listing without the account lookup (cached 5 s): {few} boxes "
                      f"{low['steady_requests_min']}-{low['steady_requests_max']}, {many} boxes "
                      f"{high['steady_requests_min']}-{high['steady_requests_max']}")
    return rows
