"""Every write of a message passes voicemail/lifecycle.py (issue 13): creations, changes and deletions through
the API, moves, copies and the 3.x migration reach a listener with the document before and after."""
from __future__ import annotations

import pytest

from kazoo_vm.storage.dbnames import account_db
from kazoo_vm.voicemail.lifecycle import MESSAGE, VMBOX, Kind, MessageEvent
from legacy_helpers import LegacyData, mp3_message, new_id_of, recent
from message_helpers import create_message, upload_message


@pytest.fixture
async def heard(service, api):
    """The events of the test's account, as the service's lifecycle hands them out."""
    _, voicemail = service
    events: list[MessageEvent] = []

    async def listener(batch: list[MessageEvent]) -> None:
        events.extend(event for event in batch if event.account.id == api.account_id and event.doc_type == MESSAGE)

    voicemail.lifecycle.subscribe(listener)
    yield events
    voicemail.lifecycle.unsubscribe(listener)


def seen(events: list[MessageEvent]) -> list[tuple[str, Kind]]:
    found = [(event.message_id, event.kind) for event in events]
    events.clear()
    return found


async def test_one_message_through_the_api(api, heard):
    box, target, other = await api.create_box(), await api.create_box(), await api.create_box()
    response = await upload_message(api, box["id"], "wav", {"caller_id_number": "6001"})
    assert response.status == 201, response.json
    message_id = response.data["media_id"]
    assert seen(heard) == [(message_id, Kind.CREATED)]

    assert (await api.get(f"/vmboxes/{box['id']}/messages/{message_id}")).status == 200
    assert heard == []  # a read with a folder writes nothing

    await api.post(f"/vmboxes/{box['id']}/messages/{message_id}", json={"data": {"folder": "saved"}})
    event = heard[0]
    assert seen(heard) == [(message_id, Kind.CHANGED)]
    assert event.old["metadata"]["folder"] == "new" and event.new["metadata"]["folder"] == "saved"

    copied = await api.post(f"/vmboxes/{box['id']}/messages/{message_id}", json={"data": {"source_id": [other["id"]]}})
    assert seen(heard) == [(copied.data["succeeded"][0], Kind.CREATED)]

    moved = await api.post(f"/vmboxes/{box['id']}/messages/{message_id}", json={"data": {"source_id": target["id"]}})
    events = list(heard)
    assert seen(heard) == [(moved.data["media_id"], Kind.CREATED), (message_id, Kind.DELETED)]
    assert events[0].old is None and events[0].new["source_id"] == target["id"]
    assert events[1].new is None and events[1].old["source_id"] == box["id"]

    await api.delete(f"/vmboxes/{target['id']}/messages/{moved.data['media_id']}")
    event = heard[0]
    assert seen(heard) == [(moved.data["media_id"], Kind.DELETED)] and event.new["pvt_deleted"] is True


async def test_many_messages_and_a_deleted_box(api, heard):
    box, target = await api.create_box(), await api.create_box()
    ids = [(await create_message(api, box["id"]))["media_id"] for _ in range(3)]
    assert seen(heard) == [(message_id, Kind.CREATED) for message_id in ids]

    await api.post(f"/vmboxes/{box['id']}/messages", json={"data": {"messages": ids, "folder": "saved"}})
    assert sorted(seen(heard)) == sorted((message_id, Kind.CHANGED) for message_id in ids)

    moved = await api.post(f"/vmboxes/{box['id']}/messages", json={"data": {"messages": ids[:1],
                                                                            "source_id": target["id"]}})
    assert sorted(seen(heard)) == sorted([(moved.data["succeeded"][0], Kind.CREATED), (ids[0], Kind.DELETED)])

    await api.delete(f"/vmboxes/{box['id']}/messages", json={"data": {"messages": ids[1:2]}})
    assert seen(heard) == [(ids[1], Kind.DELETED)]

    await api.delete(f"/vmboxes/{box['id']}")
    assert seen(heard) == [(ids[2], Kind.DELETED)]


async def test_the_legacy_migration_creates_messages(api, couch, heard):
    legacy = LegacyData(couch)
    message = mp3_message(api.account_id, recent(1))
    box = await legacy.box(api.account_id, [message])
    try:
        assert (await api.get(f"/vmboxes/{box['_id']}/messages")).status == 200
        assert seen(heard) == [(new_id_of(message.media_id, message.entry["timestamp"]), Kind.CREATED)]
    finally:
        await legacy.drop_modbs()


async def test_box_writes_through_the_api_pass_the_same_point(api, service, couch):
    _, voicemail = service
    heard: list[MessageEvent] = []

    async def listener(batch: list[MessageEvent]) -> None:
        heard.extend(event for event in batch if event.account.id == api.account_id and event.doc_type == VMBOX)

    voicemail.lifecycle.subscribe(listener)
    try:
        box = await api.create_box(name="Front")
        assert (await api.patch(f"/vmboxes/{box['id']}", json={"data": {"name": "Back"}})).status == 200
        assert (await api.post(f"/vmboxes/{box['id']}", json={"data": {"name": "Side", "mailbox": box["mailbox"]}})
                ).status == 200
        assert (await api.delete(f"/vmboxes/{box['id']}")).status == 200
    finally:
        voicemail.lifecycle.unsubscribe(listener)
    assert [(event.message_id, event.kind) for event in heard] == [
        (box["id"], Kind.CREATED), (box["id"], Kind.CHANGED), (box["id"], Kind.CHANGED), (box["id"], Kind.DELETED)]
    assert [event.new["name"] for event in heard] == ["Front", "Back", "Side", "Side"]
    assert heard[-1].new["pvt_deleted"] is True and heard[-1].old.get("pvt_deleted") is None
    stored = await couch.get(account_db(api.account_id), box["id"])
    assert heard[-1].new["_rev"] == stored["_rev"]  # each as written, with its revision
