"""Bulk folder change (POST /vmboxes/{B}/messages without source_id) and bulk delete (DELETE
/vmboxes/{B}/messages): the result in the shape of docs/differences.md, what is stored in each monthly database, the
errors that change nothing, and CouchDB requests that do not grow with the number of messages
(docs/kazoo-behaviour.md §6.13, §6.14, §7)."""
from __future__ import annotations

import pytest

from bulk_helpers import (NOT_FOUND, bulk_result, couch_requests, listed, mixed_ids, new_messages, old_message,
                          snapshot, stored_docs, unknown_id)
from message_helpers import assert_bad_identifier, assert_error, create_message, times_last_month
from test_cluster_faults import cluster_nodes

REQUIRED = {"message": "No array of message ids are specified"}
EMPTY_SOURCE = {"message": "empty source_id is specified. please set a single or a list of source_ids."}


def messages_path(box: dict) -> str:
    return f"/vmboxes/{box['id']}/messages"


async def box_messages(api, box: dict, folder: str = "new") -> list[str]:
    """Two messages of this month and one of last month, in `folder`."""
    return [*await new_messages(api, box["id"], 2, folder=folder),
            (await create_message(api, box["id"], folder=folder, timestamp=times_last_month(1)[0]))["media_id"]]


def without(doc: dict, *keys: str) -> dict:
    """The document without _rev, pvt_modified and the given metadata keys: what a folder change keeps."""
    kept = {key: value for key, value in doc.items() if key not in ("_rev", "pvt_modified", "pvt_deleted")}
    kept["metadata"] = {key: value for key, value in doc["metadata"].items() if key not in keys}
    return kept


# -- bulk folder change ----------------------------------------------------------------------------------

@pytest.mark.parametrize("data, top, query, folder", [
    ({"folder": "new"}, {}, "", "new"),
    ({}, {}, "?folder=new", "new"),
    ({}, {"folder": "new"}, "", "new"),
    ({"folder": "new"}, {}, "?folder=deleted", "new"),
    ({}, {}, "", "saved"),
    ({"folder": "archive"}, {}, "", "saved"),
    ({"folder": "deleted"}, {}, "", "deleted"),
])
async def test_bulk_folder_change(service, api, couch, new_account, data, top, query, folder):
    box = await api.create_box()
    valid = await box_messages(api, box, folder="saved" if folder == "new" else "new")
    mix = await mixed_ids(service, couch, api, new_account, box, valid)
    before, untouched = await stored_docs(couch, api, valid), await snapshot(couch, mix.owners)

    response = await api.post(messages_path(box) + query, json={"data": {"messages": mix.ids, **data}, **top})
    succeeded, failed = bulk_result(response)
    assert sorted(succeeded) == sorted(valid)
    assert failed == mix.failures

    after = await stored_docs(couch, api, valid)
    for message_id in valid:
        assert after[message_id]["metadata"]["folder"] == folder
        assert "pvt_deleted" not in after[message_id]  # `deleted` by POST is the folder only
        assert without(after[message_id], "folder") == without(before[message_id], "folder")
    assert await snapshot(couch, mix.owners) == untouched
    assert {message_id: item["folder"] for message_id, item in (await listed(api, box["id"])).items()} == \
        dict.fromkeys(valid, folder)


async def test_bulk_folder_change_of_repeated_ids_changes_each_once(api, couch):
    box = await api.create_box()
    [message_id] = await new_messages(api, box["id"], 1)
    succeeded, failed = bulk_result(await api.post(messages_path(box), json={"data": {
        "messages": [message_id, message_id], "folder": "saved"}}))
    assert (succeeded, failed) == ([message_id], {})
    assert (await stored_docs(couch, api, [message_id]))[message_id]["_rev"].startswith("2-")


async def test_bulk_folder_change_of_a_soft_deleted_message_is_not_found(api, couch):
    box = await api.create_box()
    [message_id] = await new_messages(api, box["id"], 1)
    assert (await api.delete(f"{messages_path(box)}/{message_id}")).status == 200
    before = await stored_docs(couch, api, [message_id])
    succeeded, failed = bulk_result(await api.post(messages_path(box), json={"data": {"messages": [message_id]}}))
    assert (succeeded, failed) == ([], {message_id: NOT_FOUND})
    assert await stored_docs(couch, api, [message_id]) == before


MAX_IDS = 5000  # Settings.max_bulk_ids


@pytest.mark.parametrize("data, field, rule, payload", [
    ({}, "messages", "required", REQUIRED),
    ({"messages": []}, "messages", "required", REQUIRED),
    ({"messages": None}, "messages", "required", REQUIRED),
    ({"messages": "{message}"}, "messages", "required", REQUIRED),
    ({"messages": {"id": "{message}"}}, "messages", "required", REQUIRED),
    ({"messages": ["{message}", 1]}, "messages", "type", None),
    ({"messages": ["{message}", None]}, "messages", "type", None),
    ({"messages": ["{message}", ["{message}"]]}, "messages", "type", None),
    ({"messages": ["{message}"] * (MAX_IDS + 1)}, "messages", "maxItems", None),
    ({"messages": ["{message}"], "source_id": ""}, "source_id", "required", EMPTY_SOURCE),
    ({"messages": ["{message}"], "source_id": []}, "source_id", "required", EMPTY_SOURCE),
    ({"messages": ["{message}"], "source_id": [""]}, "source_id", "required", EMPTY_SOURCE),
    ({"messages": ["{message}"], "source_id": ["{box}", ""]}, "source_id", "required", EMPTY_SOURCE),
    ({"messages": ["{message}"], "source_id": 7}, "source_id", "type", None),
    ({"messages": ["{message}"], "source_id": ["{box}", 7]}, "source_id", "type", None),
    ({"messages": ["{message}"], "source_id": {"id": "{box}"}}, "source_id", "type", None),
])
async def test_bulk_post_refuses_bad_input_and_changes_nothing(api, couch, data, field, rule, payload):
    box, target = await api.create_box(), await api.create_box()
    [message_id] = await new_messages(api, box["id"], 1)
    before = await stored_docs(couch, api, [message_id])

    response = await api.post(messages_path(box), json={"data": fill(data, message_id, target["id"])})
    errors = assert_error(response, 400, "validation error")
    assert list(errors) == [field] and list(errors[field]) == [rule], errors
    if payload is not None:
        assert errors[field][rule] == payload
    assert await stored_docs(couch, api, [message_id]) == before
    assert await listed(api, target["id"]) == {}


def fill(value, message_id: str, box_id: str):
    """The request data with `{message}` and `{box}` replaced by real ids."""
    if isinstance(value, str):
        return value.format(message=message_id, box=box_id)
    if isinstance(value, list):
        return [fill(item, message_id, box_id) for item in value]
    if isinstance(value, dict):
        return {key: fill(item, message_id, box_id) for key, item in value.items()}
    return value


async def test_bulk_post_takes_as_many_ids_as_the_limit(api):
    box = await api.create_box()
    ids = [unknown_id() for _ in range(MAX_IDS)]
    succeeded, failed = bulk_result(await api.post(messages_path(box), json={"data": {"messages": ids}}))
    assert succeeded == [] and failed == dict.fromkeys(ids, NOT_FOUND)


@pytest.mark.parametrize("method", ["POST", "DELETE"])
@pytest.mark.parametrize("box_id", ["0" * 32, "no-such-box", "{other account}"])
async def test_bulk_on_an_unknown_box_is_404_and_changes_nothing(api, couch, new_account, method, box_id):
    box = await api.create_box()
    [message_id] = await new_messages(api, box["id"], 1)
    if box_id == "{other account}":
        box_id = (await (await new_account("Other")).create_box())["id"]
    before = await stored_docs(couch, api, [message_id])
    response = await api.request(method, f"/vmboxes/{box_id}/messages",
                                 json={"data": {"messages": [message_id], "folder": "saved"}})
    assert_bad_identifier(response, box_id)
    assert await stored_docs(couch, api, [message_id]) == before


# -- bulk delete -----------------------------------------------------------------------------------------

async def assert_soft_deleted(api, couch, box: dict, ids: list[str]) -> None:
    """Stored with pvt_deleted and folder deleted, gone from the listing, still answered by id."""
    listing = await listed(api, box["id"])
    for message_id, doc in (await stored_docs(couch, api, ids)).items():
        assert doc["pvt_deleted"] is True and doc["metadata"]["folder"] == "deleted"
        assert message_id not in listing
        response = await api.get(f"{messages_path(box)}/{message_id}")
        assert response.status == 200 and response.data["folder"] == "deleted"


async def test_bulk_delete_by_ids(service, api, couch, new_account):
    box = await api.create_box()
    valid = await box_messages(api, box)
    kept = await new_messages(api, box["id"], 1)
    mix = await mixed_ids(service, couch, api, new_account, box, valid)
    untouched = await snapshot(couch, {**mix.owners, **dict.fromkeys(kept, api)})

    succeeded, failed = bulk_result(await api.delete(messages_path(box), json={"data": {"messages": mix.ids}}))
    assert sorted(succeeded) == sorted(valid)
    assert failed == mix.failures
    await assert_soft_deleted(api, couch, box, valid)
    assert await snapshot(couch, {**mix.owners, **dict.fromkeys(kept, api)}) == untouched
    assert list(await listed(api, box["id"])) == kept


@pytest.mark.parametrize("data, query", [({"folder": "saved"}, ""), ({}, "?folder=saved")])
async def test_bulk_delete_of_a_folder(api, couch, data, query):
    box, other = await api.create_box(), await api.create_box()
    saved = await box_messages(api, box, folder="saved")
    kept = await new_messages(api, box["id"], 2) + await new_messages(api, other["id"], 1, folder="saved")
    before = await stored_docs(couch, api, kept)

    succeeded, failed = bulk_result(await api.delete(messages_path(box) + query, json={"data": data}))
    assert sorted(succeeded) == sorted(saved) and failed == {}
    await assert_soft_deleted(api, couch, box, saved)
    assert await stored_docs(couch, api, kept) == before


async def test_bulk_delete_of_the_deleted_folder_hides_its_messages(api, couch):
    box = await api.create_box()
    ids = await new_messages(api, box["id"], 3)
    bulk_result(await api.post(messages_path(box), json={"data": {"messages": ids[:2], "folder": "deleted"}}))
    succeeded, failed = bulk_result(await api.delete(messages_path(box) + "?folder=deleted"))
    assert sorted(succeeded) == sorted(ids[:2]) and failed == {}
    await assert_soft_deleted(api, couch, box, ids[:2])
    assert list(await listed(api, box["id"])) == ids[2:]


@pytest.mark.parametrize("body", [None, {}, {"data": {}}])
async def test_bulk_delete_without_ids_or_folder_deletes_every_message_of_the_box(service, api, couch, body):
    box, other = await api.create_box(), await api.create_box()
    ids = await box_messages(api, box) + await new_messages(api, box["id"], 1, folder="saved")
    old = await old_message(service, couch, api, box)
    kept = [old, *await new_messages(api, other["id"], 1)]
    before = await stored_docs(couch, api, kept)

    succeeded, failed = bulk_result(await api.delete(messages_path(box), json=body))
    assert sorted(succeeded) == sorted(ids) and failed == {}
    await assert_soft_deleted(api, couch, box, ids)
    assert await stored_docs(couch, api, kept) == before


async def test_bulk_delete_of_an_empty_list_deletes_nothing(api, couch):
    box = await api.create_box()
    ids = await new_messages(api, box["id"], 2)
    before = await stored_docs(couch, api, ids)
    succeeded, failed = bulk_result(await api.delete(messages_path(box) + "?folder=new",
                                                     json={"data": {"messages": []}}))
    assert (succeeded, failed) == ([], {})
    assert await stored_docs(couch, api, ids) == before


@pytest.mark.parametrize("data, query, field, rule", [
    ({"messages": "{message}"}, "", "messages", "required"),
    ({"messages": ["{message}", 5]}, "", "messages", "type"),
    ({"messages": ["{message}"] * (MAX_IDS + 1)}, "", "messages", "maxItems"),
    ({"folder": "archive"}, "", "folder", "enum"),
    ({}, "?folder=trash", "folder", "enum"),
])
async def test_bulk_delete_refuses_bad_input_and_deletes_nothing(api, couch, data, query, field, rule):
    box = await api.create_box()
    ids = await new_messages(api, box["id"], 2)
    before = await stored_docs(couch, api, ids)
    response = await api.delete(messages_path(box) + query, json={"data": fill(data, ids[0], box["id"])})
    errors = assert_error(response, 400, "validation error")
    assert list(errors) == [field] and list(errors[field]) == [rule], errors
    assert await stored_docs(couch, api, ids) == before


# -- CouchDB requests ------------------------------------------------------------------------------------

async def bulk_requests(service, api, count: int, method: str, data: dict) -> int:
    """CouchDB requests of one bulk request on `count` messages of this month."""
    box = await api.create_box()
    ids = await new_messages(api, box["id"], count)
    response, requests = await couch_requests(service, api.request(method, messages_path(box),
                                                                   json={"data": {"messages": ids, **data}}))
    succeeded, failed = bulk_result(response)
    assert sorted(succeeded) == sorted(ids) and failed == {}
    return requests


@pytest.mark.parametrize("method, data", [("POST", {"folder": "saved"}), ("DELETE", {})])
async def test_bulk_requests_to_couchdb_do_not_grow_with_the_messages(service, api, couch, method, data):
    few, many = [await bulk_requests(service, api, count, method, data) for count in (3, 30)]
    assert few == many
    # the box, one _all_docs and one _bulk_docs, whatever the number of messages; on a cluster also the box's
    # lock: read, taken, given back (voicemail/box_locks.py)
    assert many <= 5 + (3 if await cluster_nodes(couch) > 1 else 0)
