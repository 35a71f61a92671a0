"""The event outbox (kazoo_vm/events/outbox.py): every revision of a message or a box written through any
instance with events on, for an account with hooks, is recorded in `kazoo_vm_events` before the API answers and
reported by the instance holding the account's partition, so that changes that follow each other within one
read of the feed are each an event. The pipeline is held deterministically by a receiver that does not answer
until the test opens its gate: the database being read waits for that delivery, and what is written meanwhile
can only be found by the feed (one newest revision) or the outbox (each revision)."""
from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from aiohttp import web

from kazoo_vm.devtools.local_couch import free_port
from kazoo_vm.events.leases import PARTITIONS
from kazoo_vm.http.app import make_app
from kazoo_vm.http.webhooks import WEBHOOKS

from message_helpers import modb_of, upload_message
from test_webhooks_delivery import FAST, add_hook, api, body, followed, receiver  # noqa: F401 - the fixtures
from webhook_helpers import Receiver, about, change_folder_twice, emptied, outbox_of, recorded_edits

HELD = {**FAST, "webhook_timeout": 60.0}  # a held delivery is not given up while the test holds it


@pytest.fixture
async def instances(settings, api, receiver):
    """Starts service instances with events on (in this process, each with its own app and leases); they stop
    before the account's cleanup and after the receiver's gate is open."""
    runners: list[web.AppRunner] = []

    async def start() -> tuple[web.Application, str]:
        port = free_port()
        runner = web.AppRunner(make_app(replace(settings, port=port, **HELD)), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        return runner.app, f"http://127.0.0.1:{port}"

    yield start
    if receiver.gate is not None:
        receiver.gate.set()
    for runner in runners:
        await runner.cleanup()


async def hold(receiver: Receiver, count: int, where) -> None:
    """Close the gate, then wait until the `count`-th matching delivery is waiting at it."""
    receiver.gate = asyncio.Event()
    got = await receiver.wait_for(count, where=where)
    assert len(got) >= count, "the delivery that holds the pipeline did not come"


async def test_two_quick_folder_changes_through_an_instance_without_the_partition_are_two_events(
        instances, api, receiver, couch):
    apps = [await instances(), await instances()]
    for _ in range(200):  # the partitions spread over both, half each (then they stay)
        if all(len(app[WEBHOOKS].pipeline.status()["partitions"]) == PARTITIONS // 2 for app, _ in apps):
            break
        await asyncio.sleep(0.25)
    await add_hook(api, receiver)
    (holder, _), (other, other_url) = sorted(
        apps, key=lambda pair: not pair[0][WEBHOOKS].pipeline.leases.holds_account(api.account_id))
    assert holder[WEBHOOKS].pipeline.leases.holds_account(api.account_id)
    assert not other[WEBHOOKS].pipeline.leases.holds_account(api.account_id)
    await followed(holder, api.account_id)
    for _ in range(400):  # the other instance knows the account has a hook (its hooks feed)
        if api.account_id in other[WEBHOOKS].hookset.watched:
            break
        await asyncio.sleep(0.05)
    assert api.account_id in other[WEBHOOKS].hookset.watched
    through = replace(api, base=other_url)
    box = await through.create_box()
    message_id = (await upload_message(through, box["id"])).data["media_id"]
    await receiver.wait_for(1, where=about(message_id))

    second = (await upload_message(through, box["id"])).data["media_id"]
    await hold(receiver, 1, about(second))  # the holder's read of the month waits for this delivery
    await change_folder_twice(through, box["id"], message_id)
    assert await recorded_edits(couch, api.account_id, message_id) == [3, 4]  # each change, as written
    receiver.gate.set()

    got = await receiver.wait_for(3, where=about(message_id), timeout=15)
    assert [body(item)["action"] for item in got] == ["doc_created", "doc_edited", "doc_edited"], \
        [body(item) for item in receiver.received]
    assert len({item.headers["X-Kazoo-VM-Event-ID"] for item in got}) == 3
    await emptied(couch, api.account_id)
    assert [body(item)["action"] for item in receiver.received if body(item).get("id") == message_id] == \
        ["doc_created", "doc_edited", "doc_edited"]  # and the feed, read after, added none


async def test_a_box_edited_twice_quickly_gives_two_edits(instances, api, receiver, couch):
    app, url = await instances()
    await add_hook(api, receiver)
    await followed(app, api.account_id)
    through = replace(api, base=url)
    box = await through.create_box(name="One")
    await receiver.wait_for(1, where=about(box["id"]))
    other = await through.create_box()
    await hold(receiver, 1, about(other["id"]))  # the account database's read waits for this delivery
    for name in ("Two", "Three"):
        assert (await through.patch(f"/vmboxes/{box['id']}", json={"data": {"name": name}})).status == 200
    receiver.gate.set()

    got = await receiver.wait_for(3, where=about(box["id"]), timeout=15)
    assert [(body(item)["action"], body(item)["type"]) for item in got] == [
        ("doc_created", "vmbox"), ("doc_edited", "vmbox"), ("doc_edited", "vmbox")], [body(i) for i in got]
    await emptied(couch, api.account_id)


async def test_a_bulk_change_is_one_outbox_write_and_an_account_without_hooks_gets_none(
        instances, api, receiver, couch, new_account):
    app, url = await instances()
    await add_hook(api, receiver)
    await followed(app, api.account_id)
    through = replace(api, base=url)
    box = await through.create_box()
    ids = [(await upload_message(through, box["id"])).data["media_id"] for _ in range(4)]
    await receiver.wait_for(4, where=lambda item: body(item).get("id") in ids)
    extra = (await upload_message(through, box["id"])).data["media_id"]
    await hold(receiver, 1, about(extra))
    bulk = await through.post(f"/vmboxes/{box['id']}/messages", json={"data": {"messages": ids, "folder": "saved"}})
    assert bulk.status == 200 and sorted(bulk.data["succeeded"]) == sorted(ids), bulk.json
    waiting = [outbox for outbox in await outbox_of(couch, api.account_id)  # not their creations (delivered,
               if any(doc["_id"] in ids and doc["metadata"]["folder"] == "saved"  # perhaps not yet deleted)
                      for doc in outbox["revisions"])]
    assert len(waiting) == 1, waiting  # one document for the request, written once
    assert sorted(doc["_id"] for doc in waiting[0]["revisions"]) == sorted(ids)
    assert waiting[0]["db"] == modb_of(api, ids[0]) and waiting[0]["account_id"] == api.account_id

    quiet = replace(await new_account(), base=url)  # no hooks: its writes record nothing
    quiet_box = await quiet.create_box()
    quiet_ids = [(await upload_message(quiet, quiet_box["id"])).data["media_id"] for _ in range(2)]
    assert (await quiet.post(f"/vmboxes/{quiet_box['id']}/messages",
                             json={"data": {"messages": quiet_ids, "folder": "saved"}})).status == 200
    assert (await quiet.patch(f"/vmboxes/{quiet_box['id']}", json={"data": {"name": "Quiet"}})).status == 200
    assert await outbox_of(couch, quiet.account_id) == []
    receiver.gate.set()

    got = await receiver.wait_for(9, where=lambda item: body(item).get("id") in [*ids, extra], timeout=15)
    assert sorted(body(item)["id"] for item in got if body(item)["action"] == "doc_edited") == sorted(ids)
    await emptied(couch, api.account_id)
