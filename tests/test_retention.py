"""Retention (docs/kazoo-behaviour.md §7): messages older than the window are shown as deleted with
`retention: "enforced"`, and no change to them is allowed."""
from __future__ import annotations

import dataclasses

import pytest
from aiohttp import web

from kazoo_vm.http.app import make_app
from kazoo_vm.devtools.local_couch import free_port
from kazoo_vm.storage.dbnames import gregorian_now
from message_helpers import (assert_error, audio_bytes, create_message, gregorian, kazoo_message, store_doc,
                             stored, upload_message)

DAY = 86400
RETENTION = 93 * DAY + 3600
RETENTION_MESSAGE = "this message is prior to retention policy, no update operation is permitted"
ENFORCED = {"folder": "deleted", "retention": "enforced", "retention_message": RETENTION_MESSAGE}


def around(timestamp: int) -> str:
    """A listing window (at most 31 days) that holds the timestamp."""
    return f"created_from={timestamp - DAY}&created_to={timestamp + DAY}"


async def old_message(api, box: dict, age: int = 100 * DAY, **fields) -> dict:
    response = await upload_message(api, box["id"], "short", {"timestamp": gregorian_now() - age, **fields})
    assert response.status == 201, response.json
    return response.data


async def test_an_old_message_is_listed_only_in_a_wider_window_and_enforced(api, couch):
    box = await api.create_box()
    old = await old_message(api, box, folder="saved")
    recent = await create_message(api, box["id"])
    path = f"/vmboxes/{box['id']}/messages"

    default = await api.get(path)
    assert [item["media_id"] for item in default.data] == [recent["media_id"]]
    widened = await api.get(f"{path}?{around(old['timestamp'])}")
    [item] = widened.data
    assert item["media_id"] == old["media_id"] and {key: item[key] for key in ENFORCED} == ENFORCED
    account_wide = await api.get(f"/vmboxes/messages?{around(old['timestamp'])}")
    assert account_wide.data == [{box["id"]: item}]

    fetched = await api.get(f"{path}/{old['media_id']}")
    assert fetched.status == 200
    assert fetched.data == {**old, **ENFORCED}
    assert (await stored(couch, api, old["media_id"]))["metadata"]["folder"] == "saved"


async def test_an_old_message_is_not_counted(api):
    box = await api.create_box()
    await old_message(api, box)
    [row] = (await api.get("/vmboxes")).data
    assert row["messages"] == 0 and "folders" not in row


async def test_the_audio_of_an_old_message_can_still_be_downloaded(api):
    box = await api.create_box()
    old = await old_message(api, box)
    response = await api.get(f"/vmboxes/{box['id']}/messages/{old['media_id']}/raw")
    assert response.status == 200 and response.body == audio_bytes("short")


@pytest.mark.parametrize("method, suffix, kwargs", [
    ("POST", "", {"json": {"data": {"folder": "new"}}}),
    ("DELETE", "", {"json": {"data": {}}}),
    ("PUT", "/raw", {"data": audio_bytes("mp3"), "headers": {"Content-Type": "audio/mpeg"}}),
])
async def test_an_old_message_cannot_be_changed(api, couch, method, suffix, kwargs):
    box = await api.create_box()
    old = await old_message(api, box)
    before = await stored(couch, api, old["media_id"])
    asked_at = gregorian_now()
    response = await api.request(method, f"/vmboxes/{box['id']}/messages/{old['media_id']}{suffix}", **kwargs)
    data = assert_error(response, 400, "validation error")
    error = data[old["media_id"]]["date_range"]
    assert error["message"] == "cannot make changes to messages prior to retention duration"
    assert asked_at - RETENTION <= error["cause"] <= gregorian_now() - RETENTION
    assert await stored(couch, api, old["media_id"]) == before


@pytest.mark.parametrize("age, prior", [(93 * DAY, False), (RETENTION - 60, False), (RETENTION + 60, True)])
async def test_the_retention_window_is_93_days_and_an_hour(api, age, prior):
    box = await api.create_box()
    message = await create_message(api, box["id"], timestamp=gregorian_now() - age)
    fetched = (await api.get(f"/vmboxes/{box['id']}/messages/{message['media_id']}")).data
    assert (fetched.get("retention") == "enforced") is prior
    listed = (await api.get(f"/vmboxes/{box['id']}/messages?{around(message['timestamp'])}")).data
    assert [item.get("retention") for item in listed] == ["enforced" if prior else None]
    response = await api.post(f"/vmboxes/{box['id']}/messages/{message['media_id']}",
                              json={"data": {"folder": "saved"}})
    assert response.status == (400 if prior else 200)


async def test_a_kazoo_document_from_2017_is_served_as_enforced(service, api, couch):
    box = await api.create_box(mailbox="3001")
    timestamp = gregorian(2017, 10, 2, 21, 0, 19)
    doc = kazoo_message(api, box, timestamp, "vm_message0000000000000000000001", audio_bytes("mp3"))
    await store_doc(service, couch, api, doc)
    path = f"/vmboxes/{box['id']}/messages"

    [item] = (await api.get(f"{path}?{around(timestamp)}")).data
    assert item == {key: doc["metadata"][key] for key in ("call_id", "caller_id_name", "caller_id_number",
                                                          "from", "length", "media_id", "timestamp", "to")} | ENFORCED
    assert (await api.get(f"{path}/{doc['_id']}")).data == {**doc["metadata"], **ENFORCED}
    raw = await api.get(f"{path}/{doc['_id']}/raw")
    assert raw.body == audio_bytes("mp3")
    assert raw.headers["Content-Disposition"] == "attachment; filename=10202_2017-10-02_21:00:19.mp3"
    assert_error(await api.delete(f"{path}/{doc['_id']}"), 400, "validation error")


async def test_a_window_over_months_without_databases_is_empty(api):
    box = await api.create_box()
    response = await api.get(f"/vmboxes/{box['id']}/messages?{around(gregorian(2015, 3, 1))}")
    assert response.status == 200 and response.data == []


@pytest.fixture
async def short_retention(settings, service):
    """The app again, on another port, with KAZOO_VM_RETENTION_DAYS=30."""
    short = dataclasses.replace(settings, retention_days=30, port=free_port())
    runner = web.AppRunner(make_app(short), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", short.port).start()
    yield f"http://127.0.0.1:{short.port}"
    await runner.cleanup()


async def test_the_retention_is_configurable(api, short_retention):
    box = await api.create_box()
    message = await create_message(api, box["id"], timestamp=gregorian_now() - 40 * DAY)
    path = f"/vmboxes/{box['id']}/messages/{message['media_id']}"
    assert "retention" not in (await api.get(path)).data
    short_api = dataclasses.replace(api, base=short_retention)
    assert (await short_api.get(path)).data == {**message, **ENFORCED}
    assert (await short_api.get(f"/vmboxes/{box['id']}/messages")).data == []
    assert_error(await short_api.post(path, json={"data": {}}), 400, "validation error")
