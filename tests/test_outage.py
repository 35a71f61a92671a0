"""CouchDB stops while the service is busy (docs/architecture.md, promises): every request answers 503 with a
Crossbar error within the configured timeout, never hangs and never 500s; `GET /v2/health` says `down`;
and once CouchDB is back the same app serves again by itself.

Each test runs its own PouchDB Server (data on disk, so a new process on the same port finds it again) and
its own app with a short CouchDB timeout, and stops that server with SIGSTOP (it hangs) or SIGTERM (it is
gone: connections are refused). The `asyncio.wait_for` bounds are safety nets against a hang, not timings.
"""
from __future__ import annotations

import asyncio
import os
import secrets
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web

from conftest import SECRET, Api
from kazoo_vm.config import Settings
from kazoo_vm.http.app import make_app
from kazoo_vm.http.tokens import issue
from kazoo_vm.devtools.local_couch import LocalCouch, free_port
from kazoo_vm.storage import CouchClient, Unavailable
from kazoo_vm.voicemail.service import Voicemail
from message_helpers import audio_bytes, kazoo_message, modb_of, multipart, times_this_month

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(os.environ.get("KAZOO_VM_COUCHDB_URL")),
                                reason="stops and restarts the CouchDB process, so it needs a PouchDB Server of its "
                                       "own; KAZOO_VM_COUCHDB_URL names a shared server")]

TIMEOUT = 2.0
BOUND = 5 * TIMEOUT  # a safety net against a hang, not a timing assertion
BIG_AUDIO = 16 * 1024 * 1024  # more than the socket buffers between CouchDB, the app and the client hold


@dataclass
class Stack:
    couch: LocalCouch
    direct: CouchClient
    voicemail: Voicemail
    api: Api
    box: dict
    message_id: str

    def hang(self) -> None:
        os.kill(self.couch.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.couch.process.pid, signal.SIGCONT)


@pytest.fixture
async def stack(tmp_path):
    """A PouchDB Server of its own, an app with a short timeout on it, an account, a box and a message."""
    couch = LocalCouch(port=free_port(), data_dir=tmp_path / "couch")
    couch.start()
    settings = Settings(couchdb_url=couch.url, secret=SECRET, couch_timeout=TIMEOUT, port=free_port())
    voicemail = Voicemail(settings)
    runner = web.AppRunner(make_app(settings, voicemail), access_log=None)
    direct = CouchClient(couch.url)
    try:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", settings.port).start()
        async with aiohttp.ClientSession() as session:
            account, api_key = await voicemail.accounts.create("Outage")
            api = Api(f"http://127.0.0.1:{settings.port}", session, account.id, issue(SECRET, account.id, 3600),
                      api_key, account.realm)
            box = await api.create_box()
            created = await api.put(f"/vmboxes/{box['id']}/messages",
                                    data=multipart("mixed", {}, [(audio_bytes("short"), "audio/wav")]))
            assert created.status == 201, created.json
            yield Stack(couch, direct, voicemail, api, box, created.data["media_id"])
    finally:
        if couch.process is not None:
            os.kill(couch.process.pid, signal.SIGCONT)
        await direct.close()
        await runner.cleanup()
        couch.stop()


Call = Callable[[Stack], Awaitable]


def _box(stack: Stack) -> str:
    return f"/vmboxes/{stack.box['id']}"


def _message(stack: Stack) -> str:
    return f"{_box(stack)}/messages/{stack.message_id}"


# Every route family, as the clients call them.
CALLS: dict[str, Call] = {
    "list boxes": lambda s: s.api.get("/vmboxes"),
    "one box": lambda s: s.api.get(_box(s)),
    "create box": lambda s: s.api.put("/vmboxes", json={"data": {"name": "New", "mailbox": secrets.token_hex(4)}}),
    "patch box": lambda s: s.api.patch(_box(s), json={"data": {"name": "Renamed"}}),
    "list messages": lambda s: s.api.get(f"{_box(s)}/messages"),
    "account messages": lambda s: s.api.get("/vmboxes/messages"),
    "one message": lambda s: s.api.get(_message(s)),
    "raw audio": lambda s: s.api.get(f"{_message(s)}/raw?auth_token={s.api.token}", token=None),
    "create message": lambda s: s.api.put(f"{_box(s)}/messages",
                                          data=multipart("mixed", {}, [(audio_bytes("short"), "audio/wav")])),
    "bulk folder": lambda s: s.api.post(f"{_box(s)}/messages",
                                        json={"data": {"messages": [s.message_id], "folder": "saved"}}),
    "zip": lambda s: s.api.post(f"{_box(s)}/messages/raw", json={"data": {"messages": [s.message_id]}}),
    "api_auth": lambda s: s.api.put("/v2/api_auth", json={"data": {"api_key": s.api.api_key}}, token=None),
}


async def answered(call: Awaitable):
    """The answer of a request, which must come (the bound is a safety net)."""
    return await asyncio.wait_for(call, BOUND)


def assert_unavailable(response, name: str) -> None:
    assert response.status == 503, (name, response.status, response.body[:300])
    assert response.headers["Content-Type"] == "application/json", name
    body = response.json
    assert body["status"] == "error" and body["error"] == "503" and body["message"] == "datastore_fault", body
    assert body["data"]["message"], body


def assert_served(response, name: str) -> None:
    assert 200 <= response.status < 300, (name, response.status, response.body[:300])


def assert_served_or_unavailable(names, responses) -> None:
    """Requests that were in flight when CouchDB stopped: done before it, or a 503; never a 500."""
    for name, response in zip(names, responses):
        (assert_unavailable if response.status == 503 else assert_served)(response, name)


async def health(stack: Stack):
    response = await answered(stack.api.get("/v2/health", token=None))
    assert response.headers["Content-Type"] == "application/json"
    assert response.json["status"] == "success", response.json
    return response


async def in_flight(stack: Stack, stop: Callable[[], None]) -> list:
    """Every call sent, CouchDB stopped while they are on their way; their answers."""
    calls = [asyncio.ensure_future(answered(call(stack))) for call in CALLS.values()]
    await asyncio.sleep(0.01)  # they reach the app; some may even be done before CouchDB stops
    stop()
    return await asyncio.gather(*calls)


async def assert_down(stack: Stack) -> None:
    """Every route answers 503, box writes queued behind each other included; health says down."""
    patches = {f"patch box #{index}": CALLS["patch box"] for index in range(8)}
    calls = {**CALLS, **patches}
    *results, state = await asyncio.gather(*(answered(call(stack)) for call in calls.values()), health(stack))
    for name, response in zip(calls, results):
        assert_unavailable(response, name)
    assert state.status == 503 and state.data["status"] == "down" and state.data["couchdb"] == "unreachable", \
        state.json
    assert state.data["events"]["running"] is True, state.json  # the event pipeline waits for CouchDB


async def assert_up(stack: Stack) -> None:
    """The same app, not restarted, serves every route again once CouchDB answers (which a CouchDB that
    was just resumed or started may take a moment to do: the loop is bounded)."""
    for _ in range(int(BOUND / 0.1)):
        if (await health(stack)).status == 200:
            break
        await asyncio.sleep(0.1)
    state = await health(stack)
    assert state.status == 200 and state.data["status"] == "up" and state.data["couchdb"] == "up", state.json
    for name, call in CALLS.items():
        assert_served(await answered(call(stack)), name)


async def test_a_hanging_couchdb_answers_503_in_time_and_the_service_recovers(stack):
    await assert_up(stack)
    assert_served_or_unavailable(CALLS, await in_flight(stack, stack.hang))
    await assert_down(stack)
    stack.resume()
    await assert_up(stack)


async def test_a_couchdb_that_is_gone_answers_503_and_a_new_one_on_the_same_port_is_used(stack):
    def terminate() -> None:
        stack.couch.process.terminate()
        stack.couch.process.wait()

    assert_served_or_unavailable(CALLS, await in_flight(stack, terminate))
    await assert_down(stack)
    stack.couch.start()
    await assert_up(stack)


async def big_message(stack: Stack) -> str:
    """A message whose recording is larger than everything the connections on its way can buffer."""
    doc = kazoo_message(stack.api, stack.box, times_this_month(1)[0], os.urandom(16).hex())
    db = modb_of(stack.api, doc["_id"])
    await stack.voicemail.store.put_creating_db(db, "modb", doc)

    async def chunks():
        for _ in range(BIG_AUDIO // 65536):
            yield os.urandom(65536)

    await stack.direct.put_attachment(db, doc["_id"], doc["_rev"], "big.wav", "audio/wav", chunks(), BIG_AUDIO)
    return doc["_id"]


async def test_audio_streaming_when_couchdb_hangs_ends_instead_of_hanging(stack):
    """Once the 200 is sent a 503 cannot follow: the download is cut off, and the client sees that."""
    message_id = await big_message(stack)
    url = stack.api.url(f"{_box(stack)}/messages/{message_id}/raw")
    received = 0

    async def download() -> None:
        nonlocal received
        async with stack.api.session.get(url, headers={"X-Auth-Token": stack.api.token}) as resp:
            assert resp.status == 200 and resp.content_length == BIG_AUDIO
            received += len(await resp.content.readany())
            stack.hang()  # the service is now waiting for CouchDB to send the rest
            async for chunk in resp.content.iter_any():
                received += len(chunk)

    with pytest.raises(aiohttp.ClientPayloadError):
        await answered(download())
    assert 0 < received < BIG_AUDIO
    stack.resume()
    await assert_up(stack)


async def test_writing_to_a_hanging_couchdb_gives_up_within_the_timeout(stack):
    """Streamed audio and large bulk bodies: a CouchDB that stops reading cannot hold the writer forever
    (aiohttp's socket timeouts start only once a body is sent)."""
    db = modb_of(stack.api, stack.message_id)
    doc = await stack.direct.put(db, {"_id": "hardening-write-test"})
    client = CouchClient(stack.couch.url, timeout=TIMEOUT)
    stack.hang()

    async def chunks():
        for _ in range(64 * 1024 * 1024 // 65536):
            yield bytes(65536)

    try:
        with pytest.raises(Unavailable):
            await answered(client.put_attachment(db, doc["_id"], doc["_rev"], "a.wav", "audio/wav", chunks(),
                                                 64 * 1024 * 1024))
        with pytest.raises(Unavailable):
            await answered(client.bulk_docs(db, [{"_id": "hardening-bulk-test", "pad": "p" * (48 * 1024 * 1024)}]))
    finally:
        await client.close()
    stack.resume()
    await assert_up(stack)
