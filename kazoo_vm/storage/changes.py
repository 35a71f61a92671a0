"""CouchDB's change feeds, for the event pipeline: a database's `_changes` since a position (with documents),
its current position ("now"), the server's `_db_updates` (which databases changed; PouchDB Server has none),
and a long-poll wait on one database. The service's own bookkeeping database (`kazoo_vm_events`: leases,
checkpoints, the event outbox) is reached here too. Positions (`seq`) are opaque: on a cluster they are strings
that only CouchDB can compare."""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from .. import json_codec
from .couch import JSON, JSON_ACCEPT, CouchClient
from .errors import Conflict, NotFound, StorageError, Unavailable, is_db_missing

EVENTS_DB = "kazoo_vm_events"
Seq = Any  # an int on PouchDB Server, a string on CouchDB


@dataclass(frozen=True)
class Batch:
    results: list[JSON]
    last_seq: Seq


class NoDbUpdates(StorageError):
    """The server has no `_db_updates` (PouchDB Server)."""


def _seg(name: str) -> str:
    return quote(name, safe="")


class Feeds:
    def __init__(self, client: CouchClient):
        self.client = client

    async def changes(self, db: str, since: Seq, limit: int) -> Batch | None:
        """Changes after `since`, oldest first, with each document (deleted ones as tombstones);
        None when the database does not exist."""
        params = {"since": _param(since), "include_docs": "true", "limit": str(limit)}
        try:
            result = await self.client.request("GET", f"{_seg(db)}/_changes", params=params)
        except NotFound as error:
            if is_db_missing(error):
                return None
            raise
        return Batch(result.get("results") or [], result.get("last_seq", since))

    async def databases(self) -> list[str]:
        """Every database's name (`_all_dbs`)."""
        return await self.client.request("GET", "_all_dbs")

    async def now(self, db: str) -> Seq | None:
        """The database's current position; None when it does not exist."""
        try:
            info = await self.client.request("GET", _seg(db))
        except NotFound:
            return None
        return info.get("update_seq")

    async def db_updates(self, since: Seq, wait: float) -> Batch:
        """Databases created, updated or deleted after `since` (`{"db_name", "type"}` results); waits up to
        `wait` seconds for the first. NoDbUpdates when the server has no such feed: PouchDB Server, or an
        Apache CouchDB without its `_global_changes` database (which CouchDB's cluster setup creates)."""
        params = {"feed": "longpoll", "since": _param(since), "timeout": str(int(wait * 1000))}
        try:
            result = await self._long(f"_db_updates", params, wait)
        except StorageError as error:
            if error.status in (400, 404, 405, 501):
                raise NoDbUpdates(str(error)) from None
            raise
        if result is None:
            return Batch([], since)
        return Batch(result.get("results") or [], result.get("last_seq", since))

    async def wait(self, db: str, since: Seq, wait: float) -> Batch | None:
        """Long poll: the changes (without documents) after `since`, as soon as there is one, or an empty batch
        after `wait` seconds; None when the database does not exist."""
        params = {"feed": "longpoll", "since": _param(since), "timeout": str(int(wait * 1000))}
        try:
            result = await self._long(f"{_seg(db)}/_changes", params, wait)
        except NotFound as error:
            if is_db_missing(error):
                return None
            raise
        if result is None:
            return Batch([], since)
        return Batch(result.get("results") or [], result.get("last_seq", since))

    async def _long(self, path: str, params: dict[str, str], wait: float) -> JSON | None:
        """A long-poll request that may hold for `wait` seconds (PouchDB Server ignores `timeout` and holds
        until a change: the wait ends here then, and None means "nothing yet")."""
        self.client.requests += 1
        timeout = aiohttp.ClientTimeout(total=wait + self.client.request_timeout, connect=self.client.request_timeout)
        url = self.client._url(path)
        try:
            async with self.client.session.get(url, params=params, headers=dict(JSON_ACCEPT),
                                               timeout=timeout) as resp:
                payload = json_codec.loads(await resp.read())
                if resp.status == 200:
                    return payload
                raise _failure(resp.status, payload)
        except asyncio.TimeoutError:
            return None
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise Unavailable(f"CouchDB did not answer a feed: {type(exc).__name__}") from exc

    # the service's own bookkeeping database
    async def ensure_events_db(self) -> None:
        await self.client.db_create(EVENTS_DB)

    async def state(self, doc_id: str) -> JSON | None:
        return await self.client.get_or_none(EVENTS_DB, doc_id)

    async def states(self, prefix: str, limit: int | None = None) -> list[JSON]:
        """Every bookkeeping document whose id starts with `prefix` (the first `limit`, in id order)."""
        params = {"include_docs": "true", "startkey": json.dumps(prefix), "endkey": json.dumps(prefix + "\ufff0")}
        if limit is not None:
            params["limit"] = str(limit)
        result = await self.client.request("GET", f"{EVENTS_DB}/_all_docs", params=params)
        return [row["doc"] for row in result["rows"] if row.get("doc")]

    async def state_ids(self, prefix: str) -> list[str]:
        """The ids of the bookkeeping documents whose id starts with `prefix` (no documents: one small read)."""
        params = {"startkey": json.dumps(prefix), "endkey": json.dumps(prefix + "\ufff0")}
        result = await self.client.request("GET", f"{EVENTS_DB}/_all_docs", params=params)
        return [row["id"] for row in result["rows"]]

    async def add_states(self, docs: list[JSON]) -> None:
        """New bookkeeping documents, in one `_bulk_docs` request. Their ids are unique to this write: a
        conflict is this write's own first try (the request was sent again after a dropped connection)."""
        if not docs:
            return
        results = await self.client.request("POST", f"{EVENTS_DB}/_bulk_docs",
                                            params=await self.client.write_params(EVENTS_DB), body={"docs": docs})
        failed = [result for result in results if result.get("error") not in (None, "conflict")]
        if failed:
            raise StorageError(f"{len(failed)} of {len(docs)} bookkeeping documents not saved: {failed[0]}")

    async def drop_states(self, docs: list[JSON]) -> None:
        """Delete bookkeeping documents in one `_bulk_docs` request; one already gone (or changed) is left."""
        if docs:
            await self.client.request("POST", f"{EVENTS_DB}/_bulk_docs",
                                      params=await self.client.write_params(EVENTS_DB),
                                      body={"docs": [{"_id": doc["_id"], "_rev": doc["_rev"], "_deleted": True}
                                                     for doc in docs]})

    async def save_state(self, doc: JSON) -> JSON:
        """Save a bookkeeping document; Conflict when its `_rev` is not the stored one."""
        return await self.client.put(EVENTS_DB, doc)

    async def drop_state(self, doc: JSON) -> None:
        try:
            await self.client.delete(EVENTS_DB, doc["_id"], doc["_rev"])
        except (NotFound, Conflict):
            pass


def _param(seq: Seq) -> str:
    return seq if isinstance(seq, str) else str(seq)


def _failure(status: int, payload: Any) -> StorageError:
    if status == 404:
        reason = payload.get("reason") if isinstance(payload, dict) else None
        return NotFound(reason or "not_found", status=404)
    if status >= 500:
        return Unavailable(f"CouchDB failed a feed ({status})", status=status)
    return StorageError(f"CouchDB answered {status} to a feed", status=status)
