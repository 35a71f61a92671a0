"""Single voicemail messages: create, fetch, folder change, delete, and the errors of every message route
(docs/kazoo-behaviour.md §2.2, §6.9-§6.12, docs/differences.md)."""
from __future__ import annotations

import re

import pytest

from kazoo_vm.storage.dbnames import encoded, gregorian_now, modb
from message_helpers import (MESSAGE_ID, assert_bad_identifier, assert_error, audio_bytes, create_message,
                             gregorian, kazoo_message, modb_of, previous_month, store_doc, stored, this_month,
                             times_this_month)

MISSING_MESSAGE = f"{this_month()[0]:04d}{this_month()[1]:02d}-{'0' * 32}"


async def test_create_with_defaults_stores_a_kazoo_message_in_the_month_database(api, couch):
    box = await api.create_box(mailbox="3001")
    before = gregorian_now()
    response = await api.put(f"/vmboxes/{box['id']}/messages", json={"data": {}})
    assert response.status == 201, response.json
    metadata = response.data
    assert response.headers["Location"] == metadata["media_id"]
    year, month = this_month()
    assert MESSAGE_ID.match(metadata["media_id"]) and metadata["media_id"].startswith(f"{year:04d}{month:02d}-")
    assert before <= metadata["timestamp"] <= gregorian_now()
    assert re.fullmatch(r"[0-9a-f]{24}", metadata.pop("call_id"))
    assert metadata == {
        "media_id": metadata["media_id"], "timestamp": metadata["timestamp"], "folder": "new", "length": 1,
        "caller_id_number": "anonymous", "caller_id_name": "anonymous",
        "from": f"anonymous@{api.realm}", "from_user": "anonymous", "from_realm": api.realm,
        "to": f"3001@{api.realm}", "to_user": "3001", "to_realm": api.realm,
    }

    doc = await couch.get(modb(api.account_id, year, month), metadata["media_id"])
    assert doc["_id"] == metadata["media_id"]
    assert {key: doc[key] for key in ("pvt_type", "source_id", "source_type", "description", "media_source",
                                      "streamable", "utc_seconds", "pvt_account_id", "pvt_account_db")} == {
        "pvt_type": "mailbox_message", "source_id": box["id"], "source_type": "voicemail",
        "description": "voicemail message with media", "media_source": "recording", "streamable": True,
        "utc_seconds": metadata["timestamp"], "pvt_account_id": api.account_id,
        "pvt_account_db": encoded(modb(api.account_id, year, month)),
    }
    assert doc["pvt_account_db"].startswith("account%2F") and "/" not in doc["pvt_account_db"]
    assert doc["name"].startswith("mailbox 3001 message ")
    assert doc["metadata"] == {**metadata, "call_id": doc["metadata"]["call_id"]}
    assert "_attachments" not in doc and "pvt_deleted" not in doc


async def test_create_with_given_fields_uses_the_month_and_timezone_of_the_timestamp(api, couch):
    box = await api.create_box(mailbox="3001", timezone="Asia/Kolkata")
    year, month = previous_month()
    timestamp = gregorian(year, month, 2, 20, 35, 5)  # 02:05:05 on the 3rd in Kolkata (UTC+5:30)
    metadata = await create_message(api, box["id"], timestamp=timestamp, caller_id_number="6001",
                                    caller_id_name="Alice", call_id="call-1", length=4200, folder="saved",
                                    **{"from": "1002", "to": "someone@farfaraway.com"})

    assert metadata["media_id"].startswith(f"{year:04d}{month:02d}-")
    assert {key: metadata[key] for key in ("timestamp", "caller_id_number", "caller_id_name", "call_id",
                                           "length", "folder", "from", "from_user", "from_realm", "to",
                                           "to_user", "to_realm")} == {
        "timestamp": timestamp, "caller_id_number": "6001", "caller_id_name": "Alice", "call_id": "call-1",
        "length": 4200, "folder": "saved", "from": f"1002@{api.realm}", "from_user": "1002",
        "from_realm": api.realm, "to": "someone@farfaraway.com", "to_user": "someone",
        "to_realm": "farfaraway.com"}
    doc = await couch.get(modb(api.account_id, year, month), metadata["media_id"])
    assert doc["name"] == f"mailbox 3001 message {year:04d}-{month:02d}-03 2:5:5"
    assert doc["utc_seconds"] == timestamp
    assert doc["pvt_account_db"] == encoded(modb(api.account_id, year, month))


async def test_create_names_in_utc_when_the_box_timezone_is_unknown(api, couch):
    box = await api.create_box(mailbox="3001", timezone="Nowhere/Atlantis")
    year, month = previous_month()
    metadata = await create_message(api, box["id"], timestamp=gregorian(year, month, 2, 20, 35, 5))
    doc = await stored(couch, api, metadata["media_id"])
    assert doc["name"] == f"mailbox 3001 message {year:04d}-{month:02d}-02 20:35:5 UTC"


async def test_create_coerces_numeric_strings_as_kazoo_does(api):
    box = await api.create_box()
    metadata = await create_message(api, box["id"], length="5000")
    assert metadata["length"] == 5000


@pytest.mark.parametrize("fields, field, rule", [
    ({"folder": "archive"}, "folder", "enum"),
    ({"caller_id_name": "x" * 36}, "caller_id_name", "maxLength"),
    ({"timestamp": "yesterday"}, "timestamp", "type"),
    ({"length": 1.5}, "length", "type"),
    ({"from": 1002}, "from", "type"),
    ({"timestamp": -5}, "timestamp", "minimum"),
    ({"timestamp": gregorian(1969, 12, 31, 23, 59, 59)}, "timestamp", "minimum"),
    ({"timestamp": 10 ** 12}, "timestamp", "maximum"),
])
async def test_create_refuses_invalid_metadata_and_stores_nothing(api, fields, field, rule):
    box = await api.create_box()
    response = await api.put(f"/vmboxes/{box['id']}/messages", json={"data": fields})
    errors = assert_error(response, 400, "validation error")
    assert list(errors) == [field] and rule in errors[field]
    listing = await api.get(f"/vmboxes/{box['id']}/messages")
    assert listing.data == []


async def test_get_answers_the_metadata_with_the_transcription(api, couch):
    box = await api.create_box()
    created = await create_message(api, box["id"], caller_id_number="6001")
    response = await api.get(f"/vmboxes/{box['id']}/messages/{created['media_id']}")
    assert response.status == 200
    assert response.data == created

    doc = await stored(couch, api, created["media_id"])
    doc["transcription"] = {"result": "success", "text": "call me back"}
    await couch.put(modb_of(api, created["media_id"]), doc)
    response = await api.get(f"/vmboxes/{box['id']}/messages/{created['media_id']}")
    assert response.data == {**created, "transcription": {"result": "success", "text": "call me back"}}
    assert "id" not in response.data
    [item] = (await api.get(f"/vmboxes/{box['id']}/messages")).data
    assert item["transcribed"] is True


@pytest.mark.parametrize("start, body, query, folder", [
    ("new", {"data": {"folder": "saved"}}, "", "saved"),
    ("saved", {"data": {"folder": "new"}}, "", "new"),
    ("saved", {"data": {}}, "?folder=new", "new"),
    ("saved", {"folder": "new"}, "", "new"),
    ("new", {"data": {"folder": "saved"}}, "?folder=new", "saved"),
    ("new", {"data": {}}, "", "saved"),
    ("new", None, "", "saved"),
    ("new", {"data": {"folder": "archive"}}, "", "saved"),
    ("new", {"data": {"folder": "deleted"}}, "", "deleted"),
])
async def test_post_changes_the_folder(api, couch, start, body, query, folder):
    box = await api.create_box()
    created = await create_message(api, box["id"], folder=start)
    path = f"/vmboxes/{box['id']}/messages/{created['media_id']}"
    response = await api.post(path + query, json=body)
    assert response.status == 200, response.json
    assert response.data == {**created, "folder": folder}
    doc = await stored(couch, api, created["media_id"])
    assert doc["metadata"]["folder"] == folder
    assert "pvt_deleted" not in doc
    assert (await api.get(path)).data["folder"] == folder


async def test_post_to_deleted_keeps_the_message_listed(api):
    box = await api.create_box()
    created = await create_message(api, box["id"])
    await api.post(f"/vmboxes/{box['id']}/messages/{created['media_id']}", json={"data": {"folder": "deleted"}})
    listing = await api.get(f"/vmboxes/{box['id']}/messages")
    assert [(item["media_id"], item["folder"]) for item in listing.data] == [(created["media_id"], "deleted")]


async def test_delete_soft_deletes_the_message(api, couch):
    box = await api.create_box()
    created = await create_message(api, box["id"], **{"from": "a@b@example.com"})
    path = f"/vmboxes/{box['id']}/messages/{created['media_id']}"
    response = await api.delete(path, json={"data": {}})
    assert response.status == 200, response.json
    assert response.data == {**created, "folder": "deleted"}

    doc = await stored(couch, api, created["media_id"])
    assert doc["pvt_deleted"] is True and doc["metadata"]["folder"] == "deleted"
    assert (await api.get(f"/vmboxes/{box['id']}/messages")).data == []
    again = await api.get(path)
    assert again.status == 200 and again.data["folder"] == "deleted"


async def test_a_message_without_folder_is_given_new_when_fetched(api, couch):
    box = await api.create_box()
    created = await create_message(api, box["id"])
    doc = await stored(couch, api, created["media_id"])
    del doc["metadata"]["folder"]
    await couch.put(modb_of(api, created["media_id"]), doc)

    response = await api.get(f"/vmboxes/{box['id']}/messages/{created['media_id']}")
    assert response.status == 200
    assert response.data["folder"] == "new"
    assert (await stored(couch, api, created["media_id"]))["metadata"]["folder"] == "new"


async def test_a_document_written_by_kazoo_is_served(service, api, couch):
    box = await api.create_box(mailbox="3001")
    timestamp = times_this_month(1)[0]
    audio = audio_bytes("mp3")
    doc = kazoo_message(api, box, timestamp, "vm_message0000000000000000000001", audio)
    await store_doc(service, couch, api, doc)
    message_id = doc["_id"]
    path = f"/vmboxes/{box['id']}/messages/{message_id}"

    response = await api.get(path)
    assert response.status == 200, response.json
    assert response.data == doc["metadata"]

    listing = await api.get(f"/vmboxes/{box['id']}/messages")
    assert [item["media_id"] for item in listing.data] == [message_id]
    assert listing.data[0]["from"] == "1002@hesaam.2600hz.com" and listing.data[0]["length"] == 970
    account_wide = await api.get("/vmboxes/messages")
    assert [list(item) for item in account_wide.data] == [[box["id"]]]

    raw = await api.get(path + "/raw")
    assert raw.status == 200
    assert raw.body == audio
    assert raw.headers["Content-Type"] == "audio/mpeg"
    assert raw.headers["Content-Disposition"].startswith("attachment; filename=10202_")
    assert raw.headers["Content-Disposition"].endswith(".mp3")


async def send(api, method: str, path: str, data: dict | None = None):
    """A request a route would accept if the ids were right: audio for uploads, JSON otherwise."""
    if method == "PUT" and path.endswith("/raw"):
        return await api.put(path, data=audio_bytes("short"), headers={"Content-Type": "audio/wav"})
    return await api.request(method, path, json={"data": data or {}})


BOX_ROUTES = [
    ("GET", "/messages"), ("PUT", "/messages"), ("GET", "/messages/{message}"), ("POST", "/messages/{message}"),
    ("DELETE", "/messages/{message}"), ("GET", "/messages/{message}/raw"), ("PUT", "/messages/{message}/raw"),
]


@pytest.mark.parametrize("method, route", BOX_ROUTES)
@pytest.mark.parametrize("box_id", ["0" * 32, "no-such-box"])
async def test_an_unknown_box_is_404_on_every_message_route(api, method, route, box_id):
    box = await api.create_box()
    created = await create_message(api, box["id"])
    path = f"/vmboxes/{box_id}" + route.format(message=created["media_id"])
    assert_bad_identifier(await send(api, method, path), box_id)


@pytest.mark.parametrize("method, route", BOX_ROUTES[2:])
async def test_a_deleted_box_is_404_on_message_routes(api, method, route):
    box = await api.create_box()
    created = await create_message(api, box["id"])
    assert (await api.delete(f"/vmboxes/{box['id']}")).status == 200
    path = f"/vmboxes/{box['id']}" + route.format(message=created["media_id"])
    assert_bad_identifier(await send(api, method, path), box["id"])


MESSAGE_ROUTES = [("GET", ""), ("POST", ""), ("DELETE", ""), ("GET", "/raw"), ("PUT", "/raw")]


@pytest.mark.parametrize("method, suffix", MESSAGE_ROUTES)
async def test_a_message_of_another_box_is_404_and_unchanged(api, couch, method, suffix):
    owner, other = await api.create_box(), await api.create_box()
    created = await create_message(api, owner["id"])
    before = await stored(couch, api, created["media_id"])
    response = await send(api, method, f"/vmboxes/{other['id']}/messages/{created['media_id']}{suffix}",
                          {"folder": "saved"})
    assert_bad_identifier(response, created["media_id"])
    assert await stored(couch, api, created["media_id"]) == before


@pytest.mark.parametrize("method, suffix", MESSAGE_ROUTES)
async def test_a_message_of_another_account_is_404(api, new_account, method, suffix):
    other = await new_account("Other")
    other_box = await other.create_box()
    created = await create_message(other, other_box["id"])
    box = await api.create_box()
    response = await send(api, method, f"/vmboxes/{box['id']}/messages/{created['media_id']}{suffix}")
    assert_bad_identifier(response, created["media_id"])


async def test_a_message_stored_with_another_account_id_is_404(service, api, new_account, couch):
    other = await new_account("Other")
    box = await api.create_box()
    doc = kazoo_message(api, box, times_this_month(1)[0], "f" * 32)
    doc["pvt_account_id"] = other.account_id
    await store_doc(service, couch, api, doc)
    assert_bad_identifier(await api.get(f"/vmboxes/{box['id']}/messages/{doc['_id']}"), doc["_id"])


@pytest.mark.parametrize("method, suffix", MESSAGE_ROUTES)
async def test_a_document_of_another_type_is_404_and_unchanged(service, api, couch, method, suffix):
    box = await api.create_box()
    year, month = this_month()
    doc = {"_id": f"{year:04d}{month:02d}-{'a' * 32}", "pvt_type": "cdr", "source_id": box["id"],
           "metadata": {"folder": "new"}}
    await store_doc(service, couch, api, doc)
    response = await send(api, method, f"/vmboxes/{box['id']}/messages/{doc['_id']}{suffix}")
    assert_bad_identifier(response, doc["_id"])
    assert (await stored(couch, api, doc["_id"]))["_rev"] == doc["_rev"]


@pytest.mark.parametrize("message_id", [
    MISSING_MESSAGE, "not-a-message", "202613-" + "0" * 32, "2026-" + "0" * 32, "0" * 32,
    "202611-" + "0" * 31 + "%2F",
])
@pytest.mark.parametrize("method, suffix", MESSAGE_ROUTES)
async def test_a_missing_or_malformed_message_id_is_404(api, method, suffix, message_id):
    box = await api.create_box()
    response = await send(api, method, f"/vmboxes/{box['id']}/messages/{message_id}{suffix}")
    assert response.status == 404, response.json
    assert response.json["message"] == "bad_identifier"
