"""Fetch one message's metadata, sequentially: `GET .../messages/{id}` against a direct document GET of the
same message, interleaved request by request with the same GET through the bare aiohttp relay (bench/relay.py):
relay/direct is the floor of any Python aiohttp hop in front of CouchDB here, the row to judge the API's
ratio against."""
from __future__ import annotations

from kazoo_vm.voicemail.message_docs import db_of

from ..harness import Context, counted, expect, timed
from ..measure import latency_row
from ..seed import spread

NAME = "message_get"
GOAL = 1.3


async def run(ctx: Context) -> list:
    messages, requests, warmup = ctx.size(200, 20), ctx.size(500, 30), 5
    service = await ctx.service()
    account = await ctx.seeder.account("bench message_get")
    box = (await ctx.seeder.boxes(account, 1))[0]
    ids = await ctx.seeder.messages(account, box, spread(messages, 20))
    api = ctx.api(service, account.id)
    relay = await ctx.relay()
    api_times, direct_times, relay_times, couch = [], [], [], []
    async with service.memory() as memory:
        for index in range(warmup + requests):
            message_id = ids[index % len(ids)]
            sample = await counted(service, lambda: api.request("GET", f"/vmboxes/{box['_id']}/messages/{message_id}"))
            expect(sample.reply, 200, what="GET message")
            seconds, reply = await timed(lambda: ctx.direct.request("GET", db_of(account, message_id), message_id))
            expect(reply, 200, what="direct document GET")
            relayed, relayed_reply = await timed(lambda: relay.request("GET", db_of(account, message_id), message_id))
            if expect(relayed_reply, 200, what="relayed document GET").body != reply.body:
                raise RuntimeError("the relay did not answer what CouchDB did")
            if index >= warmup:
                api_times.append(sample.seconds)
                direct_times.append(seconds)
                relay_times.append(relayed)
                couch.append(sample)
    row = latency_row(NAME, "GET one message's metadata (sequential)", api_times, direct_times, couch,
                      goal=f"API/direct <= {GOAL}",
                      notes="direct: GET of the message document; the service also reads the box (in parallel) "
                            "and, every 5 s, the account")
    row.met = row.ratio_within(GOAL)
    floor = latency_row(NAME, "the same GET through a bare aiohttp relay (floor of a Python hop)", relay_times,
                        direct_times, None,
                        notes="bench/relay.py: the CouchDB request relayed as it is, no logic; interleaved with the "
                              "API and direct requests above; its ratio is the least any aiohttp service adds")
    floor.couch_requests_per_api_request = 1.0
    return [row.memory(memory), floor]
