"""The storage layer against the real server: Kazoo's database names, design documents, documents,
bulk operations, attachment streaming, and the request counter the benchmarks rely on."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp import web

from kazoo_vm.devtools.local_couch import free_port
from kazoo_vm.storage import Conflict, CouchClient, NotFound, Unavailable, is_db_missing
from kazoo_vm.storage.dbnames import (account_db, encoded, gregorian_to_datetime, modb, months_between, to_db,
                                      year_month)
from kazoo_vm.storage.design_docs import ACCOUNT, MODB, DesignDocs, design_docs
from kazoo_vm.storage.store import Store
from kazoo_vm.voicemail.ids import new_id

DATA = Path(__file__).parent / "data"
ID = "4a6863f0b1d2e3f4a5b6c7d8e9f00112"


# --- database names ---------------------------------------------------------------------------------------

def test_account_db_names():
    assert account_db(ID) == "account/4a/68/63f0b1d2e3f4a5b6c7d8e9f00112"
    assert encoded(account_db(ID)) == "account%2F4a%2F68%2F63f0b1d2e3f4a5b6c7d8e9f00112"
    assert modb(ID, 2016, 5) == "account/4a/68/63f0b1d2e3f4a5b6c7d8e9f00112-201605"


@pytest.mark.parametrize("name, expected", [
    (ID, account_db(ID)),
    (account_db(ID), account_db(ID)),
    ("account%2F4a%2F68%2F63f0b1d2e3f4a5b6c7d8e9f00112", account_db(ID)),
    ("account%2f4a%2f68%2f63f0b1d2e3f4a5b6c7d8e9f00112", account_db(ID)),
    ("ACCOUNT%2F4A%2F68%2F63F0B1D2E3F4A5B6C7D8E9F00112", account_db(ID)),
    (f"{ID}-201605", modb(ID, 2016, 5)),
    (modb(ID, 2016, 5), modb(ID, 2016, 5)),
    ("account%2F4a%2F68%2F63f0b1d2e3f4a5b6c7d8e9f00112-201605", modb(ID, 2016, 5)),
    (ID.upper(), None),
    (ID[:-1], None),
    (ID + "0", None),
    ("account/4a/68/63f0", None),
    ("accounts", None),
    (f"{ID}-2016", None),
    ("account%2F4a%2F68%2F63f0b1d2e3f4a5b6c7d8e9f00112%2Fx", None),
])
def test_every_form_of_a_name_normalises_to_the_real_name(name, expected):
    assert to_db(name) == expected


def test_month_of_a_gregorian_timestamp():
    assert year_month(63674208419) == (2017, 10)
    assert gregorian_to_datetime(62167219200).year == 1970
    assert year_month(63650447999) == (2016, 12) and year_month(63650448000) == (2017, 1)
    assert months_between((2016, 11), (2017, 2)) == [(2016, 11), (2016, 12), (2017, 1), (2017, 2)]
    assert months_between((2017, 2), (2016, 11)) == []


# --- a real database with a Kazoo name --------------------------------------------------------------------

@pytest.fixture
async def store(couch_url):
    """A Store of its own (fresh design-document cache); its databases are deleted afterwards."""
    client = CouchClient(couch_url)
    made = Store(client)
    created = []
    create_db = made.client.db_create

    async def remembering(name: str) -> bool:
        created.append(name)
        return await create_db(name)

    made.client.db_create = remembering
    yield made
    for db in created:
        await client.db_delete(db)
    await client.close()


@pytest.fixture
async def db(store) -> str:
    name = account_db(new_id())
    await store.create_db(name, ACCOUNT)
    return name


async def test_kazoo_names_reach_one_database_in_every_form(store, db):
    couch = store.client
    account_id = "".join(db.split("/")[1:])
    assert await couch.db_exists(db)
    await couch.put(db, {"_id": "doc", "value": 1})
    for form in (account_id, db, encoded(db), encoded(db).replace("%2F", "%2f")):
        assert (await couch.get(to_db(form), "doc"))["value"] == 1
    for path in (encoded(db), encoded(db).replace("%2F", "%2f")):
        assert (await couch.request("GET", f"{path}/doc"))["value"] == 1
    other = account_db(new_id())
    assert not await couch.db_exists(other)
    assert await couch.get_or_none(db, "missing") is None


async def test_db_create_is_idempotent_and_delete_tolerates_missing(store):
    name = modb(new_id(), 2017, 10)
    assert await store.client.db_create(name) is True
    assert await store.client.db_create(name) is False
    await store.client.db_delete(name)
    assert not await store.client.db_exists(name)
    await store.client.db_delete(name)


async def test_missing_database_and_missing_document_are_told_apart(store, db):
    with pytest.raises(NotFound) as missing_doc:
        await store.client.get(db, "nothing")
    assert not is_db_missing(missing_doc.value)
    with pytest.raises(NotFound) as missing_db:
        await store.client.get(account_db(new_id()), "nothing")
    assert is_db_missing(missing_db.value)


async def test_stale_revision_is_a_conflict(store, db):
    doc = await store.client.put(db, {"_id": "doc", "n": 1})
    stale = dict(doc)
    await store.client.put(db, {**doc, "n": 2})
    with pytest.raises(Conflict):
        await store.client.put(db, {**stale, "n": 3})
    assert (await store.client.get(db, "doc"))["n"] == 2


# --- design documents -------------------------------------------------------------------------------------

def wanted(classification: str) -> dict[str, dict]:
    return {doc["_id"]: doc for doc in design_docs(classification)}


def without_rev(doc: dict) -> dict:
    return {key: value for key, value in doc.items() if key != "_rev"}


async def test_created_database_gets_its_design_documents(store, db):
    assert {"_design/vmboxes", "_design/kazoo_vm"} <= set(wanted(ACCOUNT))
    for design_id, doc in wanted(ACCOUNT).items():
        assert without_rev(await store.client.get(db, design_id)) == doc


async def test_a_database_this_store_creates_gets_its_design_documents_in_one_write(store):
    name = account_db(new_id())
    sent = []
    store.client.listeners.append(lambda method, path: sent.append(f"{method} {path}"))
    assert await store.create_db(name, ACCOUNT) is True
    assert [request for request in sent if "_design" in request or "_bulk_docs" in request] == [
        f"POST {quote(name, safe='')}/_bulk_docs"]
    for design_id, doc in wanted(ACCOUNT).items():
        assert without_rev(await store.client.get(name, design_id)) == doc


async def test_a_design_document_stored_meanwhile_by_another_writer_is_brought_up_to_date(store):
    name = account_db(new_id())
    assert await store.client.db_create(name) is True
    stale = {**wanted(ACCOUNT)["_design/vmboxes"], "views": {"other": {"map": "function(doc) { emit(null, null); }"}}}
    await store.client.put(name, stale)

    await store.designs.install_new(name, ACCOUNT)
    for design_id, doc in wanted(ACCOUNT).items():
        assert without_rev(await store.client.get(name, design_id)) == doc


async def test_design_document_that_differs_is_updated(store, db):
    couch = store.client
    stale = await couch.get(db, "_design/vmboxes")
    stale["views"]["crossbar_listing"]["map"] = "function(doc) { emit(null, null); }"
    await couch.put(db, stale)

    await DesignDocs(couch).ensure(db, ACCOUNT)
    assert without_rev(await couch.get(db, "_design/vmboxes")) == wanted(ACCOUNT)["_design/vmboxes"]


async def test_design_documents_that_match_are_not_rewritten(store, db):
    revs = {design_id: (await store.client.get(db, design_id))["_rev"] for design_id in wanted(ACCOUNT)}
    await DesignDocs(store.client).ensure(db, ACCOUNT)
    assert {design_id: (await store.client.get(db, design_id))["_rev"] for design_id in revs} == revs


async def test_ensure_asks_couchdb_once_per_database(store, db):
    designs = DesignDocs(store.client)
    await designs.ensure(db, ACCOUNT)
    before = store.client.requests
    await designs.ensure(db, ACCOUNT)
    assert store.client.requests == before
    await designs.ensure(db, ACCOUNT, force=True)
    assert store.client.requests == before + len(wanted(ACCOUNT))


async def test_view_reinstalls_a_missing_design_document(store, db):
    couch = store.client
    design = await couch.get(db, "_design/vmboxes")
    await couch.delete(db, "_design/vmboxes", design["_rev"])
    await couch.put(db, {"_id": "box", "pvt_type": "vmbox", "name": "B", "mailbox": "3000"})
    rows = await store.rows(db, ACCOUNT, "vmboxes", "listing_by_mailbox", key=3000)
    assert [row["id"] for row in rows] == ["box"]
    assert without_rev(await couch.get(db, "_design/vmboxes")) == wanted(ACCOUNT)["_design/vmboxes"]


async def test_view_of_a_missing_database_is_empty(store):
    assert await store.rows(modb(new_id(), 2001, 1), MODB, "mailbox_messages", "listing_by_mailbox") == []


async def test_view_parameters_are_sent_as_json(store, db):
    couch = store.client
    for n, mailbox in enumerate(["100", "200", "300"]):
        await couch.put(db, {"_id": f"box{n}", "pvt_type": "vmbox", "name": f"B{n}", "mailbox": mailbox})
    rows = await store.rows(db, ACCOUNT, "vmboxes", "listing_by_mailbox", startkey=150, endkey=300)
    assert [row["key"] for row in rows] == [200, 300]
    rows = await store.rows(db, ACCOUNT, "vmboxes", "listing_by_mailbox", keys=[300, 100, 999])
    assert [row["id"] for row in rows] == ["box2", "box0"]
    rows = await store.rows(db, ACCOUNT, "vmboxes", "crossbar_listing", descending=True, limit=2)
    assert [row["id"] for row in rows] == ["box2", "box1"]


async def test_saving_into_a_missing_modb_creates_it_with_its_views(store):
    name = modb(new_id(), 2017, 10)
    await store.put_creating_db(name, MODB, {"_id": "201710-msg", "pvt_type": "mailbox_message"})
    assert await store.client.db_exists(name)
    for design_id, doc in wanted(MODB).items():
        assert without_rev(await store.client.get(name, design_id)) == doc
    other = modb(new_id(), 2017, 11)
    results = await store.write_many_creating_db(other, MODB, [{"_id": "a"}, {"_id": "b"}])
    assert [result["id"] for result in results] == ["a", "b"] and await store.client.db_exists(other)


# --- bulk documents ---------------------------------------------------------------------------------------

async def test_bulk_docs_and_all_docs(store, db):
    couch = store.client
    results = await couch.bulk_docs(db, [{"_id": "a", "n": 1}, {"_id": "b", "n": 2}, {"_id": "c", "n": 3}])
    assert [result["id"] for result in results] == ["a", "b", "c"] and all("rev" in r for r in results)
    deleted = await couch.get(db, "c")
    await couch.delete(db, "c", deleted["_rev"])

    results = await couch.bulk_docs(db, [{"_id": "a", "n": 10}, {"_id": "d", "n": 4}])
    assert results[0]["error"] == "conflict" and "rev" in results[1]

    rows = await couch.all_docs(db, ["d", "a", "nothing", "c"])
    assert [row["key"] for row in rows] == ["d", "a", "nothing", "c"]
    assert rows[0]["doc"]["n"] == 4 and rows[1]["doc"]["n"] == 1
    assert rows[2]["error"] == "not_found"
    assert rows[3]["value"]["deleted"] is True
    assert "doc" not in (await couch.all_docs(db, ["a"], include_docs=False))[0]


async def test_documents_read_by_id_are_the_ones_couchdb_reads_by_key_conflicts_and_all(store, db):
    """On Apache CouchDB `all_docs` asks `_bulk_get` (docs/couchdb.md, "Reading documents by id"); its rows are
    what the server's own `_all_docs` by keys answers, for documents with conflicting branches too."""
    couch = store.client
    created = {result["id"]: result["rev"] for result in await couch.bulk_docs(db, [
        {"_id": id_, "n": n, "_attachments": {"a.wav": {"content_type": "audio/x-wav", "data": "UklGRg=="}}}
        for n, id_ in enumerate(["plain", "loser", "winner", "revived", "gone"])])}
    for id_, rev_id in (("loser", "0" * 32), ("winner", "f" * 32), ("revived", "0" * 32)):
        await couch.request("POST", f"{encoded(db)}/_bulk_docs", body={"new_edits": False, "docs": [
            {"_id": id_, "_rev": f"1-{rev_id}", "n": "branch"}]})
    await couch.request("POST", f"{encoded(db)}/_bulk_docs", body={"docs": [  # not bulk_docs(), which buries branches
        {"_id": id_, "_rev": created[id_], "_deleted": True} for id_ in ("revived", "gone")]})
    keys = ["plain", "loser", "winner", "revived", "gone", "missing", "plain"]
    sent = []
    couch.listeners.append(lambda method, path: sent.append(path.rsplit("/", 1)[-1]))
    for include_docs, attachments in ((True, False), (True, True), (False, False)):
        params = {"include_docs": "true", **({"attachments": "true"} if attachments else {})} if include_docs else {}
        expected = (await couch.request("POST", f"{encoded(db)}/_all_docs", params=params,
                                        body={"keys": keys}))["rows"]
        rows = await couch.all_docs(db, keys, include_docs=include_docs, attachments=attachments)
        assert rows == expected
        if include_docs:
            assert [row.get("doc") and row["doc"]["n"] for row in rows] == [0, 1, "branch", "branch", None, None, 0]
    assert "_bulk_get" in sent if "couchdb" in await couch.server_info() else "_bulk_get" not in sent


async def test_empty_bulk_requests_do_not_reach_couchdb(store, db):
    before = store.client.requests
    assert await store.client.bulk_docs(db, []) == []
    assert await store.client.all_docs(db, []) == []
    assert store.client.requests == before


# --- attachments ------------------------------------------------------------------------------------------

async def read_attachment(couch, db: str, doc_id: str, name: str) -> tuple[bytes, str]:
    chunks = []
    async with couch.open_attachment(db, doc_id, name) as resp:
        async for chunk in resp.content.iter_chunked(4096):
            chunks.append(chunk)
        return b"".join(chunks), resp.headers["Content-Type"]


@pytest.mark.parametrize("streamed", [True, False])
async def test_attachment_round_trip(store, db, streamed):
    couch = store.client
    audio = (DATA / "message.mp3").read_bytes()
    doc = await couch.put(db, {"_id": "201710-msg", "pvt_type": "mailbox_message"})

    async def chunks():
        for start in range(0, len(audio), 8192):
            yield audio[start:start + 8192]

    data, length = (chunks(), None) if streamed else (audio, len(audio))
    rev = await couch.put_attachment(db, doc["_id"], doc["_rev"], "uploaded file #1.mp3", "audio/mpeg", data, length)
    assert rev != doc["_rev"]
    stored = await couch.get(db, doc["_id"])
    assert stored["_rev"] == rev
    assert stored["_attachments"]["uploaded file #1.mp3"]["length"] == len(audio)
    body, content_type = await read_attachment(couch, db, doc["_id"], "uploaded file #1.mp3")
    assert body == audio and content_type.startswith("audio/mpeg")


async def test_attachment_errors(store, db):
    couch = store.client
    doc = await couch.put(db, {"_id": "msg"})
    with pytest.raises(NotFound):
        await read_attachment(couch, db, "msg", "nothing.mp3")
    with pytest.raises(Conflict):
        await couch.put_attachment(db, "msg", "1-00000000000000000000000000000000", "a.mp3", "audio/mpeg", b"x", 1)
    assert "_attachments" not in await couch.get(db, doc["_id"])


# --- request counting, credentials, unreachable server ----------------------------------------------------

async def test_every_request_is_counted_once(store, db):
    couch = store.client
    steps = [
        lambda: couch.put(db, {"_id": "x"}),
        lambda: couch.get(db, "x"),
        lambda: couch.get_or_none(db, "missing"),
        lambda: couch.bulk_docs(db, [{"_id": "y"}]),
        lambda: couch.all_docs(db, ["x", "y"]),
        lambda: couch.view(db, "vmboxes", "crossbar_listing"),
        lambda: couch.db_exists(db),
    ]
    for step in steps:
        before = couch.requests
        await step()
        assert couch.requests == before + 1


@pytest.fixture
async def recorder():
    """A tiny HTTP server that answers every request with the Authorization header it got."""
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"authorization": request.headers.get("Authorization"), "path": request.raw_path})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield port
    await runner.cleanup()


async def test_url_credentials_are_sent_as_basic_auth_and_kept_out_of_urls(recorder):
    client = CouchClient(f"http://admin:p%40ss@127.0.0.1:{recorder}")
    try:
        answer = await client.get(account_db(ID), "doc")
    finally:
        await client.close()
    assert answer["authorization"] == "Basic YWRtaW46cEBzcw=="  # admin:p@ss
    assert answer["path"] == f"/{encoded(account_db(ID))}/doc"
    assert "p%40ss" not in client.base and "admin" not in client.base


async def test_unreachable_server_is_unavailable():
    client = CouchClient(f"http://127.0.0.1:{free_port()}", timeout=2.0)
    try:
        with pytest.raises(Unavailable):
            await client.get("accounts", "x")
    finally:
        await client.close()
    assert client.requests == 1


async def test_databases_are_deleted_right_after_writes_and_view_queries(couch):
    """Apache CouchDB 3 may answer 500 unknown_error to a DELETE while its indexer still closes the files:
    cleanup (tests, `serve --ephemeral`) must still delete every database (docs/couchdb.md)."""
    store = Store(couch)
    names = [f"kazoo_vm_test_delete_{new_id()}" for _ in range(12)]
    for name in names:
        await store.create_db(name, MODB)
        await couch.bulk_docs(name, [{"_id": f"doc-{n}", "pvt_type": "mailbox_message",
                                      "metadata": {"timestamp": n}, "source_id": "box"} for n in range(20)])
        await store.rows(name, MODB, "mailbox_messages", "listing_by_mailbox", limit=1)
        await couch.db_delete(name)
    assert [await couch.db_exists(name) for name in names] == [False] * len(names)


async def test_of_writers_racing_for_one_document_exactly_one_wins(couch, couch_url):
    """Claims (mailbox uniqueness): on a cluster two racing creates of one id can both be answered 201/202,
    leaving conflicting revisions; put_exclusive says True to the winner only, and the loser's revision goes."""
    import asyncio
    name = f"kazoo_vm_test_exclusive_{new_id()}"
    await couch.db_create(name)
    clients = [CouchClient(couch_url) for _ in range(4)]
    try:
        for round_ in range(30):
            doc_id = f"claim-{round_}"
            won = await asyncio.gather(*(client.put_exclusive(name, {"_id": doc_id, "writer": n})
                                         for n, client in enumerate(clients)))
            assert won.count(True) == 1, won
            stored = await couch.get(name, doc_id, conflicts="true")
            assert stored["writer"] == won.index(True) and "_conflicts" not in stored, stored
    finally:
        for client in clients:
            await client.close()
        await couch.db_delete(name)


async def test_a_cancelled_request_is_cancelled_even_as_its_answer_arrives(couch):
    """A task cancelled while its request runs (the event pipeline being closed, a request whose client went
    away) must end cancelled, never carry on with the answer. Python 3.11's `asyncio.wait_for` returned the
    answer when it arrived in the same loop iteration as the cancel; the pipeline's lease loop then never
    stopped, and whatever closed it (a test, a service shutting down) waited for ever. Each round counts the
    loop iterations one request takes, then cancels the next ones just before that many."""
    import asyncio

    async def iterations() -> int:
        task, count = asyncio.create_task(couch.request("GET", "")), 0
        while not task.done():
            await asyncio.sleep(0)
            count += 1
        await task
        return count

    ignored, cancelled = 0, 0
    for _ in range(150):
        last = await iterations()
        for back in (1, 2, 3):
            task = asyncio.create_task(couch.request("GET", ""))
            for _ in range(max(0, last - back)):
                await asyncio.sleep(0)
            if not task.cancel():
                await task
                continue
            try:
                await task
            except asyncio.CancelledError:
                cancelled += 1
                continue
            ignored += 1
    assert cancelled and not ignored, f"{ignored} of {ignored + cancelled} cancels ignored"
