"""A ZIP of 200 recordings of 1 MB (`POST .../messages/raw`), against the same recordings read directly
one after the other (200 attachment GETs). Throughput in MB/s of recordings; the service's memory must
stay bounded (RSS growth < 30 MB, as for one 50 MB recording)."""
from __future__ import annotations

from kazoo_vm.voicemail.message_docs import db_of

from ..harness import MB, Context, counted, expect, timed
from ..measure import Row, kinds_mean, mean, median
from ..seed import spread, wav

NAME = "zip"
MEMORY_GOAL_MB = 30


async def run(ctx: Context) -> list:
    count, size, repeats = ctx.size(200, 20), ctx.size(MB, MB // 4), ctx.size(2, 1)
    service = await ctx.service()
    account = await ctx.seeder.account("bench zip")
    box = (await ctx.seeder.boxes(account, 1))[0]
    ids = await ctx.seeder.messages(account, box, spread(count, 2), audio=lambda _: wav(size))
    stubs = {}
    for message_id in ids:
        doc = expect(await ctx.direct.request("GET", db_of(account, message_id), message_id), 200).json()
        stubs[message_id] = next(iter(doc["_attachments"]))
    api = ctx.api(service, account.id)
    total = count * size

    async def direct():
        read = 0
        for message_id in ids:
            reply = await ctx.direct.request("GET", db_of(account, message_id), message_id, stubs[message_id],
                                             stream=True)
            read += expect(reply, 200, what="direct attachment GET").size
        return read

    api_rates, direct_rates, couch, growth, peak, sent = [], [], [], 0, 0, 0
    for _ in range(repeats):
        async with service.memory() as memory:
            sample = await counted(service, lambda: api.request(
                "POST", f"/vmboxes/{box['_id']}/messages/raw", json={"data": {"messages": ids}},
                headers={"Accept": "application/zip"}, stream=True))
        expect(sample.reply, 200, what="ZIP download")
        sent = sample.reply.size
        growth, peak = max(growth, memory.growth), max(peak, memory.peak)
        api_rates.append(total / MB / sample.seconds)
        couch.append(sample)
        seconds, read = await timed(direct)
        direct_rates.append(total / MB / seconds)
    row = Row(NAME, f"ZIP of {count} x {size / MB:g} MB recordings", "MB/s", median(api_rates), None,
              median(direct_rates), None, mean([sample.couch_requests for sample in couch]), peak / MB, growth / MB,
              goal=f"memory bounded: RSS growth < {MEMORY_GOAL_MB} MB",
              notes=f"direct: the {count} attachments read one after the other; the ZIP had {sent / MB:.1f} MB")
    row.met = growth / MB < MEMORY_GOAL_MB and sent >= total
    row.extra.update(samples=repeats, couch_requests_by_kind=kinds_mean(couch))
    return [row]
