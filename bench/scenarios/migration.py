"""The migration of 10,000 Kazoo 3.x messages (4 accounts x 5 boxes x 500 entries over 12 months, each
recording a 1 KB private_media attachment) with the domain code of `kazoo-vm migrate` (migration_runner,
default --workers 4 --batch 200), run inside the service process. Against it, the least CouchDB needs
for the same copy: per account and batch of 200, one read of the media documents by id with their
attachments (`_bulk_get` on Apache CouchDB, `_all_docs` on PouchDB Server) and one `_bulk_docs` of the
copies (into a scratch database), 4 accounts at once."""
from __future__ import annotations

import asyncio
import time

from ..harness import MB, Context, expect
from ..measure import Row

NAME = "migration"
WORKERS = 4
BATCH = 200
AUDIO = 1024
RATE_GOAL = 1_000  # messages per second


async def _direct_copy(ctx: Context, db: str, scratch: str, media_ids: list[str]) -> int:
    requests = 0
    for start in range(0, len(media_ids), BATCH):
        docs = await ctx.direct.docs(db, media_ids[start:start + BATCH], attachments=True)
        copies = [{**{key: value for key, value in doc.items() if key not in ("_rev", "_attachments")},
                   "_id": f"copy-{doc['_id']}",
                   "_attachments": {name: {"content_type": stub["content_type"], "data": stub["data"]}
                                    for name, stub in doc["_attachments"].items()}} for doc in docs]
        expect(await ctx.direct.request("POST", scratch, "_bulk_docs", json={"docs": copies}), 201,
               what="direct _bulk_docs")
        requests += 2
    return requests


async def run(ctx: Context) -> list:
    accounts, boxes, per_box = ctx.size((4, 5, 500), (2, 2, 50))
    service = await ctx.service()
    seeded = []
    for number in range(accounts):
        account = await ctx.seeder.account(f"bench migration {number}")
        seeded.append((account, await ctx.seeder.legacy_boxes(account, boxes, per_box, 365, AUDIO)))
    total = accounts * boxes * per_box
    async with service.memory() as memory:
        result = await service.migrate([account.id for account, _ in seeded], WORKERS, BATCH)
    summary = result["summary"]
    scratch = await ctx.seeder.scratch_db()
    started = time.perf_counter()
    direct_requests = sum(await asyncio.gather(*(_direct_copy(ctx, account.db, scratch, media_ids)
                                                 for account, media_ids in seeded)))
    direct_seconds = time.perf_counter() - started
    row = Row(NAME, f"migrate {total:,} legacy messages ({accounts} accounts x {boxes} boxes x {per_box})", "msg/s",
              total / result["seconds"], None, total / direct_seconds, None, result["requests"] / total,
              memory.peak / MB, memory.growth / MB,
              notes=f"CouchDB requests per message: {result['requests'] / total:.3f} ({result['requests']} in all; "
                    f"the direct copy needs {direct_requests}); {result['seconds']:.1f} s; summary {summary}")
    row.goal = f"all migrated, at least {RATE_GOAL:,} messages/s"
    row.met = summary.get("succeeded") == total and not summary.get("failed") and row.api_median >= RATE_GOAL
    row.extra.update(seconds=result["seconds"], couch_requests=result["requests"], direct_requests=direct_requests,
                     couch_requests_by_kind=result.get("kinds"),
                     direct_seconds=direct_seconds, summary=summary)
    return [row]
