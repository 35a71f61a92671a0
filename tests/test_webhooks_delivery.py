"""Events from CouchDB's change feeds delivered to a real HTTP receiver: through the API and written straight
into CouchDB the way Kazoo writes them; retries, auto-disable and re-enable; signatures. The API is served
by the session service (events off); the events come from an instance of their own started here."""
from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from urllib.parse import parse_qs

import aiohttp
import pytest
from aiohttp import web

from kazoo_vm.http.app import make_app
from kazoo_vm.http.webhooks import WEBHOOKS
from kazoo_vm.devtools.local_couch import free_port
from kazoo_vm.storage.dbnames import gregorian_now, modb, year_month
from kazoo_vm.webhooks import signing

from message_helpers import audio_bytes, create_modb, kazoo_message, modb_of, upload_message
from webhook_helpers import Receiver, delete_events_state, delete_hooks

FAST = dict(events=True, events_poll_seconds=0.3, webhook_backoff=0.2, webhook_timeout=2.0,
            webhook_failure_count=4, webhook_failure_window=60.0)


@pytest.fixture
async def events_instance(settings, api):
    """An instance with events on; yields its app and its URL. It needs `api` so that it stops before the
    account's cleanup deletes the checkpoints it may still be moving (a conflict, seen on the cluster)."""
    port = free_port()
    runner = web.AppRunner(make_app(replace(settings, port=port, **FAST)), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield runner.app, f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def events_app(events_instance):
    return events_instance[0]


@pytest.fixture
async def receiver():
    receiver = await Receiver().start()
    yield receiver
    await receiver.stop()


@pytest.fixture
async def api(new_account, couch):
    account = await new_account()
    yield account
    await delete_hooks(couch, [account.account_id])
    await delete_events_state(couch, account.account_id)
    await couch.db_delete(modb(account.account_id, *year_month(gregorian_now())))


async def followed(app, account_id: str, timeout: float = 45.0, hooks: int = 1) -> None:
    """Wait until the instance follows the account's databases and has its hooks (a new hook takes effect)."""
    pipeline, hookset = app[WEBHOOKS].pipeline, app[WEBHOOKS].hookset
    deadline = asyncio.get_running_loop().time() + timeout
    mine = lambda: [hook for hook in hookset.hooks.values() if hook["pvt_account_id"] == account_id]  # noqa: E731
    while account_id not in pipeline.initialized or len(mine()) < hooks:
        assert asyncio.get_running_loop().time() < deadline, (app[WEBHOOKS].status(), pipeline.watched(),
                                                              pipeline.initialized)
        await asyncio.sleep(0.05)


async def add_hook(api, receiver: Receiver, **fields) -> dict:
    data = {"name": "test", "uri": receiver.url, "hook": "object", "format": "json", **fields}
    response = await api.put("/webhooks", json={"data": data})
    assert response.status == 201, response.json
    return response.data


def body(item) -> dict:
    return json.loads(item.body)


async def test_a_message_through_the_api_raises_created_new_saved_edited_deleted(events_app, api, receiver):
    await add_hook(api, receiver)
    await add_hook(api, receiver, hook="notifications")
    await followed(events_app, api.account_id, hooks=2)
    box = await api.create_box()
    response = await upload_message(api, box["id"], metadata={"caller_id_number": "6001"})
    message_id = response.data["media_id"]
    for_message = lambda item: message_id in (body(item).get("id"), body(item).get("voicemail_id"))  # noqa: E731
    got = await receiver.wait_for(3, where=for_message)
    names = [body(item).get("action") or body(item)["event_name"] for item in got]
    assert names[0] == "doc_created" and set(names) == {"doc_created", "voicemail_new", "voicemail_saved"}, names
    new = next(body(item) for item in got if body(item).get("event_name") == "voicemail_new")
    assert new["voicemail_box"] == box["id"] and new["caller_id_number"] == "6001"
    assert new["account_id"] == api.account_id and new["voicemail_length"] > 0
    created = next(item for item in got if body(item).get("action") == "doc_created")
    assert body(created) == {"id": message_id, "account_id": api.account_id, "action": "doc_created",
                             "type": "mailbox_message", "event_id": created.headers["X-Kazoo-VM-Event-ID"]}
    assert created.headers["X-Account-ID"] == api.account_id and created.headers["X-Hook-ID"]
    assert created.headers["Content-Type"] == "application/json"

    await api.post(f"/vmboxes/{box['id']}/messages/{message_id}", json={"data": {"folder": "saved"}})
    edited = await receiver.wait_for(4, where=for_message)
    assert body(edited[3])["action"] == "doc_edited", [body(item) for item in edited]
    await api.delete(f"/vmboxes/{box['id']}/messages/{message_id}")
    deleted = await receiver.wait_for(5, where=for_message)
    assert body(deleted[4])["action"] == "doc_deleted"

    await api.patch(f"/vmboxes/{box['id']}", json={"data": {"name": "Renamed"}})
    boxes = await receiver.wait_for(2, where=lambda item: body(item).get("id") == box["id"])
    assert [body(item)["action"] for item in boxes] == ["doc_created", "doc_edited"]
    assert all(body(item)["type"] == "vmbox" for item in boxes)
    await asyncio.sleep(1.0)
    ids = [item.headers["X-Kazoo-VM-Event-ID"] for item in receiver.received]
    assert len(ids) == len(set(ids)), "an event was delivered twice"


async def test_a_message_written_straight_into_couchdb_as_kazoo_writes_it_raises_voicemail_new(
        events_app, api, receiver, service, couch):
    hook = await add_hook(api, receiver, hook="notifications", format="form-data",
                          custom_data={"type": "voicemail_new"})
    box = await api.create_box()
    now = gregorian_now()
    await create_modb(service, api, *year_month(now))
    await followed(events_app, api.account_id)
    doc = kazoo_message(api, box, now, "ab" * 16)
    await couch.put(modb_of(api, doc["_id"]), doc)  # kvm_message: the document first ...
    await couch.put_attachment(modb_of(api, doc["_id"]), doc["_id"], doc["_rev"], "ab.mp3", "audio/mpeg",
                               audio_bytes("mp3"))  # ... then FreeSWITCH stores the recording
    got = await receiver.wait_for(1)
    assert len(got) == 1
    form = {key: values[0] for key, values in parse_qs(got[0].body.decode()).items()}
    assert got[0].headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form["event_name"] == "voicemail_new" and form["voicemail_id"] == doc["_id"]
    assert form["type"] == "voicemail_new"  # custom_data merged over the payload, as Kazoo does
    assert form["caller_id_number"] == "10202" and form["voicemail_box"] == box["id"]
    assert got[0].headers["X-Hook-ID"] == hook["id"]
    await asyncio.sleep(1.0)
    assert len(receiver.received) == 1, "voicemail_saved is not a voicemail_new; nothing else matches"


async def test_a_message_in_a_database_made_before_the_account_is_followed_is_not_lost(
        events_app, api, receiver, service, couch):
    """The instance learns of an account's first hook within seconds; a monthly database made since the
    instance started is read from its start then, so what was stored meanwhile is reported. (In most runs the
    database and the message come before the account is followed; when the instance is quicker, the database is
    a new one it follows from its start: the message must be reported either way.)"""
    await add_hook(api, receiver, hook="notifications", format="json", custom_data={"type": "voicemail_new"})
    box = await api.create_box()
    now = gregorian_now()
    await create_modb(service, api, *year_month(now))
    doc = kazoo_message(api, box, now, "cd" * 16)
    await couch.put(modb_of(api, doc["_id"]), doc)
    await couch.put_attachment(modb_of(api, doc["_id"]), doc["_id"], doc["_rev"], "cd.mp3", "audio/mpeg",
                               audio_bytes("mp3"))
    got = await receiver.wait_for(1)
    assert [(body(item)["event_name"], body(item)["voicemail_id"]) for item in got] == [("voicemail_new", doc["_id"])]


async def test_changes_through_the_instance_are_each_reported_however_fast_they_follow(events_instance, api,
                                                                                      receiver):
    """A folder change and a delete sent while the month's feed is busy (a slow receiver holds its read): the
    feed then shows only the newest revision, the delete. Written through the instance that reports the
    account, every revision is handed over at the lifecycle point: doc_edited, then doc_deleted, once each."""
    app, url = events_instance
    through = replace(api, base=url)
    await add_hook(api, receiver)
    await followed(app, api.account_id)
    box = await through.create_box()
    message_id = (await upload_message(through, box["id"])).data["media_id"]
    await receiver.wait_for(1, where=lambda item: body(item).get("id") == message_id)
    receiver.delay = 1.5
    await upload_message(through, box["id"])  # its doc_created holds the feed of the month for 1.5 s
    assert (await through.post(f"/vmboxes/{box['id']}/messages/{message_id}",
                               json={"data": {"folder": "saved"}})).status == 200
    assert (await through.delete(f"/vmboxes/{box['id']}/messages/{message_id}")).status == 200
    receiver.delay = 0.0
    await receiver.wait_for(3, where=lambda item: body(item).get("id") == message_id, timeout=10)
    await asyncio.sleep(1.0)
    actions = [body(item)["action"] for item in receiver.received if body(item).get("id") == message_id]
    assert actions == ["doc_created", "doc_edited", "doc_deleted"], actions


async def test_a_moved_message_is_not_a_new_voicemail(events_app, api, receiver):
    await add_hook(api, receiver, hook="all")
    await followed(events_app, api.account_id)
    box, other = await api.create_box(), await api.create_box()
    message_id = (await upload_message(api, box["id"])).data["media_id"]
    await receiver.wait_for(1, where=lambda item: body(item).get("event_name") == "voicemail_new")
    before = len(receiver.received)
    moved = await api.post(f"/vmboxes/{box['id']}/messages/{message_id}", json={"data": {"source_id": other["id"]}})
    assert moved.status == 200, moved.json
    new_id = moved.data["media_id"]
    got = await receiver.wait_for(before + 2, where=lambda item: True)
    await asyncio.sleep(1.0)
    after = [body(item) for item in receiver.received[before:]]
    assert {"id": new_id, "action": "doc_created"}.items() <= next(
        item for item in after if item.get("id") == new_id).items()
    assert any(item.get("id") == message_id and item.get("action") == "doc_deleted" for item in after), after
    assert not any(item.get("event_name") == "voicemail_new" for item in after), after


async def test_receiver_down_then_up_gets_it_after_retries(events_app, api, receiver):
    await add_hook(api, receiver, retries=4)
    await followed(events_app, api.account_id)
    await receiver.stop()
    box = await api.create_box()
    await asyncio.sleep(1.0)  # the first tries meet a closed port
    await receiver.start()
    got = await receiver.wait_for(1, where=lambda item: body(item).get("id") == box["id"])
    assert body(got[0])["action"] == "doc_created"
    attempts = (await api.get("/webhooks/attempts")).data
    assert attempts and all(item["result"] == "failure" for item in attempts)
    assert attempts[0]["client_error"] and attempts[0]["event_id"] == got[0].headers["X-Kazoo-VM-Event-ID"]


async def test_a_receiver_that_always_fails_is_disabled_listed_and_can_be_re_enabled(events_app, api, receiver):
    receiver.status = 500
    hook = await add_hook(api, receiver, retries=4)
    await followed(events_app, api.account_id)
    box = await api.create_box()
    await receiver.wait_for(4)
    for _ in range(100):
        shown = (await api.get(f"/webhooks/{hook['id']}")).data
        if shown["enabled"] is False:
            break
        await asyncio.sleep(0.1)
    assert shown["enabled"] is False and shown["disable_reason"] == "too many failed attempts"
    attempts = (await api.get(f"/webhooks/{hook['id']}/attempts")).data
    assert len(attempts) == 4 and {item["resp_status_code"] for item in attempts} == {"500"}
    assert all(item["result"] == "failure" and item["hook_id"] == hook["id"] for item in attempts)
    assert len(receiver.received) == 4  # nothing after it was disabled
    receiver.status = 204  # any 2xx is success
    assert (await api.patch("/webhooks", json={"data": {"re-enable": True}})).status == 200
    await asyncio.sleep(1.5)  # the re-enabled hook reaches the instance
    await api.patch(f"/vmboxes/{box['id']}", json={"data": {"name": "Again"}})
    got = await receiver.wait_for(5)
    assert body(got[4])["action"] == "doc_edited"


async def test_deliveries_are_signed_when_the_hook_has_a_secret(events_app, api, receiver):
    secret = "a-secret-of-at-least-16-chars"
    await add_hook(api, receiver, signing_secret=secret, http_verb="put")
    await followed(events_app, api.account_id)
    await api.create_box()
    got = await receiver.wait_for(1)
    assert got[0].method == "PUT"
    assert signing.verify(secret, got[0].headers["X-Kazoo-VM-Signature"], got[0].body)
    assert not signing.verify("another-secret-of-16-chars", got[0].headers["X-Kazoo-VM-Signature"], got[0].body)


async def test_get_hooks_send_the_payload_as_a_query_string(events_app, api, receiver):
    await add_hook(api, receiver, http_verb="get", custom_data={"type": "vmbox", "action": "doc_created"})
    await followed(events_app, api.account_id)
    box = await api.create_box()
    got = await receiver.wait_for(1)
    assert got[0].method == "GET" and got[0].query["id"] == box["id"] and got[0].query["type"] == "vmbox"


async def test_health_reports_the_pipeline(events_app):
    port = events_app[WEBHOOKS].settings.port
    for _ in range(100):
        if events_app[WEBHOOKS].status()["partitions"]:
            break
        await asyncio.sleep(0.1)
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/v2/health") as response:
        assert response.status == 200
        events = (await response.json())["data"]["events"]
    assert events["running"] is True and events["mode"] in ("poll", "db_updates")
    assert events["oldest_undelivered_seconds"] >= 0 and events["partitions"]


async def test_an_operator_can_refuse_loopback_and_private_receivers(settings, api, receiver, couch):
    """KAZOO_VM_WEBHOOK_REFUSE_PRIVATE: refused when a hook is saved, and at delivery (a hook written before)."""
    port = free_port()
    strict = replace(settings, port=port, webhook_refuse_private=True, **FAST)
    runner = web.AppRunner(make_app(strict), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        base = api.base
        api.base = f"http://127.0.0.1:{port}"
        for uri in (receiver.url, "http://10.1.2.3/x", "http://localhost:9/x", "http://[::1]:9/x"):
            refused = await api.put("/webhooks", json={"data": {"name": "x", "uri": uri, "hook": "object"}})
            assert refused.status == 400 and "forbidden" in refused.data["uri"], (uri, refused.json)
        public = {"name": "x", "uri": "https://example.com/", "hook": "object",
                  "custom_data": {"type": "user", "action": "doc_deleted"}}  # allowed; never fires here
        assert (await api.put("/webhooks", json={"data": public})).status == 201
        api.base = base
        hook = await add_hook(api, receiver)  # saved through an instance that allows it
        await followed(runner.app, api.account_id, hooks=2)
        await api.create_box()
        for _ in range(100):
            attempts = (await api.get(f"/webhooks/{hook['id']}/attempts")).data
            if attempts:
                break
            await asyncio.sleep(0.1)
        assert attempts[0]["result"] == "failure" and "refused" in attempts[0]["reason"], attempts
        assert receiver.received == []
    finally:
        await runner.cleanup()


async def test_a_message_written_through_an_instance_is_read_at_once_from_the_lifecycle_point(
        settings, api, receiver):
    """With a poll interval far longer than the wait, a message created through the instance's own API still
    reaches the receiver at once: the lifecycle point has its database read right after the write."""
    port = free_port()
    slow = replace(settings, port=port, **{**FAST, "events_poll_seconds": 60.0})
    runner = web.AppRunner(make_app(slow), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await add_hook(api, receiver, hook="notifications", custom_data={"type": "voicemail_new"})
        await followed(runner.app, api.account_id)
        box = await api.create_box()
        await asyncio.sleep(1.0)  # the first poll (at start) is long done
        api.base = f"http://127.0.0.1:{port}"
        created = await upload_message(api, box["id"])
        assert created.status == 201, created.json
        got = await receiver.wait_for(1, timeout=15)
        assert len(got) == 1 and body(got[0])["voicemail_id"] == created.data["media_id"]
    finally:
        await runner.cleanup()
