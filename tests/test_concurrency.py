"""Concurrency (docs/architecture.md, promises): simultaneous writes lose nothing and never leave a message twice.

Requests go to two instances of the service on the same CouchDB (as a deployment with several processes
has them), so what keeps them apart is CouchDB's revisions, not a lock inside one process.
tests/test_vmboxes.py already sends 20 PATCHes to one instance.
"""
from __future__ import annotations

import asyncio
import secrets
from dataclasses import replace

import pytest
from aiohttp import web

from kazoo_vm.http.app import make_app
from kazoo_vm.devtools.local_couch import free_port
from kazoo_vm.storage import NotFound, is_db_missing
from kazoo_vm.storage.dbnames import account_db, modb
from kazoo_vm.voicemail.service import Voicemail
from bulk_helpers import audio_message
from message_helpers import create_message, previous_month, this_month


@pytest.fixture
async def twin(service, settings, new_account):
    """A second instance of the service on the same CouchDB; `twin(api)` is that account's client on it."""
    _, voicemail = service
    other = Voicemail(replace(settings, port=free_port()))
    runner = web.AppRunner(make_app(other.settings, other), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", other.settings.port).start()
    yield lambda api: replace(api, base=f"http://127.0.0.1:{other.settings.port}")
    await runner.cleanup()


def both(api, twin, count: int) -> list:
    """`count` clients of the account, alternating between the two instances."""
    return [api if index % 2 == 0 else twin(api) for index in range(count)]


async def all_docs(couch, db: str) -> dict[str, dict]:
    """Every live document of a database ({} when it does not exist)."""
    try:
        result = await couch.request("GET", db.replace("/", "%2F") + "/_all_docs", params={"include_docs": "true"})
    except NotFound as error:
        assert is_db_missing(error)
        return {}
    return {row["id"]: row["doc"] for row in result["rows"] if not row["id"].startswith("_design/")}


# --- boxes ------------------------------------------------------------------------------------------------

async def test_simultaneous_patches_on_two_instances_keep_every_key(api, twin, couch):
    box = await api.create_box()
    clients = both(api, twin, 20)
    responses = await asyncio.gather(*(client.patch(f"/vmboxes/{box['id']}", json={"data": {f"key_{n}": n}})
                                       for n, client in enumerate(clients)))
    assert [response.status for response in responses] == [200] * 20, [r.json for r in responses if r.status != 200]
    stored = await couch.get(account_db(api.account_id), box["id"])
    assert {n: stored.get(f"key_{n}") for n in range(20)} == {n: n for n in range(20)}
    assert stored["name"] == box["name"] and stored["mailbox"] == box["mailbox"]


@pytest.mark.parametrize("instances", [1, 2], ids=["one", "two instances"])
@pytest.mark.parametrize("spellings", [["4242"], ["4242", "04242", "004242"]], ids=["same", "as numbers"])
async def test_parallel_creates_of_one_mailbox_let_exactly_one_succeed(api, twin, couch, spellings, instances):
    clients = both(api, twin, 10) if instances == 2 else [api] * 10
    responses = await asyncio.gather(*(
        client.put("/vmboxes", json={"data": {"name": f"Box {n}", "mailbox": spellings[n % len(spellings)]}})
        for n, client in enumerate(clients)))
    created = [response for response in responses if response.status == 201]
    assert len(created) == 1, [response.json for response in responses]
    for response in responses:
        if response.status != 201:
            assert response.status == 400 and response.json["message"] == "validation error", response.json
            assert response.data == {"mailbox": {"unique": {"message": "Invalid mailbox number or already exists"}}}
    boxes = [doc for doc in (await all_docs(couch, account_db(api.account_id))).values()
             if doc.get("pvt_type") == "vmbox"]
    assert [doc["_id"] for doc in boxes] == [created[0].data["id"]]


# --- messages ---------------------------------------------------------------------------------------------

async def test_racing_folder_changes_moves_and_deletes_leave_each_message_exactly_once(api, twin, couch):
    home, left, right = await api.create_box(), await api.create_box(), await api.create_box()
    calls = [f"race-{n}-{secrets.token_hex(4)}" for n in range(8)]
    originals = [(await create_message(api, home["id"], call_id=call_id))["media_id"] for call_id in calls[:6]]
    originals += [await audio_message(api, home["id"], call_id=call_id) for call_id in calls[6:]]
    at = f"/vmboxes/{home['id']}/messages"
    everything = {"messages": originals}
    operations = [  # (method, path, body): bulk and single, each sent to one of the two instances
        ("POST", at, {**everything, "folder": "saved"}),
        ("POST", at, {**everything, "source_id": left["id"]}),
        ("POST", at, {**everything, "folder": "new"}),
        ("POST", at, {**everything, "source_id": right["id"]}),
        ("DELETE", at, {"messages": originals[::2]}),
        ("POST", at, {"messages": originals[1::2], "source_id": left["id"]}),
        ("DELETE", at, {"folder": "saved"}),
        *[("POST", f"{at}/{message_id}", {"source_id": (left, right)[n % 2]["id"]})
          for n, message_id in enumerate(originals[:4])],
        *[("POST", f"{at}/{message_id}", {"folder": "saved"}) for message_id in originals[4:]],
        *[("DELETE", f"{at}/{message_id}", {}) for message_id in originals[2:6]],
    ]
    clients = both(api, twin, len(operations))
    responses = await asyncio.gather(*(client.request(method, path, json={"data": body})
                                       for client, (method, path, body) in zip(clients, operations)))

    reported_moves: set[str] = set()
    for (method, path, body), response in zip(operations, responses):
        assert response.status in (200, 404, 409), (method, path, body, response.json)
        assert response.headers["Content-Type"] == "application/json"
        if response.status == 200 and "source_id" in body:
            data = response.data
            reported_moves |= set(data["succeeded"]) if "succeeded" in data else {data["media_id"]}

    months = {previous_month(), this_month()}
    docs = {}
    for year, month in months:
        docs.update(await all_docs(couch, modb(api.account_id, year, month)))
    by_call: dict[str, list[dict]] = {call_id: [] for call_id in calls}
    for doc in docs.values():
        by_call.setdefault(doc["metadata"]["call_id"], []).append(doc)
    assert set(by_call) == set(calls), "no message appeared from nowhere"
    copies = set()
    for call_id, original in zip(calls, originals):
        [doc] = by_call[call_id]  # never zero, never twice
        folder = doc["metadata"]["folder"]
        if doc["_id"] == original:
            assert doc["source_id"] == home["id"] and folder in ("new", "saved", "deleted"), doc
            assert not doc.get("pvt_deleted") or folder == "deleted", doc
        else:
            copies.add(doc["_id"])
            assert doc["source_id"] in (left["id"], right["id"]) and folder == "new", doc
            assert doc["metadata"]["media_id"] == doc["_id"] and doc["history"] == [home["id"]], doc
            assert "pvt_moved_to" not in doc and not doc.get("pvt_deleted"), doc
            assert bool(doc.get("_attachments")) == (call_id in calls[6:]), "the audio moved with the message"
    assert copies == reported_moves, "every move that answered success holds the message, and only those"
    for box in (home, left, right):
        listed = await api.get(f"/vmboxes/{box['id']}/messages?paginate=false")
        expected = {doc["_id"] for doc in docs.values() if doc["source_id"] == box["id"] and not doc.get("pvt_deleted")}
        assert {item["media_id"] for item in listed.data} == expected
