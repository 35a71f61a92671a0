"""Read-your-writes (docs/couchdb.md): once the service has answered a change, the next listing shows it.
On a 3-node cluster a listing reads one copy of each shard, so a write acknowledged by 2 of 3 copies can be
missing from it (Monster UI lists again right after every action). Everywhere else this holds trivially."""
from __future__ import annotations

from bulk_helpers import listed, new_messages

ROUNDS = 25


async def test_every_listing_shows_the_change_just_answered(api):
    box = await api.create_box()
    at = f"/vmboxes/{box['id']}/messages"
    stale = []
    for round_ in range(ROUNDS):
        ids = await new_messages(api, box["id"], 2)
        if set(ids) - set(await listed(api, box["id"])):
            stale.append((round_, "created"))
        changed = await api.post(at, json={"data": {"messages": ids[:1], "folder": "saved"}})
        assert changed.status == 200, changed.json
        if (await listed(api, box["id"]))[ids[0]]["folder"] != "saved":
            stale.append((round_, "folder change"))
        deleted = await api.delete(at, json={"data": {"messages": ids}})
        assert deleted.status == 200, deleted.json
        if set(ids) & set(await listed(api, box["id"])):
            stale.append((round_, "bulk delete"))
    assert stale == []
