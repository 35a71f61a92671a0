"""A connection that closes under a request before any answer (CouchDB restarted, a node or a proxy went
away, a pooled keep-alive connection the server had closed) is not an error the user sees: the client sends
the request again on another connection. A write whose answer was lost may already be stored: sending it
again must neither fail nor store it twice.

Between the client and the real CouchDB sits a small HTTP proxy that drops chosen connections: before
forwarding a request (it never reached CouchDB) or after (CouchDB applied it, the answer is lost)."""
from __future__ import annotations

import asyncio
import json
import secrets
import socket
import struct
from dataclasses import dataclass, field, replace

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from kazoo_vm.http.app import make_app
from kazoo_vm.devtools.local_couch import free_port
from kazoo_vm.storage import CouchClient, NotFound, Unavailable, is_db_missing
from kazoo_vm.storage.dbnames import encoded, modb
from kazoo_vm.voicemail.service import Voicemail
from message_helpers import this_month
from test_concurrency import all_docs


SILENCE_SECONDS = 3.0


@dataclass
class Dropper:
    """Which requests to drop: (method, path fragment, when) with when = "before" or "after" forwarding, or
    "failed": forwarded, then answered 500 as CouchDB does when a cluster node dies under a request, or
    "missing_stub": forwarded, then answered 412 as a cluster does when a copy that was down lacks an
    attachment, though the other copies stored the write, or "silent": never forwarded nor answered, as a
    cluster node can leave a request it was starting when another node died."""
    rules: list[tuple[str, str, str]] = field(default_factory=list)
    seen: list[tuple[str, str]] = field(default_factory=list)
    dropped: list[tuple[str, str, str]] = field(default_factory=list)

    def drop(self, method: str, fragment: str, when: str) -> None:
        self.rules.append((method, fragment, when))

    def take(self, method: str, path: str) -> str | None:
        for rule in self.rules:
            if rule[0] == method and rule[1] in path:
                self.rules.remove(rule)
                self.dropped.append((method, path, rule[2]))
                return rule[2]
        return None


@pytest.fixture
async def proxy(couch_url):
    """A proxy to the test CouchDB on a free port; yields (its URL with the same credentials, its Dropper)."""
    target = URL(couch_url)
    dropper = Dropper()
    session = aiohttp.ClientSession(auto_decompress=False)

    async def forward(request: web.Request) -> web.StreamResponse:
        path = request.raw_path
        dropper.seen.append((request.method, path))
        when = dropper.take(request.method, path)
        body = await request.read()
        if when == "before":
            request.transport.abort()
            return web.Response()
        if when == "silent":
            await asyncio.sleep(SILENCE_SECONDS)
            if request.transport is not None:  # the client has given up by now
                request.transport.abort()
            return web.Response()
        headers = {name: value for name, value in request.headers.items()
                   if name.lower() not in ("host", "content-length", "transfer-encoding", "connection")}
        async with session.request(request.method, str(target.with_user(None).with_password(None)).rstrip("/")
                                   + path, headers=headers, data=body, allow_redirects=False) as upstream:
            payload = await upstream.read()
            if when == "after":
                request.transport.abort()
                return web.Response()
            if when == "failed":
                return web.json_response({"error": "badmatch", "reason": "{rexi_DOWN,noconnection}"}, status=500)
            if when == "missing_stub":
                return web.json_response({"error": "missing_stub", "reason": "Invalid attachment stub"}, status=412)
            answer = web.Response(status=upstream.status, body=payload)
            answer.content_type = upstream.content_type
            return answer

    app = web.Application(client_max_size=1 << 30)
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield str(target.with_host("127.0.0.1").with_port(port)), dropper
    await runner.cleanup()
    await session.close()


async def test_a_read_whose_connection_drops_is_sent_again(proxy, scratch_db, couch):
    url, dropper = proxy
    await couch.put(scratch_db, {"_id": "doc", "value": 1})
    client = CouchClient(url)
    try:
        dropper.drop("GET", "/doc", "before")
        assert (await client.get(scratch_db, "doc"))["value"] == 1
    finally:
        await client.close()
    assert [seen for seen in dropper.seen if seen[1].endswith("/doc")] == [("GET", f"/{scratch_db}/doc")] * 2


async def test_a_read_without_an_answer_in_time_is_sent_again_and_a_write_is_not(proxy, scratch_db, couch):
    url, dropper = proxy
    await couch.put(scratch_db, {"_id": "doc", "value": 1})
    client = CouchClient(url, timeout=SILENCE_SECONDS / 3)
    read_by_id = "/_bulk_get" if "couchdb" in await couch.server_info() else "/_all_docs"  # docs/couchdb.md
    try:
        dropper.drop("GET", "/doc", "silent")
        assert (await client.get(scratch_db, "doc"))["value"] == 1
        dropper.drop("POST", read_by_id, "silent")
        [row] = await client.all_docs(scratch_db, ["doc"])
        assert row["doc"]["value"] == 1
        dropper.drop("PUT", "/other", "silent")
        with pytest.raises(Unavailable):
            await client.put(scratch_db, {"_id": "other"})
    finally:
        await client.close()
    assert [seen for seen in dropper.seen if seen[1].endswith("/doc")] == [("GET", f"/{scratch_db}/doc")] * 2
    assert [seen[0] for seen in dropper.seen if read_by_id in seen[1]] == ["POST"] * 2
    assert [seen[0] for seen in dropper.seen if "/other" in seen[1]] == ["PUT"], \
        "a write whose answer did not come may be applied later: it is not sent again"


async def test_a_new_document_stored_before_the_connection_dropped_is_not_a_conflict(proxy, scratch_db, couch):
    url, dropper = proxy
    client = CouchClient(url)
    try:
        dropper.drop("PUT", "/new-doc", "after")
        saved = await client.put(scratch_db, {"_id": "new-doc", "value": 2})
    finally:
        await client.close()
    stored = await couch.get(scratch_db, "new-doc")
    assert saved["_rev"] == stored["_rev"] and stored["_rev"].startswith("1-")
    assert [(method, when) for method, _, when in dropper.dropped] == [("PUT", "after")]


async def test_an_update_applied_before_couchdb_failed_is_not_a_conflict(proxy, scratch_db, couch):
    url, dropper = proxy
    first = await couch.put(scratch_db, {"_id": "doc", "value": 1})
    client = CouchClient(url)
    try:
        dropper.drop("PUT", "/doc", "failed")
        saved = await client.put(scratch_db, {"_id": "doc", "_rev": first["_rev"], "value": 2})
        dropper.drop("DELETE", "/doc", "failed")
        await client.delete(scratch_db, "doc", saved["_rev"])
    finally:
        await client.close()
    assert saved["_rev"].startswith("2-")
    assert [(method, when) for method, _, when in dropper.dropped] == [("PUT", "failed"), ("DELETE", "failed")]
    leaves = await couch.request("GET", f"{scratch_db}/doc", params={"open_revs": "all"})
    assert [leaf["ok"]["_rev"][:2] for leaf in leaves] == ["3-"] and leaves[0]["ok"]["_deleted"] is True


async def test_a_lock_stored_before_couchdb_failed_is_not_left_held(proxy, scratch_db, couch):
    """A lock write applied and answered 500 is met as a conflict on its resend; by how many copies it was
    stored is unknown, so it is retracted and not taken: taken again, it is the writer's."""
    url, dropper = proxy
    client = CouchClient(url)
    try:
        dropper.drop("PUT", "/lock", "failed")
        first = await client.put_by_majority(scratch_db, {"_id": "lock", "holder": "me", "attempt": 1})
        second = await client.put_by_majority(scratch_db, {"_id": "lock", "holder": "me", "attempt": 2})
    finally:
        await client.close()
    assert (first, second) == (False, True)
    assert [(method, when) for method, _, when in dropper.dropped] == [("PUT", "failed")]
    assert (await couch.get(scratch_db, "lock"))["attempt"] == 2


async def test_a_real_conflict_after_a_resend_is_still_a_conflict(proxy, scratch_db, couch):
    url, dropper = proxy
    first = await couch.put(scratch_db, {"_id": "doc", "value": 1})
    await couch.put(scratch_db, {**first, "value": "rival"})
    client = CouchClient(url)
    try:
        dropper.drop("POST", "/_bulk_docs", "before")
        results = await client.bulk_docs(scratch_db, [{"_id": "doc", "_rev": first["_rev"], "value": 2}])
    finally:
        await client.close()
    assert [result.get("error") for result in results] == ["conflict"]
    assert (await couch.get(scratch_db, "doc"))["value"] == "rival"


@pytest.fixture
async def proxied_api(service, settings, proxy, api):
    """The test account's client on a second instance of the service that reaches CouchDB through the proxy."""
    url, dropper = proxy
    _, voicemail = service
    other = Voicemail(replace(settings, port=free_port(), couchdb_url=url))
    runner = web.AppRunner(make_app(other.settings, other), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", other.settings.port).start()
    yield replace(api, base=f"http://127.0.0.1:{other.settings.port}"), dropper
    await runner.cleanup()


@pytest.mark.parametrize("when", ["before", "after"])
async def test_a_message_is_stored_once_when_couchdb_drops_the_connection_of_its_write(proxied_api, couch, when):
    api, dropper = proxied_api
    box = await api.create_box()
    dropper.drop("PUT", encoded(modb(api.account_id, *this_month())) + "/", when)  # the message's write
    created = await api.put(f"/vmboxes/{box['id']}/messages", json={"data": {"caller_id_number": "6001"}})
    assert created.status == 201, created.json
    assert dropper.dropped, "the proxy dropped no write"
    listed = await api.get(f"/vmboxes/{box['id']}/messages")
    assert [message["media_id"] for message in listed.data] == [created.data["media_id"]]
    db = modb(api.account_id, *this_month())
    stored = await all_docs(couch, db)
    assert list(stored) == [created.data["media_id"]]
    assert stored[created.data["media_id"]]["_rev"].startswith("1-")


async def test_a_folder_change_whose_answer_was_lost_is_applied_once(proxied_api, couch):
    api, dropper = proxied_api
    box = await api.create_box()
    created = await api.put(f"/vmboxes/{box['id']}/messages", json={"data": {"caller_id_number": "6002"}})
    assert created.status == 201
    dropper.drop("POST", "/_bulk_docs", "after")
    changed = await api.post(f"/vmboxes/{box['id']}/messages",
                             json={"data": {"messages": [created.data["media_id"]], "folder": "saved"}})
    assert changed.status == 200, changed.json
    assert changed.data["succeeded"] == [created.data["media_id"]], json.dumps(changed.json)
    assert [(method, when) for method, _, when in dropper.dropped] == [("POST", "after")]
    fetched = await api.get(f"/vmboxes/{box['id']}/messages/{created.data['media_id']}")
    assert fetched.data["folder"] == "saved"


@pytest.mark.parametrize("when", ["failed", "missing_stub"])
async def test_a_move_whose_marking_couchdb_applied_then_refused_moves_the_message_once(proxied_api, couch, when):
    api, dropper = proxied_api
    first, second = await api.create_box(name="First"), await api.create_box(name="Second")
    created = await api.put(f"/vmboxes/{first['id']}/messages", json={"data": {"caller_id_number": "6003"}})
    assert created.status == 201
    dropper.drop("POST", "/_bulk_docs", when)  # the first write of a move marks the original
    moved = await api.post(f"/vmboxes/{first['id']}/messages/{created.data['media_id']}",
                           json={"data": {"source_id": second["id"]}})
    assert moved.status == 200, moved.json
    assert [(method, dropped) for method, _, dropped in dropper.dropped] == [("POST", when)]
    assert (await api.get(f"/vmboxes/{first['id']}/messages")).data == []
    listed = await api.get(f"/vmboxes/{second['id']}/messages")
    assert [message["media_id"] for message in listed.data] == [moved.data["media_id"]]
    stored = await all_docs(couch, modb(api.account_id, *this_month()))
    assert list(stored) == [moved.data["media_id"]]


@pytest.fixture
async def early_closer():
    """A server that behaves as CouchDB does to a client sending a large body to a database that does not exist:
    CouchDB answers 404 as soon as it has the headers and closes the connection with the body unread, so the
    client's kernel gets a reset and the 404 is lost to it (seen on CouchDB 3.4.3 as "Can not write request
    body"). Here every request with a body gets that reset and no answer; `GET /{db}` answers the 404."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if head.startswith(b"GET "):
            body = b'{"error":"not_found","reason":"Database does not exist."}'
            writer.write(b"HTTP/1.1 404 Object Not Found\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    port = free_port()
    server = await asyncio.start_server(serve, "127.0.0.1", port)
    yield f"http://127.0.0.1:{port}"
    server.close()
    await server.wait_closed()


async def test_a_large_request_to_a_database_that_does_not_exist_is_a_missing_database(early_closer):
    client = CouchClient(early_closer)
    keys = [f"202611-{secrets.token_hex(16)}" for _ in range(20_000)]  # about 900 KB of JSON
    try:
        with pytest.raises(NotFound) as raised:
            await client.all_docs("account/ab/cd/0123456789abcdef0123456789ab-202611", keys)
    finally:
        await client.close()
    assert is_db_missing(raised.value)
