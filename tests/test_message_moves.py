"""Move (`source_id` a box) and copy (`source_id` a list of boxes) of messages, one or many (docs/kazoo-behaviour.md §6.11,
§6.13, §7, docs/differences.md): new ids in the current month, what is stored and its audio, originals removed only
once the copies are stored, errors that change nothing, and interrupted moves that a repeat completes
without loss or duplicates. Interruptions are set up by writing their intermediate states into CouchDB."""
from __future__ import annotations

import base64

import pytest

from kazoo_vm.storage.dbnames import encoded, gregorian_now, modb
from bulk_helpers import (NOT_FOUND, PRIOR, attachment_bytes, audio_message, bulk_result, couch_requests, listed,
                          mixed_ids, new_messages, old_message, raw_audio, snapshot, stored_docs, unknown_id)
from message_helpers import (MESSAGE_ID, assert_bad_identifier, assert_error, audio_bytes, modb_of,
                             this_month, times_last_month)

MARK = "pvt_moved_to"
STALE = 1000  # seconds since a mark was set: that move is long gone


def messages_path(box: dict) -> str:
    return f"/vmboxes/{box['id']}/messages"


async def bulk(api, box: dict, ids: list[str], source_id) -> tuple[list[str], dict[str, str]]:
    return bulk_result(await api.post(messages_path(box), json={"data": {"messages": ids, "source_id": source_id}}))


async def move_one(api, box: dict, message_id: str, target: dict, route: str) -> str:
    """Move one message by the single-message or the bulk route; the new id."""
    if route == "bulk":
        succeeded, failed = await bulk(api, box, [message_id], target["id"])
        assert failed == {}
        [new_id] = succeeded
        return new_id
    response = await api.post(f"{messages_path(box)}/{message_id}", json={"data": {"source_id": target["id"]}})
    assert response.status == 200, response.json
    return response.data["media_id"]


async def assert_removed(couch, api, message_id: str) -> None:
    """Hard deleted: a tombstone that keeps nothing of the message."""
    db = modb_of(api, message_id)
    [row] = await couch.all_docs(db, [message_id], include_docs=False)
    assert row.get("value", {}).get("deleted") is True, row
    assert set(await couch.get(db, message_id, rev=row["value"]["rev"])) == {"_id", "_rev", "_deleted"}


async def assert_copied(api, couch, original: dict, new_id: str, target: dict, since: int,
                        audio: bytes | None) -> dict:
    """The stored copy of `original` in `target`: Kazoo's move/copy transform, and the same audio."""
    year, month = this_month()
    assert MESSAGE_ID.match(new_id) and new_id.startswith(f"{year:04d}{month:02d}-") and new_id != original["_id"]
    doc = (await stored_docs(couch, api, [new_id]))[new_id]
    metadata, before = doc["metadata"], original["metadata"]
    to = f"{target['mailbox']}@{api.realm}"
    assert since <= metadata["timestamp"] <= gregorian_now() and doc["utc_seconds"] == metadata["timestamp"]
    assert metadata == {**before, "media_id": new_id, "folder": "new", "to": to, "to_user": target["mailbox"],
                        "to_realm": api.realm, "timestamp": metadata["timestamp"]}
    assert doc["source_id"] == target["id"]
    assert doc["history"] == [*original.get("history", []), original["source_id"]]
    assert doc["name"].startswith(f"mailbox {target['mailbox']} message {year:04d}-{month:02d}-")
    assert doc["pvt_account_db"] == encoded(modb(api.account_id, year, month))
    assert (doc["pvt_type"], doc["pvt_account_id"]) == ("mailbox_message", api.account_id)
    assert MARK not in doc and "pvt_deleted" not in doc
    if audio is None:
        assert not doc.get("_attachments")
        return doc
    [(name, stub)] = doc["_attachments"].items()
    [(old_name, old_stub)] = original["_attachments"].items()
    assert (name, stub["content_type"], stub["length"]) == (old_name, old_stub["content_type"], len(audio))
    assert await attachment_bytes(couch, api, new_id) == {name: audio}
    assert await raw_audio(api, target["id"], new_id) == audio
    return doc


async def assert_once(api, boxes: list[dict], call_id: str) -> str:
    """The message with this call id is listed exactly once across the boxes; its id."""
    found = [message_id for box in boxes for message_id, item in (await listed(api, box["id"])).items()
             if item["call_id"] == call_id]
    assert len(found) == 1, found
    return found[0]


# -- move ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("month", ["this month", "last month"])
async def test_move_of_one_message_answers_the_new_metadata(api, couch, month):
    box, target = await api.create_box(mailbox="3001"), await api.create_box(mailbox="3002")
    fields = {"caller_id_number": "6001", "folder": "saved"}
    if month == "last month":
        fields["timestamp"] = times_last_month(1)[0]
    message_id = await audio_message(api, box["id"], "wav", **fields)
    original = (await stored_docs(couch, api, [message_id]))[message_id]
    since = gregorian_now()

    response = await api.post(f"{messages_path(box)}/{message_id}", json={"data": {"source_id": target["id"]}})
    assert response.status == 200, response.json
    new_id = response.data["media_id"]
    doc = await assert_copied(api, couch, original, new_id, target, since, audio_bytes("wav"))
    assert response.data == doc["metadata"]
    assert not [key for key in response.data if key.startswith(("pvt_", "_"))]
    await assert_removed(couch, api, message_id)
    assert await listed(api, box["id"]) == {}
    assert list(await listed(api, target["id"])) == [new_id]
    assert_bad_identifier(await api.get(f"{messages_path(box)}/{message_id}"), message_id)
    assert (await api.get(f"{messages_path(target)}/{new_id}")).data == response.data


async def test_bulk_move(service, api, couch, new_account):
    box, target = await api.create_box(mailbox="3001"), await api.create_box(mailbox="3002")
    valid = {await audio_message(api, box["id"], "wav", call_id="wav"): "wav",
             await audio_message(api, box["id"], "mp3", call_id="mp3", timestamp=times_last_month(1)[0]): "mp3",
             await audio_message(api, box["id"], "m4a", call_id="m4a"): "m4a",
             (await new_messages(api, box["id"], 1, call_id="silent"))[0]: None}
    mix = await mixed_ids(service, couch, api, new_account, box, list(valid))
    originals = await stored_docs(couch, api, list(valid))
    untouched = await snapshot(couch, mix.owners)
    since = gregorian_now()

    succeeded, failed = await bulk(api, box, mix.ids, target["id"])
    assert failed == mix.failures
    assert len(succeeded) == len(valid)
    moved = {(await stored_docs(couch, api, [new_id]))[new_id]["metadata"]["call_id"]: new_id for new_id in succeeded}
    for message_id, kind in valid.items():
        original = originals[message_id]
        await assert_copied(api, couch, original, moved[original["metadata"]["call_id"]], target, since,
                            kind and audio_bytes(kind))
        await assert_removed(couch, api, message_id)
    assert sorted(await listed(api, target["id"])) == sorted(succeeded)
    assert await listed(api, box["id"]) == {}
    assert await snapshot(couch, mix.owners) == untouched


@pytest.mark.parametrize("source_id", ["target", ["target"]])
async def test_move_or_copy_of_an_out_of_retention_message_is_refused_and_changes_nothing(
        service, api, couch, source_id):
    box, target = await api.create_box(), await api.create_box()
    source_id = target["id"] if source_id == "target" else [target["id"]]
    message_id = await old_message(service, couch, api, box, audio=audio_bytes("mp3"))
    before = await stored_docs(couch, api, [message_id])
    response = await api.post(f"{messages_path(box)}/{message_id}", json={"data": {"source_id": source_id}})
    errors = assert_error(response, 400, "validation error")
    assert list(errors) == [message_id] and errors[message_id]["date_range"]["message"] == \
        "cannot make changes to messages prior to retention duration"
    assert await bulk(api, box, [message_id], source_id) == ([], {message_id: PRIOR})
    assert await stored_docs(couch, api, [message_id]) == before
    assert await listed(api, target["id"]) == {}


@pytest.mark.parametrize("source_id", ["target", ["target"]])
@pytest.mark.parametrize("which", ["unknown", "malformed", "other box"])
async def test_move_or_copy_of_one_message_not_in_the_box_is_404(api, couch, source_id, which):
    box, other, target = await api.create_box(), await api.create_box(), await api.create_box()
    message_id = {"unknown": unknown_id(), "malformed": "not-a-message",
                  "other box": (await new_messages(api, other["id"], 1))[0]}[which]
    before = await stored_docs(couch, api, [message_id])
    source_id = target["id"] if source_id == "target" else [target["id"]]
    response = await api.post(f"{messages_path(box)}/{message_id}", json={"data": {"source_id": source_id}})
    assert_bad_identifier(response, message_id)
    assert await stored_docs(couch, api, [message_id]) == before
    assert await listed(api, target["id"]) == {}


async def test_a_repeated_id_is_moved_once(api, couch):
    box, target = await api.create_box(), await api.create_box()
    message_id = await audio_message(api, box["id"], "short", call_id="twice")
    [new_id], failed = await bulk(api, box, [message_id, message_id], target["id"])
    assert failed == {}
    await assert_removed(couch, api, message_id)
    assert await assert_once(api, [box, target], "twice") == new_id


# -- copy ------------------------------------------------------------------------------------------------

async def test_bulk_copy_to_several_boxes(api, couch):
    box = await api.create_box(mailbox="3001")
    targets = [await api.create_box(mailbox="3002"), await api.create_box(mailbox="3003")]
    valid = {await audio_message(api, box["id"], "wav", call_id="wav"): "wav",
             await audio_message(api, box["id"], "mp3", call_id="mp3", timestamp=times_last_month(1)[0]): "mp3"}
    missing = unknown_id()
    originals = await stored_docs(couch, api, list(valid))
    since = gregorian_now()

    succeeded, failed = await bulk(api, box, [*valid, missing], [targets[0]["id"], targets[1]["id"], targets[0]["id"]])
    assert failed == {missing: NOT_FOUND}
    assert len(succeeded) == len(valid) * len(targets)
    assert await stored_docs(couch, api, list(valid)) == originals
    assert set(await listed(api, box["id"])) == set(valid)
    for target in targets:
        copies = await listed(api, target["id"])
        assert set(copies) <= set(succeeded)
        assert sorted(item["call_id"] for item in copies.values()) == ["mp3", "wav"]
        for new_id, item in copies.items():
            original = next(doc for doc in originals.values() if doc["metadata"]["call_id"] == item["call_id"])
            await assert_copied(api, couch, original, new_id, target, since, audio_bytes(valid[original["_id"]]))


async def test_copy_of_one_message_answers_the_bulk_result(api, couch):
    box, target = await api.create_box(), await api.create_box()
    message_id = await audio_message(api, box["id"], "short")
    original = (await stored_docs(couch, api, [message_id]))[message_id]
    since = gregorian_now()
    response = await api.post(f"{messages_path(box)}/{message_id}", json={"data": {"source_id": [target["id"]]}})
    [new_id], failed = bulk_result(response)
    assert failed == {}
    await assert_copied(api, couch, original, new_id, target, since, audio_bytes("short"))
    assert (await stored_docs(couch, api, [message_id]))[message_id] == original


# -- missing targets -------------------------------------------------------------------------------------

@pytest.mark.parametrize("route", ["single", "bulk"])
@pytest.mark.parametrize("targets, missing", [
    ("{missing}", "0" * 32),
    ("{missing}", "no-such-box"),
    ("{deleted}", None),
    ("{foreign}", None),
    (["{target}", "{missing}"], "f" * 32),
    (["{target}", "{deleted}"], None),
])
async def test_move_or_copy_to_a_box_that_does_not_exist_is_404_and_changes_nothing(
        api, couch, new_account, route, targets, missing):
    box, target, deleted = await api.create_box(), await api.create_box(), await api.create_box()
    assert (await api.delete(f"/vmboxes/{deleted['id']}")).status == 200
    foreign = await (await new_account("Other")).create_box()
    names = {"{missing}": missing, "{target}": target["id"], "{deleted}": deleted["id"], "{foreign}": foreign["id"]}
    source_id = [names[name] for name in targets] if isinstance(targets, list) else names[targets]
    cause = next(name for name in ([source_id] if isinstance(source_id, str) else source_id) if name != target["id"])
    ids = [await audio_message(api, box["id"], "short"), *await new_messages(api, box["id"], 1)]
    before = await stored_docs(couch, api, ids)

    if route == "single":
        response = await api.post(f"{messages_path(box)}/{ids[0]}", json={"data": {"source_id": source_id}})
    else:
        response = await api.post(messages_path(box), json={"data": {"messages": ids, "source_id": source_id}})
    assert_bad_identifier(response, cause)
    assert await stored_docs(couch, api, ids) == before
    assert await listed(api, target["id"]) == {}
    assert set(await listed(api, box["id"])) == set(ids)


# -- interrupted moves -----------------------------------------------------------------------------------

async def marked(couch, api, message_id: str, box_id: str, at: int) -> dict:
    """The original as a move to box_id left it after its first step: marked with where it goes."""
    doc = (await stored_docs(couch, api, [message_id]))[message_id]
    doc[MARK] = {"id": unknown_id(), "box": box_id, "at": at}
    await couch.put(modb_of(api, message_id), doc)
    return doc


async def written_copy(couch, api, original: dict, target: dict, audio: bytes) -> dict:
    """The copy a move to target wrote under the id of the mark, with its audio, before it was stopped."""
    new_id, now = original[MARK]["id"], gregorian_now()
    to = f"{target['mailbox']}@{api.realm}"
    [(name, stub)] = original["_attachments"].items()
    doc = {key: value for key, value in original.items() if key not in ("_rev", "_attachments", MARK)}
    doc.update({"_id": new_id, "source_id": target["id"], "utc_seconds": now, "history": [original["source_id"]],
                "pvt_account_db": encoded(modb_of(api, new_id)),
                "metadata": {**original["metadata"], "media_id": new_id, "folder": "new", "timestamp": now,
                             "to": to, "to_user": target["mailbox"], "to_realm": api.realm},
                "_attachments": {name: {"content_type": stub["content_type"],
                                        "data": base64.b64encode(audio).decode()}}})
    return await couch.put(modb_of(api, new_id), doc)


@pytest.mark.parametrize("route", ["single", "bulk"])
async def test_a_move_stopped_after_marking_is_completed_under_the_marked_id(api, couch, route):
    box, target = await api.create_box(), await api.create_box()
    message_id = await audio_message(api, box["id"], "wav", call_id="call-a")
    original = await marked(couch, api, message_id, target["id"], gregorian_now())
    since = gregorian_now()

    new_id = await move_one(api, box, message_id, target, route)
    assert new_id == original[MARK]["id"]
    await assert_copied(api, couch, original, new_id, target, since, audio_bytes("wav"))
    await assert_removed(couch, api, message_id)
    assert await assert_once(api, [box, target], "call-a") == new_id


@pytest.mark.parametrize("route", ["single", "bulk"])
async def test_a_move_stopped_after_the_copy_was_stored_removes_the_original_only(api, couch, route):
    box, target = await api.create_box(), await api.create_box()
    message_id = await audio_message(api, box["id"], "wav", call_id="call-b")
    original = await marked(couch, api, message_id, target["id"], gregorian_now())
    copy = await written_copy(couch, api, original, target, audio_bytes("wav"))

    new_id = await move_one(api, box, message_id, target, route)
    assert new_id == copy["_id"]
    assert (await stored_docs(couch, api, [new_id]))[new_id]["_rev"] == copy["_rev"]
    assert await attachment_bytes(couch, api, new_id) == {next(iter(copy["_attachments"])): audio_bytes("wav")}
    await assert_removed(couch, api, message_id)
    assert await assert_once(api, [box, target], "call-b") == new_id


async def test_a_stale_mark_to_another_box_does_not_stop_a_move(api, couch):
    box, target, abandoned = await api.create_box(), await api.create_box(), await api.create_box()
    message_id = await audio_message(api, box["id"], "short", call_id="call-c")
    original = await marked(couch, api, message_id, abandoned["id"], gregorian_now() - STALE)
    since = gregorian_now()

    [new_id], failed = await bulk(api, box, [message_id], target["id"])
    assert failed == {} and new_id != original[MARK]["id"]
    await assert_copied(api, couch, original, new_id, target, since, audio_bytes("short"))
    await assert_removed(couch, api, message_id)
    assert (await stored_docs(couch, api, [original[MARK]["id"]]))[original[MARK]["id"]] is None
    assert await assert_once(api, [box, target, abandoned], "call-c") == new_id


@pytest.mark.parametrize("route", ["single", "bulk"])
async def test_a_move_to_another_box_under_way_is_a_conflict_and_changes_nothing(api, couch, route):
    box, target, busy = await api.create_box(), await api.create_box(), await api.create_box()
    message_id = await audio_message(api, box["id"], "short", call_id="call-d")
    original = await marked(couch, api, message_id, busy["id"], gregorian_now())

    if route == "bulk":
        assert await bulk(api, box, [message_id], target["id"]) == ([], {message_id: "conflict"})
    else:
        response = await api.post(f"{messages_path(box)}/{message_id}", json={"data": {"source_id": target["id"]}})
        assert_error(response, 409, "datastore_conflict")
    assert (await stored_docs(couch, api, [message_id]))[message_id] == original
    assert await assert_once(api, [box, target, busy], "call-d") == message_id


async def test_a_stale_move_whose_copy_was_stored_is_finished_not_repeated(api, couch):
    """The earlier move got as far as storing its copy: the message is where that move took it, and a
    move to a third box must not make it exist twice."""
    box, target, earlier = await api.create_box(), await api.create_box(), await api.create_box()
    message_id = await audio_message(api, box["id"], "short", call_id="call-e")
    original = await marked(couch, api, message_id, earlier["id"], gregorian_now() - STALE)
    copy = await written_copy(couch, api, original, earlier, audio_bytes("short"))

    assert await bulk(api, box, [message_id], target["id"]) == ([], {message_id: "conflict"})
    await assert_removed(couch, api, message_id)
    assert (await stored_docs(couch, api, [copy["_id"]]))[copy["_id"]]["_rev"] == copy["_rev"]
    assert await assert_once(api, [box, target, earlier], "call-e") == copy["_id"]


# -- CouchDB requests ------------------------------------------------------------------------------------

async def move_requests(service, api, count: int, source_id: str) -> int:
    """CouchDB requests of one bulk move (source_id "box") or copy ("boxes") of `count` recordings."""
    box, targets = await api.create_box(), [await api.create_box(), await api.create_box()]
    ids = [await audio_message(api, box["id"], "short") for _ in range(count)]
    targets_of = targets[0]["id"] if source_id == "box" else [target["id"] for target in targets]
    response, requests = await couch_requests(service, api.post(messages_path(box), json={"data": {
        "messages": ids, "source_id": targets_of}}))
    succeeded, failed = bulk_result(response)
    assert failed == {} and len(succeeded) == count * (1 if source_id == "box" else len(targets))
    return requests


@pytest.mark.parametrize("source_id", ["box", "boxes"])
async def test_move_and_copy_requests_to_couchdb_do_not_grow_with_the_messages(service, api, source_id):
    few, many = [await move_requests(service, api, count, source_id) for count in (3, 30)]
    assert few == many  # the boxes; per month: read the originals, mark them (move), read their audio,
    #                     write the copies, read and delete the originals (move)
