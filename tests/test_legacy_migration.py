"""Kazoo 3.x voicemail migrated on access (issue 5, docs/differences.md): any message request on a box that still
has a legacy `messages` array migrates it first, legacy ids address the migrated messages, and messages
Kazoo's own migrator left with a `kz_att_link` are served by following the link."""
from __future__ import annotations

import asyncio
import io
import json
import os
import secrets
import urllib.request
import zipfile
from urllib.parse import quote

import pytest
from aiohttp import encode_basic_auth
from yarl import URL

from kazoo_vm.storage.dbnames import account_db, encoded, gregorian_now, modb, year_month
from kazoo_vm.voicemail.message_moves import INLINE_BATCH_BYTES
from legacy_helpers import (DAY, MISSING, LegacyData, assert_migrated, attachment, failed_entry,
                            legacy_message, migrated_copies, mp3_message, new_id_of, recent, revisions, wav,
                            write_half_migrated)
from message_helpers import audio_bytes, kazoo_message


@pytest.fixture
async def legacy(couch):
    data = LegacyData(couch)
    yield data
    await data.drop_modbs()


def box_path(box: dict, suffix: str = "") -> str:
    return f"/vmboxes/{box['_id'] if '_id' in box else box['id']}/messages{suffix}"


async def stored_box(couch, api, box: dict) -> dict:
    return await couch.get(account_db(api.account_id), box["_id"])


async def listed_ids(api, box: dict) -> list[str]:
    response = await api.get(box_path(box), params={"paginate": "false"})
    assert response.status == 200, response.json
    return [item["media_id"] for item in response.data]


def new_id(message) -> str:
    return new_id_of(message.media_id, message.entry["timestamp"])


# --- what a migration makes of a box ---------------------------------------------------------------------

@pytest.mark.parametrize("count", [0, 1, 25])
async def test_listing_a_box_migrates_every_legacy_message(api, couch, legacy, count):
    messages = [legacy_message(api.account_id, recent(index), seed=index) for index in range(count)]
    box = await legacy.box(api.account_id, messages)

    response = await api.get(box_path(box), params={"paginate": "false"})

    assert response.status == 200, response.json
    listed = {item["media_id"]: item for item in response.data}
    assert set(listed) == {new_id(message) for message in messages}
    for message in messages:
        item = listed[new_id(message)]
        assert (item["folder"], item["from"], item["timestamp"]) == \
            (message.entry["folder"], message.entry["from"], message.entry["timestamp"])
        await assert_migrated(couch, api.account_id, box["_id"], message, message.entry["timestamp"])
    after = await stored_box(couch, api, box)
    assert after["messages"] == []
    if not messages:
        assert after["_rev"] == box["_rev"]


async def test_the_audio_is_served_byte_for_byte_with_its_content_type(api, legacy):
    messages = [legacy_message(api.account_id, recent(0)),
                mp3_message(api.account_id, recent(1)),
                legacy_message(api.account_id, recent(2), audio=audio_bytes("short"), content_type="audio/x-wav")]
    box = await legacy.box(api.account_id, messages)
    for message in messages:
        for message_id in (message.media_id, new_id(message)):
            response = await api.get(box_path(box, f"/{message_id}/raw"))
            assert response.status == 200, response.body[:200]
            assert response.headers["Content-Type"] == message.content_type
            assert response.body == message.audio


async def test_entries_that_cannot_move_stay_in_the_box_with_their_reason(api, couch, legacy):
    account = api.account_id
    two_years_ago = gregorian_now() - 730 * DAY
    moved = legacy_message(account, recent(0))
    no_media_id = legacy_message(account, recent(1), media_id=MISSING)
    empty_media_id = legacy_message(account, recent(2), media_id="")
    no_media_doc = legacy_message(account, recent(3), media=False)
    no_attachment = legacy_message(account, recent(4), audio=None)
    old = legacy_message(account, two_years_ago)
    box = await legacy.box(account, [moved, no_media_id, no_media_doc, old, empty_media_id, no_attachment])

    assert set(await listed_ids(api, box)) == {new_id(moved)}

    assert (await stored_box(couch, api, box))["messages"] == [
        failed_entry(no_media_id, "no_media_id"), failed_entry(no_media_doc, "missing_audio"),
        failed_entry(empty_media_id, "no_media_id"), failed_entry(no_attachment, "missing_audio")]
    for message in (moved, old):
        await assert_migrated(couch, account, box["_id"], message, message.entry["timestamp"])
    assert await couch.get_or_none(account_db(account), no_attachment.media_id)


async def test_malformed_entries_stay_and_do_not_stop_the_others(api, couch, legacy):
    moved = legacy_message(api.account_id, recent(0))
    numeric_id = {**legacy_message(api.account_id, recent(1)).entry, "media_id": 42}
    unsafe_id = {**legacy_message(api.account_id, recent(2)).entry, "media_id": "../../_design/vmboxes"}
    box = await legacy.box(api.account_id, [moved])
    box["messages"] = ["not an entry", numeric_id, moved.entry, None, unsafe_id]
    box = await couch.put(account_db(api.account_id), box)

    assert await listed_ids(api, box) == [new_id(moved)]

    await assert_migrated(couch, api.account_id, box["_id"], moved, moved.entry["timestamp"])
    assert (await stored_box(couch, api, box))["messages"] == [
        "not an entry", {**numeric_id, "migration_error": "bad_data"}, None,
        {**unsafe_id, "migration_error": "bad_data"}]


@pytest.mark.parametrize("messages", [{"not": "a list"}, "a string", 7])
async def test_a_messages_field_that_is_not_a_list_is_left_alone(api, couch, legacy, messages):
    box = await legacy.box(api.account_id, [])
    box = await couch.put(account_db(api.account_id), {**box, "messages": messages})
    assert await listed_ids(api, box) == []
    assert (await api.get("/vmboxes/messages")).status == 200
    assert (await stored_box(couch, api, box))["_rev"] == box["_rev"]


@pytest.mark.parametrize("entry_timestamp", [MISSING, "undefined", None, 0, ""],
                         ids=["missing", "undefined", "null", "zero", "empty"])
@pytest.mark.parametrize("present, source", [
    pytest.param({"media modified", "media created", "box modified", "box created"}, "media modified",
                 id="from media pvt_modified"),
    pytest.param({"media created", "box modified", "box created"}, "media created", id="from media pvt_created"),
    pytest.param({"box modified", "box created"}, "box modified", id="from box pvt_modified"),
    pytest.param({"box created"}, "box created", id="from box pvt_created"),
])
async def test_a_missing_timestamp_is_recovered(api, couch, legacy, entry_timestamp, present, source):
    hours_ago = {"media modified": 3, "media created": 40, "box modified": 200, "box created": 900}
    times = {name: recent(hours) if name in present else MISSING for name, hours in hours_ago.items()}
    message = legacy_message(api.account_id, entry_timestamp, created=times["media created"],
                             modified=times["media modified"])
    box = await legacy.box(api.account_id, [message], pvt_created=times["box created"],
                           pvt_modified=times["box modified"])

    assert await listed_ids(api, box) == [new_id_of(message.media_id, times[source])]

    await assert_migrated(couch, api.account_id, box["_id"], message, times[source])


async def test_without_any_time_the_message_is_given_now(api, couch, legacy):
    message = legacy_message(api.account_id, MISSING, created=MISSING, modified=MISSING)
    box = await legacy.box(api.account_id, [message], pvt_created=MISSING, pvt_modified=MISSING)
    before = gregorian_now()
    [message_id] = await listed_ids(api, box)
    after = gregorian_now()
    doc = await couch.get(modb(api.account_id, int(message_id[:4]), int(message_id[4:6])), message_id)
    assert before <= doc["metadata"]["timestamp"] <= after
    await assert_migrated(couch, api.account_id, box["_id"], message, doc["metadata"]["timestamp"])


async def test_a_string_timestamp_is_the_message_time(api, couch, legacy):
    timestamp = recent(5)
    message = legacy_message(api.account_id, str(timestamp), created=timestamp - 9 * DAY,
                             modified=timestamp - 8 * DAY)
    box = await legacy.box(api.account_id, [message])
    assert await listed_ids(api, box) == [new_id_of(message.media_id, timestamp)]
    await assert_migrated(couch, api.account_id, box["_id"], message, timestamp)


async def test_a_message_of_an_old_month_creates_its_database(api, couch, legacy):
    timestamp = gregorian_now() - 2 * 365 * DAY
    message = legacy_message(api.account_id, timestamp)
    box = await legacy.box(api.account_id, [message])
    db = modb(api.account_id, *year_month(timestamp))
    assert not await couch.db_exists(db)
    assert await listed_ids(api, box) == []  # out of the retention window, but moved
    await assert_migrated(couch, api.account_id, box["_id"], message, timestamp)
    assert await couch.get_or_none(db, "_design/mailbox_messages")


async def test_entries_sharing_a_media_id_become_one_message(api, couch, legacy):
    first = legacy_message(api.account_id, recent(1))
    again = legacy_message(api.account_id, recent(2), media_id=first.media_id, media=False)
    box = await legacy.box(api.account_id, [first, again])
    assert await listed_ids(api, box) == [new_id(first)]
    await assert_migrated(couch, api.account_id, box["_id"], first, first.entry["timestamp"])
    assert await migrated_copies(couch, legacy, api.account_id) == {first.media_id: 1}
    assert (await stored_box(couch, api, box))["messages"] == []


async def test_a_second_access_changes_nothing(api, couch, legacy):
    account = api.account_id
    messages = [legacy_message(account, recent(index)) for index in range(4)]
    unmovable = [legacy_message(account, recent(5), media_id=MISSING), legacy_message(account, recent(6), audio=None)]
    box = await legacy.box(account, [*messages, *unmovable])
    first = await listed_ids(api, box)
    before = await revisions(couch, legacy, account)

    assert await listed_ids(api, box) == first
    assert (await api.get(box_path(box, f"/{messages[0].media_id}"))).status == 200
    assert (await api.get("/vmboxes/messages")).status == 200
    assert (await api.get(box_path(box, f"/{messages[1].media_id}/raw"))).status == 200

    assert await revisions(couch, legacy, account) == before


async def test_two_requests_migrating_the_same_box_at_once_duplicate_nothing(api, couch, legacy):
    messages = [legacy_message(api.account_id, recent(index)) for index in range(12)]
    box = await legacy.box(api.account_id, messages)
    responses = await asyncio.gather(api.get(box_path(box), params={"paginate": "false"}),
                                     api.get(box_path(box), params={"paginate": "false"}),
                                     api.get("/vmboxes/messages", params={"paginate": "false"}))
    assert [response.status for response in responses] == [200, 200, 200]
    expected = {new_id(message) for message in messages}
    for response in responses[:2]:
        assert sorted(item["media_id"] for item in response.data) == sorted(expected)
    assert await migrated_copies(couch, legacy, api.account_id) == {m.media_id: 1 for m in messages}
    assert (await stored_box(couch, api, box))["messages"] == []


# --- every message operation migrates first; legacy ids address the migrated message ----------------------

def zip_contents(response) -> list[bytes]:
    assert response.status == 200, response.body[:300]
    assert response.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.body)) as archive:
        return sorted(archive.read(name) for name in archive.namelist())


async def op_list(api, couch, box, target, a, b):
    assert set(await listed_ids(api, box)) == {new_id(a), new_id(b)}


async def op_account_list(api, couch, box, target, a, b):
    response = await api.get("/vmboxes/messages", params={"paginate": "false"})
    assert response.status == 200, response.json
    assert {item[box["_id"]]["media_id"] for item in response.data if box["_id"] in item} == {new_id(a), new_id(b)}


async def op_fetch(api, couch, box, target, a, b):
    response = await api.get(box_path(box, f"/{a.media_id}"))
    assert response.status == 200, response.json
    assert response.data["media_id"] == new_id(a) and response.data["caller_id_name"] == a.entry["caller_id_name"]


async def op_fetch_by_new_id(api, couch, box, target, a, b):
    response = await api.get(box_path(box, f"/{new_id(a)}"))
    assert response.status == 200, response.json
    assert response.data["media_id"] == new_id(a)


async def op_folder(api, couch, box, target, a, b):
    response = await api.post(box_path(box, f"/{a.media_id}"), json={"data": {"folder": "saved"}})
    assert response.status == 200, response.json
    assert (response.data["media_id"], response.data["folder"]) == (new_id(a), "saved")
    assert (await stored(couch, api, a))["metadata"]["folder"] == "saved"


async def op_delete(api, couch, box, target, a, b):
    response = await api.delete(box_path(box, f"/{a.media_id}"))
    assert response.status == 200, response.json
    assert response.data["media_id"] == new_id(a)
    assert (await stored(couch, api, a))["pvt_deleted"] is True


async def op_bulk_folder(api, couch, box, target, a, b):
    response = await api.post(box_path(box), json={"data": {"messages": [a.media_id, b.media_id], "folder": "saved"}})
    assert response.status == 200, response.json
    assert sorted(response.data["succeeded"]) == sorted([new_id(a), new_id(b)]) and response.data["failed"] == []
    assert (await stored(couch, api, b))["metadata"]["folder"] == "saved"
    b.entry["folder"] = "saved"  # what the migrated message is expected to hold now


async def op_bulk_delete(api, couch, box, target, a, b):
    response = await api.delete(box_path(box), json={"data": {"messages": [a.media_id]}})
    assert response.status == 200, response.json
    assert response.data["succeeded"] == [new_id(a)]
    assert (await stored(couch, api, a))["pvt_deleted"] is True


async def assert_moved_to(api, couch, target, message, message_id):
    response = await api.get(box_path(target, f"/{message_id}/raw"))
    assert response.status == 200 and response.body == message.audio
    assert response.headers["Content-Type"] == message.content_type


async def op_move(api, couch, box, target, a, b):
    response = await api.post(box_path(box, f"/{a.media_id}"), json={"data": {"source_id": target["id"]}})
    assert response.status == 200, response.json
    await assert_moved_to(api, couch, target, a, response.data["media_id"])
    assert await couch.get_or_none(modb_of_message(api, a), new_id(a)) is None


async def op_bulk_move(api, couch, box, target, a, b):
    response = await api.post(box_path(box), json={"data": {"messages": [a.media_id], "source_id": target["id"]}})
    assert response.status == 200, response.json
    [moved] = response.data["succeeded"]
    await assert_moved_to(api, couch, target, a, moved)
    assert await couch.get_or_none(modb_of_message(api, a), new_id(a)) is None


async def op_copy(api, couch, box, target, a, b):
    response = await api.post(box_path(box), json={"data": {"messages": [a.media_id], "source_id": [target["id"]]}})
    assert response.status == 200, response.json
    [copied] = response.data["succeeded"]
    await assert_moved_to(api, couch, target, a, copied)
    assert await stored(couch, api, a)


async def op_raw(api, couch, box, target, a, b):
    response = await api.get(box_path(box, f"/{a.media_id}/raw"))
    assert response.status == 200 and response.body == a.audio


async def op_zip(api, couch, box, target, a, b):
    response = await api.post(box_path(box, "/raw"), json={"data": {"messages": [a.media_id, b.media_id]}})
    assert zip_contents(response) == sorted([a.audio, b.audio])


def modb_of_message(api, message) -> str:
    return modb(api.account_id, *year_month(message.entry["timestamp"]))


async def stored(couch, api, message) -> dict:
    return await couch.get(modb_of_message(api, message), new_id(message))


OPERATIONS = {
    "list": op_list, "account list": op_account_list, "fetch": op_fetch, "folder": op_folder, "delete": op_delete,
    "bulk folder": op_bulk_folder, "bulk delete": op_bulk_delete, "bulk move": op_bulk_move, "copy": op_copy,
    "raw": op_raw, "zip": op_zip, "move": op_move,
    "fetch by new id": op_fetch_by_new_id,
}


@pytest.mark.parametrize("operation", list(OPERATIONS.values()), ids=list(OPERATIONS))
async def test_every_message_operation_migrates_the_box_first(api, couch, legacy, operation):
    a, b = (legacy_message(api.account_id, recent(index)) for index in range(2))
    box = await legacy.box(api.account_id, [a, b])
    target = await api.create_box()

    await operation(api, couch, box, target, a, b)

    assert (await stored_box(couch, api, box))["messages"] == []
    await assert_migrated(couch, api.account_id, box["_id"], b, b.entry["timestamp"])


async def test_a_message_named_by_its_legacy_and_its_new_id_is_one_zip_entry(api, legacy):
    a = legacy_message(api.account_id, recent(0))
    box = await legacy.box(api.account_id, [a])
    response = await api.post(box_path(box, "/raw"), json={"data": {"messages": [a.media_id, new_id(a)]}})
    assert zip_contents(response) == [a.audio]


async def test_a_legacy_id_of_another_box_is_not_found(api, legacy):
    mine = legacy_message(api.account_id, recent(0))
    theirs = legacy_message(api.account_id, recent(1))
    box = await legacy.box(api.account_id, [mine])
    other = await legacy.box(api.account_id, [theirs])
    assert await listed_ids(api, other) == [new_id(theirs)]
    response = await api.get(box_path(box, f"/{theirs.media_id}"))
    assert response.status == 404, response.json


async def test_a_legacy_id_that_could_not_move_is_not_found(api, couch, legacy):
    lost = legacy_message(api.account_id, recent(0), audio=None)
    box = await legacy.box(api.account_id, [lost])
    assert (await api.get(box_path(box, f"/{lost.media_id}"))).status == 404
    assert (await stored_box(couch, api, box))["messages"] == [failed_entry(lost, "missing_audio")]


def put_now(couch_url: str, db: str, doc: dict) -> None:
    """Write a document at once, blocking: from a storage listener, before the request it sees is sent."""
    url = URL(couch_url)
    target = f"{str(url.with_user(None)).rstrip('/')}/{quote(db, safe='')}/{doc['_id']}"
    request = urllib.request.Request(target, method="PUT",
                                     data=json.dumps(doc).encode(), headers={"Content-Type": "application/json"})
    if url.user:
        request.add_header("Authorization", encode_basic_auth(url.user, url.password or ""))
    urllib.request.urlopen(request, timeout=10).close()


async def test_a_media_document_changed_while_its_message_moves_is_still_marked(service, couch_url, api, couch,
                                                                                  legacy):
    """The media documents are marked at the revision the migration read; one changed in the meantime is
    read again and marked, keeping the other change."""
    messages = [legacy_message(api.account_id, recent(index)) for index in range(3)]
    box = await legacy.box(api.account_id, messages)
    db = account_db(api.account_id)
    changed = await couch.get(db, messages[1].media_id)
    marks = f"{quote(db, safe='')}/_bulk_docs"

    def change_first(method: str, path: str) -> None:
        if path == marks and "changed" not in changed:
            put_now(couch_url, db, {**changed, "description": "changed"})
            changed["changed"] = True

    _, voicemail = service
    voicemail.store.client.listeners.append(change_first)
    try:
        assert sorted(await listed_ids(api, box)) == sorted(new_id(message) for message in messages)
    finally:
        voicemail.store.client.listeners.remove(change_first)

    assert changed.get("changed")
    assert (await couch.get(db, messages[1].media_id))["description"] == "changed"
    for message in messages:
        await assert_migrated(couch, api.account_id, box["_id"], message, message.entry["timestamp"])


# --- a run stopped in the middle of a batch ------------------------------------------------------------

@pytest.mark.parametrize("marked", [False, True], ids=["media untouched", "media marked"])
async def test_access_after_an_interrupted_migration_finishes_it_without_duplicates(api, couch, legacy, marked):
    account = api.account_id
    messages = [legacy_message(account, recent(index * 200)) for index in range(6)]
    box = await legacy.box(account, messages)
    for message in messages[:3]:
        await write_half_migrated(couch, legacy, account, box, message, marked=marked)

    assert sorted(await listed_ids(api, box)) == sorted(new_id(message) for message in messages)

    assert await migrated_copies(couch, legacy, account) == {message.media_id: 1 for message in messages}
    assert (await stored_box(couch, api, box))["messages"] == []
    for message in messages:
        await assert_migrated(couch, account, box["_id"], message, message.entry["timestamp"])


@pytest.mark.parametrize("stopped", [False, True], ids=["first run", "rerun after a stop before the audio"])
async def test_a_recording_too_large_to_inline_is_streamed(api, couch, legacy, stopped):
    big = os.urandom(INLINE_BATCH_BYTES + 4096)
    message = legacy_message(api.account_id, recent(0), audio=big)
    small = legacy_message(api.account_id, recent(1))
    box = await legacy.box(api.account_id, [message, small])
    if stopped:
        await write_half_migrated(couch, legacy, api.account_id, box, message, with_audio=False)

    assert sorted(await listed_ids(api, box)) == sorted([new_id(message), new_id(small)])

    for migrated in (message, small):
        await assert_migrated(couch, api.account_id, box["_id"], migrated, migrated.entry["timestamp"])
    response = await api.get(box_path(box, f"/{message.media_id}/raw"))
    assert response.status == 200 and response.body == big


# --- messages Kazoo's own migrator moved: the audio stays in the legacy document ------------------------

async def kazoo_linked(couch, legacy, api, box: dict, timestamp: int, link_account: str | None = None):
    """A message as kvm_migrate_account writes it: no audio of its own, a kz_att_link to the media document."""
    message = legacy_message(api.account_id, timestamp, audio=wav(secrets.randbelow(999)), content_type="audio/mpeg")
    message.media["source_id"] = box["id"]
    await couch.put(account_db(link_account or api.account_id), message.media)
    doc = kazoo_message(api, box, timestamp, message.media_id)
    doc.update({"pvt_moved_to_modb": "true", "pvt_previous_id": message.media_id, "pvt_attachments": {
        f"{secrets.token_hex(16)}.mp3": {"content_type": "audio/mpeg", "length": 0, "stub": False, "handler": {
            "kz_att_link": {"att_dbname": encoded(account_db(link_account or api.account_id)),
                            "att_docid": message.media_id}}}}})
    legacy.expect_months(api.account_id, timestamp)
    await couch.db_create(modb(api.account_id, *year_month(timestamp)))
    await couch.put(modb(api.account_id, *year_month(timestamp)), doc)
    return message, doc["_id"]


async def test_raw_of_a_kazoo_migrated_message_follows_the_link(api, couch, legacy):
    box = await api.create_box()
    message, message_id = await kazoo_linked(couch, legacy, api, box, recent(0))
    response = await api.get(box_path(box, f"/{message_id}/raw"))
    assert response.status == 200, response.body[:300]
    assert response.body == message.audio and response.headers["Content-Type"] == "audio/mpeg"


async def test_the_legacy_id_of_a_kazoo_migrated_message_finds_it(api, couch, legacy):
    box = await api.create_box()
    message, message_id = await kazoo_linked(couch, legacy, api, box, recent(0))
    response = await api.get(box_path(box, f"/{message.media_id}"))
    assert response.status == 200, response.json
    assert response.data["media_id"] == message_id
    raw = await api.get(box_path(box, f"/{message.media_id}/raw"))
    assert raw.status == 200 and raw.body == message.audio


async def test_zip_of_kazoo_migrated_messages_follows_the_links(api, couch, legacy):
    box = await api.create_box()
    linked = [await kazoo_linked(couch, legacy, api, box, recent(index)) for index in range(2)]
    response = await api.post(box_path(box, "/raw"), json={"data": {"messages": [mid for _, mid in linked]}})
    assert zip_contents(response) == sorted(message.audio for message, _ in linked)


@pytest.mark.parametrize("how", ["move", "copy"])
async def test_move_and_copy_of_a_kazoo_migrated_message_copy_the_linked_audio(api, couch, legacy, how):
    box, target = await api.create_box(), await api.create_box()
    message, message_id = await kazoo_linked(couch, legacy, api, box, recent(0))
    source_id = target["id"] if how == "move" else [target["id"]]
    response = await api.post(box_path(box), json={"data": {"messages": [message_id], "source_id": source_id}})
    assert response.status == 200, response.json
    [new_message] = response.data["succeeded"]
    legacy.expect_months(api.account_id, gregorian_now())
    copy = await couch.get(modb(api.account_id, int(new_message[:4]), int(new_message[4:6])), new_message)
    [(name, stub)] = copy["_attachments"].items()
    assert stub["content_type"] == "audio/mpeg" and "pvt_attachments" not in copy
    assert await attachment(couch, modb(api.account_id, int(new_message[:4]), int(new_message[4:6])),
                            new_message, name) == message.audio
    original = await couch.get_or_none(modb(api.account_id, *year_month(message.entry["timestamp"])), message_id)
    assert (original is None) == (how == "move")
    assert (await couch.get(account_db(api.account_id), message.media_id))["_attachments"]


async def test_a_link_into_another_account_is_not_followed(api, couch, legacy, new_account):
    other = await new_account("Other")
    box = await api.create_box()
    _, message_id = await kazoo_linked(couch, legacy, api, box, recent(0), link_account=other.account_id)
    response = await api.get(box_path(box, f"/{message_id}/raw"))
    assert response.status == 404, response.body[:300]


@pytest.mark.parametrize("pvt_attachments", [
    "not an object", {"a.mp3": "not a stub"}, {"a.mp3": {"handler": "not an object"}},
    {"a.mp3": {"handler": {"kz_att_link": ["not", "an", "object"]}}},
    {"a.mp3": {"handler": {"kz_att_link": {"att_dbname": 42, "att_docid": {"no": "id"}}}}},
], ids=["string", "stub string", "handler string", "link list", "link fields"])
async def test_a_malformed_link_is_no_audio_not_a_failure(api, couch, legacy, pvt_attachments):
    box = await api.create_box()
    _, message_id = await kazoo_linked(couch, legacy, api, box, recent(0))
    db = modb(api.account_id, int(message_id[:4]), int(message_id[4:6]))
    doc = await couch.get(db, message_id)
    await couch.put(db, {**doc, "pvt_attachments": pvt_attachments})
    response = await api.get(box_path(box, f"/{message_id}/raw"))
    assert response.status == 404, response.body[:300]
    zipped = await api.post(box_path(box, "/raw"), json={"data": {"messages": [message_id]}})
    assert zipped.status == 404, zipped.body[:300]
