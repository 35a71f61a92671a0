"""`GET .../messages?paginate=false` on a box of 2,000 messages over the last 3 months (default retention),
against the same view read directly: `listing_by_mailbox` of each month that holds messages, newest first,
one query per month, no limit."""
from __future__ import annotations

from kazoo_vm.storage.dbnames import modb, year_month

from ..harness import Context, counted, expect, timed
from ..measure import latency_row
from ..seed import months_back, spread

NAME = "paginate_false"
GOAL = 2.0
VIEW = ("mailbox_messages", "listing_by_mailbox")


async def run(ctx: Context) -> list:
    count, repeats = ctx.size(2_000, 200), ctx.size(20, 3)
    service = await ctx.service()
    account = await ctx.seeder.account("bench paginate_false")
    box = (await ctx.seeder.boxes(account, 1))[0]
    times = spread(count, 85)
    await ctx.seeder.messages(account, box, times)
    await ctx.seeder.warm_modbs(account, months_back(5), [VIEW])
    months = sorted({year_month(t) for t in times}, reverse=True)
    api = ctx.api(service, account.id)
    box_id, start, end = box["_id"], times[-1] - 60, times[0] + 60

    async def direct():
        return [await ctx.direct.view(modb(account.id, year, month), *VIEW, startkey=[box_id, end],
                                      endkey=[box_id, start], descending=True) for year, month in months]

    api_times, direct_times, couch, listed = [], [], [], 0
    async with service.memory() as memory:
        for index in range(repeats + 2):
            sample = await counted(service, lambda: api.request("GET", f"/vmboxes/{box_id}/messages?paginate=false"))
            listed = len(expect(sample.reply, 200, what="GET messages?paginate=false").json()["data"])
            seconds, replies = await timed(direct)
            direct_listed = sum(len(expect(reply, 200, what="direct view").json()["rows"]) for reply in replies)
            if index >= 2:
                api_times.append(sample.seconds)
                direct_times.append(seconds)
                couch.append(sample)
    row = latency_row(NAME, f"paginate=false, box of {count:,} messages ({len(months)} months)", api_times,
                      direct_times, couch, goal=f"API/direct <= {GOAL:g}",
                      notes=f"direct: listing_by_mailbox of each of the {len(months)} months holding messages, "
                            f"no limit")
    row.extra["listed"] = listed
    if listed != count or direct_listed != count:
        row.notes += f"; listed {listed} (API) and {direct_listed} (direct) of {count}"
    row.met = row.ratio_within(GOAL)
    return [row.memory(memory)]
