"""A small CouchDB client on aiohttp: documents, bulk docs, views, databases, attachments.

It speaks only what Apache CouchDB 3 and PouchDB Server both do (docs/couchdb.md), and percent-encodes
every database name and document id so Kazoo's `account/xx/xx/...` names reach the right URL.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from .. import json_codec
from .errors import MISSING_DB, Conflict, NotFound, StorageError, Unavailable

JSON = dict[str, Any]

VIEW_JSON_PARAMS = ("key", "keys", "startkey", "endkey", "start_key", "end_key")
# what `Accept` says on every request that expects JSON: without it CouchDB 3 answers
# `?attachments=true` with multipart/related
JSON_ACCEPT = {"Accept": "application/json"}
# CouchDB 3 may answer 500 to a database DELETE while its indexers still close the files
DELETE_DB_TRIES = 8
KNOWN_QUORUMS = 10_000
BULK_GET_COUNT = 1000  # ids per `_bulk_get`: one answer of a long list stays a bounded size
REPLAYS = 1
SILENT_READ_RESENDS = 1
FAILURE_WAITS = (0.2, 1.0)
BURY_ROUNDS = 3
# what a loser of a race writes on the tombstone of its own branch, so the winner does not count it
RETRACTED = "pvt_kazoo_vm_retracted"
STUB_WAITS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4)  # 12.75 s in all
READ_BUFFER = 1024 * 1024
IDLE_SECONDS = 4.0
# After a large attachment is sent, CouchDB needs time to store it before it answers (PouchDB Server
# stores 1-5 MB a second): the answer may take the timeout plus a second for every STORE_RATE bytes.
STORE_RATE = 1024 * 1024


def _seg(value: str) -> str:
    return quote(value, safe="")


def _doc_path(db: str, doc_id: str) -> str:
    if doc_id.startswith("_design/"):
        return f"{_seg(db)}/_design/{_seg(doc_id[len('_design/'):])}"
    return f"{_seg(db)}/{_seg(doc_id)}"


def _view_params(params: dict[str, Any]) -> dict[str, str]:
    out = {}
    for name, value in params.items():
        if value is None:
            continue
        if name in VIEW_JSON_PARAMS or isinstance(value, bool):
            out[name] = json.dumps(value, separators=(",", ":"))
        else:
            out[name] = str(value)
    return out


class CouchClient:
    """One shared aiohttp session to one CouchDB server; counts every request it makes."""

    def __init__(self, url: str, *, timeout: float = 10.0, session: aiohttp.ClientSession | None = None,
                 write_quorum: str = "all"):
        """`write_quorum`: "all" writes with `w` = the database's `n` (every copy has a write before it is
        answered, so any later read sees it: docs/couchdb.md), "default" leaves CouchDB's quorum, or a number."""
        parsed = URL(url)
        self.write_quorum = write_quorum
        self._quorums: dict[str, str | None] = {}
        self._bulk_get_known: bool | None = None
        # identity: compressing answers costs both ends CPU, and CouchDB is near the service
        self.headers = {"Accept-Encoding": "identity"}
        if parsed.user:
            self.headers["Authorization"] = aiohttp.encode_basic_auth(parsed.user, parsed.password or "")
        self.base = str(parsed.with_user(None).with_password(None)).rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=None, connect=timeout, sock_connect=timeout, sock_read=timeout)
        self.request_timeout = timeout
        self._session = session
        self.requests = 0
        # called with (method, path) before every request is sent: for counting by kind (the benchmark)
        self.listeners: list[Callable[[str, str], None]] = []

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # PouchDB Server drops idle connections after 5 s: reusing one later fails the request
            connector = aiohttp.TCPConnector(limit=64, keepalive_timeout=IDLE_SECONDS)
            # no cookie jar: the service authenticates with basic auth, and a jar is looked through per request
            self._session = aiohttp.ClientSession(connector=connector, headers=self.headers, timeout=self.timeout,
                                                  read_bufsize=READ_BUFFER, cookie_jar=aiohttp.DummyCookieJar())
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    def _url(self, path: str) -> URL:
        return URL(f"{self.base}/{path}", encoded=True)

    @asynccontextmanager
    async def _open(self, method: str, path: str, *, data: Any = None, settle: float = 0.0,
                    **kwargs: Any) -> AsyncIterator[aiohttp.ClientResponse]:
        """A request whose answer's headers must come within the timeout of the last progress: aiohttp's
        sock_read starts only once the body is sent, and nothing bounds writing a body to a CouchDB that
        stopped reading, so every chunk sent moves a deadline, and the headers end it. `settle` is the extra
        time CouchDB may take to store a large body before it answers. A read that gets no answer in time is
        sent once more on a new connection: a cluster node dying as CouchDB starts a request can leave that
        request waiting for ever (docs/couchdb.md)."""
        if settle:
            seconds = self.request_timeout + settle
            kwargs["timeout"] = aiohttp.ClientTimeout(total=None, connect=self.request_timeout,
                                                      sock_connect=self.request_timeout, sock_read=seconds)
        tries = 1 + SILENT_READ_RESENDS if _reads(method, path) and not isinstance(data, AsyncIterator) else 1
        for attempt in range(tries):
            self.requests += 1
            for listener in self.listeners:
                listener(method, path)
            try:
                async with asyncio.timeout(None) as deadline:
                    stall = _Stall(deadline, self.request_timeout, settle,
                                   (kwargs.get("headers") or {}).get("Content-Length"))
                    async with self.session.request(method, self._url(path), data=stall.watch(data),
                                                    **kwargs) as resp:
                        stall.done()
                        if self._bulk_get_known is None:
                            self._bulk_get_known = _server_kind(resp.headers)
                        yield resp
                        return
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError,
                    asyncio.TimeoutError, OSError) as exc:
                if not stall.answered and isinstance(exc, asyncio.TimeoutError) and attempt + 1 < tries:
                    continue
                # an answer cut short by a node dying mid-stream is as good as none
                dropped = (not stall.answered or isinstance(exc, aiohttp.ClientPayloadError)) and _dropped(exc)
                raise Unavailable(f"CouchDB did not answer: {type(exc).__name__}", dropped=dropped) from exc

    async def request(self, method: str, path: str, *, params: dict[str, str] | None = None,
                      body: Any = None, ok: Iterable[int] = (200, 201, 202)) -> Any:
        return (await self.exchange(method, path, params=params, body=body, ok=ok))[1]

    async def exchange(self, method: str, path: str, *, params: dict[str, str] | None = None,
                       body: Any = None, ok: Iterable[int] = (200, 201, 202)) -> tuple[int, Any]:
        return (await self._exchange(method, path, params=params, body=body, ok=ok))[:2]

    async def _exchange(self, method: str, path: str, *, params: dict[str, str] | None = None,
                        body: Any = None, ok: Iterable[int] = (200, 201, 202)) -> tuple[int, Any, bool]:
        """One JSON request; the third value says whether it was sent more than once. A connection that closes
        before any answer (CouchDB restarted, a pooled connection it had closed) gets the request sent again on
        another one; aiohttp does that itself for GET, PUT and DELETE, this does it for POST. Sending a write again is what a second writer racing this one would do:
        CouchDB's revisions refuse a double apply with a conflict, which `put` and the callers resolve."""
        kwargs: dict[str, Any] = {"params": params, "headers": dict(JSON_ACCEPT)}
        if body is not None:
            kwargs["data"] = json_codec.dumps(body)
            kwargs["headers"].update({"Content-Type": "application/json", "Content-Length": str(len(kwargs["data"]))})
        replays, waits, failures = 0, 0, 0
        while True:
            try:
                return (*await self._request_once(method, path, ok, kwargs), replays + failures + waits > 0)
            except StorageError as error:
                # an earlier try that failed may have been applied: a conflict now may be with itself
                error.resent = replays + failures + waits > 0
                if error.dropped and replays < REPLAYS:
                    replays += 1
                    if body is not None:
                        await self._raise_if_db_missing(path)
                elif (error.status or 0) >= 500 and failures < len(FAILURE_WAITS):
                    # a cluster node dying under a request makes CouchDB answer 500 (badmatch, timeouts); the
                    # request is sent again to the nodes left, as a dropped one is
                    await asyncio.sleep(FAILURE_WAITS[failures])
                    failures += 1
                    if body is not None:
                        await self._raise_if_db_missing(path)
                elif error.missing_stub and waits < len(STUB_WAITS):
                    # a cluster copy that was down has not caught up yet: CouchDB refuses the whole write
                    # until it has, which its internal replication does within seconds (docs/couchdb.md)
                    await asyncio.sleep(STUB_WAITS[waits])
                    waits += 1
                else:
                    raise

    async def _raise_if_db_missing(self, path: str) -> None:
        """CouchDB answers a request to a database that does not exist before reading its body, and closes the
        connection: a client still sending a large body gets a reset instead of the 404. Ask for that answer."""
        db = path.split("/", 1)[0]
        if db and not db.startswith("_") and "/" in path:
            try:
                await self._request_once("GET", db, (200,), {"headers": dict(JSON_ACCEPT)})
            except NotFound:
                raise NotFound(MISSING_DB) from None

    async def _request_once(self, method: str, path: str, ok: Iterable[int],
                            kwargs: dict[str, Any]) -> tuple[int, Any]:
        async with self._open(method, path, **kwargs) as resp:
            try:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for returns the answer instead of raising
                # when a cancel comes in the loop iteration the answer arrives (cpython gh-86296), and a
                # cancelled task that carries on never stops (the event pipeline's loops, on close)
                async with asyncio.timeout(self.request_timeout):
                    payload = json_codec.loads(await resp.read())
            except (ValueError, asyncio.TimeoutError) as exc:
                # a cluster node dying while CouchDB streams an answer cuts it short: sent again, as a dropped one
                raise Unavailable(f"CouchDB sent an unreadable answer to {method}", dropped=True) from exc
            if resp.status in ok:
                return resp.status, payload
            raise _error(resp.status, payload)

    async def server_info(self) -> JSON:
        """`GET /`: raises a StorageError when CouchDB does not answer."""
        return await self.request("GET", "")

    # databases
    async def db_exists(self, db: str) -> bool:
        try:
            await self.request("GET", _seg(db))
            return True
        except NotFound:
            return False

    async def db_create(self, db: str) -> bool:
        """Create a database; False when it existed already."""
        try:
            await self.request("PUT", _seg(db))
            return True
        except Conflict:
            return False

    async def db_delete(self, db: str) -> None:
        for attempt in range(DELETE_DB_TRIES):
            try:
                await self.request("DELETE", _seg(db))
                break
            except NotFound:
                break
            except Unavailable as error:
                if (error.status or 0) < 500 or attempt == DELETE_DB_TRIES - 1:
                    raise
                await asyncio.sleep(0.1 * 2 ** attempt)
        self._quorums.pop(db, None)

    async def write_params(self, db: str, **params: str) -> dict[str, str]:
        """Query parameters of a write to `db`, with the write quorum this client keeps."""
        w = await self._quorum(db)
        return {**params, "w": w} if w else params

    async def _quorum(self, db: str) -> str | None:
        if self.write_quorum == "default":
            return None
        if self.write_quorum != "all":
            return self.write_quorum
        return await self.copies(db)

    async def copies(self, db: str) -> str | None:
        """How many copies of each document the database keeps, when more than one."""
        if db not in self._quorums:
            if len(self._quorums) >= KNOWN_QUORUMS:
                self._quorums.clear()
            info = await self.request("GET", _seg(db))
            # PouchDB Server has no `cluster`: one copy, nothing to wait for
            n = (info.get("cluster") or {}).get("n")
            self._quorums[db] = str(n) if isinstance(n, int) and n > 1 else None
        return self._quorums[db]

    # documents
    async def get(self, db: str, doc_id: str, **params: Any) -> JSON:
        return await self.request("GET", _doc_path(db, doc_id), params=_view_params(params))

    async def get_or_none(self, db: str, doc_id: str) -> JSON | None:
        try:
            return await self.get(db, doc_id)
        except NotFound:
            return None

    async def put(self, db: str, doc: JSON) -> JSON:
        """Save a document; sets its new `_rev` on the dict and returns it. An update that a rival updating the
        same revision may have beaten on a cluster (202) is checked, and is a Conflict when it lost, as it is
        on a single node: the caller reads again and applies its change again."""
        rival_possible = "_rev" in doc
        status = await self._put(db, doc)
        if rival_possible and status == 202 and not await self._won(db, doc["_id"], doc["_rev"]):
            raise Conflict("lost to another writer of the same revision")
        return doc

    async def _put(self, db: str, doc: JSON) -> int:
        """Save a document, set its new `_rev`; CouchDB's status (202: not every copy said yes)."""
        try:
            status, result = await self.exchange("PUT", _doc_path(db, doc["_id"]),
                                                 params=await self.write_params(db), body=doc)
        except Conflict as error:
            rev = await self._applied(db, doc) if "_rev" not in doc or error.resent else None
            if rev is None:
                raise
            status, result = 202, {"rev": rev}
        doc["_rev"] = result["rev"]
        return status

    async def _applied(self, db: str, doc: JSON) -> str | None:
        """The revision a write of `doc` stored, when a try whose answer was lost (a dropped connection, a
        5xx from a dying cluster node) applied it and the next try met it as a conflict; None when it did
        not. A new document is ours when it holds our content; an update when the revision after ours
        holds our content (CouchDB derives a revision from its parent and content, so a resend of the
        same write makes the same one)."""
        if "_rev" not in doc:
            stored = await self.get_or_none(db, doc["_id"])
            found = stored is not None and _content(stored) == _content(doc)
            return stored["_rev"] if found else None
        try:
            leaves = await self._leaves(db, doc["_id"], revs=True)
        except NotFound:
            return None
        generation, parent = doc["_rev"].split("-", 1)
        for child in set(_children_of(leaves, int(generation), parent)):
            rev = f"{int(generation) + 1}-{child}"
            try:
                stored = await self.get(db, doc["_id"], rev=rev)
            except NotFound:
                continue
            if _content(stored) == _content(doc):
                return rev
        return None

    async def put_exclusive(self, db: str, doc: JSON) -> bool:
        """Save a document that only one writer may win (a mailbox claim): True when this write is
        the stored winner. On a cluster two writers racing for one revision can both be answered (each copy
        keeps whichever came first), leaving conflicting revisions. Every copy saying yes (201, with `w` =
        every copy) proves there was no rival; otherwise the document is read back from every copy, which
        settles on CouchDB's deterministic winner, and this write's revision is given up if it lost."""
        try:
            status = await self._put(db, doc)
        except Conflict:
            return False
        return (status == 201 and self.write_quorum == "all") or await self._won(db, doc["_id"], doc["_rev"])

    async def put_by_majority(self, db: str, doc: JSON) -> bool:
        """Save a document (a lock) only when more than half of its copies take it: True when they did. Each copy
        takes one writer of a revision (or of a new id), so two writers cannot both have a majority; a node
        down leaves one. A write a minority took (202), or that a resend found stored without knowing by how
        many copies, is retracted and is False, like a conflict. On a single copy: a plain create or update."""
        copies = await self.copies(db)
        params = {"w": str(int(copies) // 2 + 1)} if copies else {}
        try:
            status, result, _ = await self._exchange("PUT", _doc_path(db, doc["_id"]), params=params, body=doc)
        except Conflict as error:
            rev = await self._applied(db, doc) if error.resent else None
            if rev is not None:
                await self._retract(db, doc["_id"], rev)
            return False
        if status == 201 or not copies:
            doc["_rev"] = result["rev"]
            return True
        await self._retract(db, doc["_id"], result["rev"])
        return False

    async def _retract(self, db: str, doc_id: str, rev: str) -> None:
        """Delete a revision that lost, or that only a minority took, marked so that neither `_won` nor
        `furthest` counts its tombstone: it never reaches beyond the writer that won."""
        try:
            await self.request("POST", f"{_seg(db)}/_bulk_docs", params=await self.write_params(db),
                               body={"docs": [{"_id": doc_id, "_rev": rev, "_deleted": True, RETRACTED: True}]})
        except StorageError:
            pass  # the branch stays: a lock on it expires, and readers of the document see the winner

    async def furthest(self, db: str, doc_id: str) -> JSON | None:
        """The revision of a document that reaches furthest on any of its copies, by generation, then revision id
        (CouchDB's order without its preference for live revisions), retractions aside; None when there is
        none. CouchDB's own answer can be an old live revision a copy that was down still holds, after the
        others deleted or replaced it, until internal replication catches that copy up (docs/couchdb.md)."""
        try:
            return _furthest(await self._leaves(db, doc_id))
        except NotFound:
            return None

    async def _leaves(self, db: str, doc_id: str, *, revs: bool = False) -> Any:
        """The `open_revs=all` answer for a document, from every copy on a cluster; with `revs`, each leaf's
        path of revision ids."""
        copies = await self.copies(db)
        params = {"open_revs": "all", **({"revs": "true"} if revs else {}), **({"r": copies} if copies else {})}
        return await self.request("GET", _doc_path(db, doc_id), params=params)

    async def _won(self, db: str, doc_id: str, rev: str) -> bool:
        """Whether `rev` won the race for the document. Its leaves are read from every copy (which has CouchDB
        repair the copies that lack some, so that a rival arriving later is refused); `rev` won when no branch
        beside its own reaches further by CouchDB's order without its preference for live leaves: generation,
        then revision id. A rival that went on after winning (updated, deleted the document) reaches further,
        as does a write made on a revision some copy had already replaced; a loser's retraction of its own
        branch does not count. A revision that lost is retracted (docs/couchdb.md, "Racing writers")."""
        if await self.copies(db) is None:
            return True
        leaves = await self._leaves(db, doc_id, revs=True)
        generation, mine = rev.split("-", 1)
        if not _beaten(leaves, int(generation), mine):
            return True
        await self._retract(db, doc_id, rev)
        return False

    async def delete(self, db: str, doc_id: str, rev: str) -> None:
        try:
            await self.request("DELETE", _doc_path(db, doc_id), params=await self.write_params(db, rev=rev))
        except (Conflict, NotFound) as error:  # CouchDB answers a deleted document's DELETE 404
            if not error.resent or await self._applied(db, {"_id": doc_id, "_rev": rev, "_deleted": True}) is None:
                raise

    async def bulk_docs(self, db: str, docs: list[JSON]) -> list[JSON]:
        """`_bulk_docs`: one result per document, `{"id", "rev"}` or `{"id", "error", "reason"}`. When the
        request had to be sent again, a conflict that is the first try's own write is that write's result.
        A deleted document is made to stay deleted (`_bury`). On a cluster, where a rival writing the same
        revision at once may have been accepted too (202), an update that lost the race for its revision
        (`_won`) is a conflict, as it is on a single node."""
        if not docs:
            return []
        status, results, resent = await self._exchange("POST", f"{_seg(db)}/_bulk_docs",
                                                        params=await self.write_params(db), body={"docs": docs})
        if resent:
            for index, (doc, result) in enumerate(zip(docs, results)):
                if result.get("error") == "conflict" and (rev := await self._applied(db, doc)) is not None:
                    results[index] = {"ok": True, "id": doc["_id"], "rev": rev}
        rival = await self._rival_possible(db, status)
        deleted = []
        for index, (doc, result) in enumerate(zip(docs, results)):
            if "error" in result:
                continue
            if doc.get("_deleted"):
                deleted.append(doc["_id"])
            elif rival and "_rev" in doc and not await self._won(db, doc["_id"], result["rev"]):
                results[index] = {"id": doc["_id"], "error": "conflict",
                                  "reason": "lost to another writer of the same revision"}
        if deleted and not rival:  # one read for the batch: a conflict left by an earlier race shows as live
            deleted = [row["key"] for row in await self.all_docs(db, deleted, include_docs=False)
                       if "error" not in row and not (row.get("value") or {}).get("deleted")]
        for doc_id in deleted:
            await self._bury(db, doc_id)
        return results

    async def _rival_possible(self, db: str, status: int) -> bool:
        """Whether a write answered `status` may have a rival that some copies kept: every copy saying yes
        (201 with `w` = every copy) proves there was none."""
        if status == 201 and self.write_quorum == "all":
            return False
        return await self.copies(db) is not None

    async def _bury(self, db: str, doc_id: str) -> None:
        """Delete every live branch left beside a tombstone. A rival update of the revision this client deleted,
        kept by some copies, or a conflicting branch an earlier race left, is a live leaf, and CouchDB prefers
        a live leaf to a deleted one: the document would come back (a moved message twice). The delete was
        answered, so it wins."""
        for _ in range(BURY_ROUNDS):
            leaves = await self._leaves(db, doc_id)
            live = [leaf["ok"]["_rev"] for leaf in leaves if isinstance(leaf, dict)
                    and isinstance(leaf.get("ok"), dict) and not leaf["ok"].get("_deleted")]
            if not live:
                return
            await self.request("POST", f"{_seg(db)}/_bulk_docs", params=await self.write_params(db),
                               body={"docs": [{"_id": doc_id, "_rev": rev, "_deleted": True} for rev in live]})

    async def all_docs(self, db: str, keys: list[str], *, include_docs: bool = True,
                       attachments: bool = False) -> list[JSON]:
        """`_all_docs` by keys; rows for missing ids carry `error`, deleted ones `value.deleted`.
        With attachments, documents carry their attachments' data in base64. Apache CouchDB is asked with
        `_bulk_get`, which it answers 3 to 7 times faster (docs/couchdb.md, "Reading documents by id")."""
        if not keys:
            return []
        if await self._bulk_get_ok():
            rows: list[JSON] = []
            for start in range(0, len(keys), BULK_GET_COUNT):
                rows += await self._bulk_get(db, keys[start:start + BULK_GET_COUNT], include_docs, attachments)
            return rows
        params = {"include_docs": "true"} if include_docs else {}
        if attachments:
            params["attachments"] = "true"
        result = await self.request("POST", f"{_seg(db)}/_all_docs", params=params, body={"keys": keys})
        return result["rows"]

    async def _bulk_get_ok(self) -> bool:
        """Whether the server is Apache CouchDB, whose `_bulk_get` returns every leaf of a document. PouchDB
        Server's returns only the winner, the same empty answer for a deleted and a missing document, and one
        answer for an id asked twice. Told by the headers of the first answer, or by `GET /` when a proxy
        rewrote them."""
        if self._bulk_get_known is None:
            self._bulk_get_known = "couchdb" in await self.server_info()
        return self._bulk_get_known

    async def _bulk_get(self, db: str, keys: list[str], include_docs: bool, attachments: bool) -> list[JSON]:
        """`_all_docs` rows for `keys` from `_bulk_get`: each document's winner among its leaves, chosen as
        CouchDB chooses it, after dropping leaves that another leaf's path holds (an older revision a
        lagging cluster copy still has)."""
        params = {"revs": "true", **({"attachments": "true"} if attachments else {})}
        body = {"docs": [{"id": key} for key in dict.fromkeys(keys)]}
        result = await self.request("POST", f"{_seg(db)}/_bulk_get", params=params, body=body)
        winners = {entry.get("id"): _winner(entry.get("docs")) for entry in result.get("results") or []}
        return [_all_docs_row(key, winners.get(key), include_docs) for key in keys]

    async def all_ids(self, db: str) -> list[str]:
        """Every document id of a database (design documents included)."""
        result = await self.request("GET", f"{_seg(db)}/_all_docs")
        return [row["id"] for row in result["rows"]]

    async def view(self, db: str, design: str, view: str, **params: Any) -> JSON:
        path = f"{_seg(db)}/_design/{_seg(design)}/_view/{_seg(view)}"
        keys = params.pop("keys", None)
        if keys is not None:
            return await self.request("POST", path, params=_view_params(params), body={"keys": keys})
        return await self.request("GET", path, params=_view_params(params))

    # attachments
    @asynccontextmanager
    async def open_attachment(self, db: str, doc_id: str, name: str,
                              headers: dict[str, str] | None = None) -> AsyncIterator[aiohttp.ClientResponse]:
        """Stream an attachment: the caller reads `resp.content` chunk by chunk."""
        async with self._open("GET", f"{_doc_path(db, doc_id)}/{_seg(name)}", headers=headers) as resp:
            if resp.status not in (200, 206):
                raise _error(resp.status, await _json_or_empty(resp))
            yield resp

    async def put_attachment(self, db: str, doc_id: str, rev: str, name: str, content_type: str,
                             data: AsyncIterator[bytes] | bytes, length: int | None = None) -> str:
        """Stream an attachment into a document; returns the document's new revision."""
        headers = {"Content-Type": content_type}
        if length is not None:
            headers["Content-Length"] = str(length)
        async with self._open("PUT", f"{_doc_path(db, doc_id)}/{_seg(name)}", params=await self.write_params(db, rev=rev),
                              data=data, headers=headers, settle=(length or 0) / STORE_RATE) as resp:
            payload = await _json_or_empty(resp)
            if resp.status in (200, 201, 202):
                return payload["rev"]
            raise _error(resp.status, payload)


class _Stall:
    """Moves a request's deadline each time a chunk of its body is taken to be sent."""
    PROGRESS_BYTES = 64 * 1024

    def __init__(self, deadline: asyncio.Timeout, seconds: float, settle: float = 0.0, length: str | None = None):
        self.deadline = deadline
        self.seconds = seconds
        self.settle = settle
        self.length = int(length) if length else None
        self.sent = 0
        self.answered = False
        self.progress()

    def progress(self, extra: float = 0.0) -> None:
        if self.answered:
            return
        try:
            self.deadline.reschedule(asyncio.get_running_loop().time() + self.seconds + extra)
        except RuntimeError:  # the request timed out while the body was still being sent
            pass

    def done(self) -> None:
        """The headers came: reading the answer is bounded by sock_read from here on."""
        self.answered = True
        self.deadline.reschedule(None)

    def watch(self, data: Any) -> Any:
        """The body to send: small ones as they are, others as chunks that each move the deadline."""
        if data is None or (isinstance(data, (bytes, str)) and len(data) <= self.PROGRESS_BYTES):
            return data
        return self._chunks(_slices(data.encode() if isinstance(data, str) else data, self.PROGRESS_BYTES)
                            if isinstance(data, (bytes, str)) else data)

    async def _chunks(self, source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for chunk in source:
            self.sent += len(chunk)
            self.progress(self.settle if self.length is not None and self.sent >= self.length else 0.0)
            yield chunk


def _beaten(leaves: Any, generation: int, mine: str) -> bool:
    """Whether a leaf of an `open_revs=all&revs=true` answer that is not on the path of revision
    `generation-mine` reaches further than it (generation, then revision id); retractions do not count."""
    for entry in leaves if isinstance(leaves, list) else []:
        leaf = entry.get("ok") if isinstance(entry, dict) else None
        if not isinstance(leaf, dict) or (leaf.get("_deleted") and leaf.get(RETRACTED)):
            continue
        revisions = leaf.get("_revisions") or {}
        ids, start = revisions.get("ids") or [], revisions.get("start")
        if not isinstance(start, int) or (0 <= start - generation < len(ids) and ids[start - generation] == mine):
            continue
        if (start, ids[0] if ids else "") > (generation, mine):
            return True
    return False


def _furthest(leaves: Any) -> JSON | None:
    found = [entry["ok"] for entry in leaves if isinstance(entry, dict) and isinstance(entry.get("ok"), dict)
             and not (entry["ok"].get("_deleted") and entry["ok"].get(RETRACTED))] if isinstance(leaves, list) else []
    return max(found, key=_revision_order, default=None)


def _winner(leaves: Any) -> JSON | None:
    """CouchDB's winning revision among a `_bulk_get` answer's leaves (with `revs`): a live one before a deleted
    one, then by generation, then by revision id; None when the document is missing."""
    found = [entry["ok"] for entry in leaves if isinstance(entry, dict) and isinstance(entry.get("ok"), dict)] \
        if isinstance(leaves, list) else []
    held = {rev for doc in found for rev in _path(doc)[1:]}
    found = [doc for doc in found if doc.get("_rev") not in held]
    for doc in found:
        doc.pop("_revisions", None)
    return max(found, key=lambda doc: (not doc.get("_deleted"), *_revision_order(doc)), default=None)


def _path(doc: JSON) -> list[str]:
    """The revisions of a leaf's path, its own first (`_revisions` of a read with `revs`)."""
    revisions = doc.get("_revisions") or {}
    start, ids = revisions.get("start"), revisions.get("ids") or []
    return [f"{start - index}-{rev_id}" for index, rev_id in enumerate(ids)] if isinstance(start, int) else []


def _all_docs_row(key: str, doc: JSON | None, include_docs: bool) -> JSON:
    if doc is None:
        return {"key": key, "error": "not_found"}
    deleted = bool(doc.get("_deleted"))
    row: JSON = {"id": key, "key": key, "value": {"rev": doc["_rev"], **({"deleted": True} if deleted else {})}}
    if include_docs:
        row["doc"] = None if deleted else doc
    return row


def _revision_order(doc: JSON) -> tuple[int, str]:
    generation, _, rev_id = str(doc.get("_rev", "0-")).partition("-")
    return int(generation), rev_id


def _children_of(leaves: Any, generation: int, parent: str) -> list[str]:
    """The ids of the revisions at `generation + 1` whose parent is `parent`, on an `open_revs=all&revs=true`
    answer's paths."""
    found = []
    for entry in leaves if isinstance(leaves, list) else []:
        revisions = (entry.get("ok") or {}).get("_revisions") or {}
        ids, start = revisions.get("ids") or [], revisions.get("start")
        if isinstance(start, int) and 1 <= start - generation < len(ids) and ids[start - generation] == parent:
            found.append(ids[start - generation - 1])
    return found


def _server_kind(headers: Any) -> bool | None:
    """True for Apache CouchDB (`Server: CouchDB/3.4.3 (Erlang OTP/25)`), False for PouchDB Server (an Express
    app), None when a proxy's headers hide which."""
    if headers.get("Server", "").startswith("CouchDB/"):
        return True
    return False if headers.get("X-Powered-By") == "Express" else None


def _reads(method: str, path: str) -> bool:
    """Whether a request only reads, so that sending it twice is harmless."""
    return method in ("GET", "HEAD") or (method == "POST" and (path.endswith(("/_all_docs", "/_bulk_get"))
                                                               or "/_view/" in path))


def _dropped(exc: BaseException) -> bool:
    """A connection closed under a request (not a refused connect, not a timeout), or one whose answer could
    not be parsed: CouchDB ends a streamed answer early when a cluster node dies under it, and the rest of it
    reaches the next request on that connection as a bad status line (docs/couchdb.md)."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return False
    if isinstance(exc, (aiohttp.ClientResponseError, aiohttp.ClientPayloadError)):
        return True
    return isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, ConnectionResetError,
                            BrokenPipeError))


def _content(doc: JSON) -> JSON:
    return {key: value for key, value in doc.items() if key not in ("_rev", "_attachments")}


async def _slices(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


async def _json_or_empty(resp: aiohttp.ClientResponse) -> JSON:
    try:
        payload = json_codec.loads(await resp.read())
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _error(status: int, payload: Any) -> StorageError:
    reason = payload.get("reason") or payload.get("error") if isinstance(payload, dict) else None
    error = payload.get("error") if isinstance(payload, dict) else None
    if status == 404:
        return NotFound(reason or "not_found")
    if status == 409 or (status == 412 and error == "file_exists"):
        return Conflict(reason or "conflict")
    if status == 412 and error == "missing_stub":
        return Conflict(reason or "missing_stub", missing_stub=True)
    if status in (401, 403):
        return Unavailable(f"CouchDB refused the service's credentials ({status})")
    if status >= 500:
        return Unavailable(f"CouchDB failed ({status}: {error or 'unknown'})", status=status)
    return StorageError(f"CouchDB answered {status}: {error or 'unknown'}: {reason or ''}".strip(), status=status)
