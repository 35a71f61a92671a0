"""The event outbox: the revisions of messages and boxes written through any instance, for an account that has
hooks, recorded in CouchDB before the API answers, so that the instance holding the account's partition
classifies each of them, in revision order, before it reports what the database's feed shows (the feed shows
only each document's newest revision: two quick changes would be one event), and so that a process killed
before they are reported loses none of them.

A document `outbox:<partition>:<db>:<stamp>` of `kazoo_vm_events` per database and batch of writes (at most
PER_DOC revisions): `{"account_id", "partition", "db", "written" (unix time), "revisions": [the documents as
stored, attachments as stubs]}`. One request's revisions are written with one `_bulk_docs`, whatever their
number and databases. The holder reads a database's documents by id range (`outbox:<partition>:<db>:`, PAGE
at a time, so what is in memory stays bounded) and deletes them only once their events are settled."""
from __future__ import annotations

import secrets
import time
from typing import Any

from ..storage.changes import Feeds
from .classify import account_of, generation
from .leases import partition_of

PREFIX = "outbox:"
PER_DOC = 100  # revisions in one outbox document
PAGE = 10  # outbox documents read at once: at most PAGE x PER_DOC revisions in memory
JSON = dict[str, Any]


def prefix_of(db: str) -> str:
    """Ids of the outbox documents of one database start with this (the `:` keeps an account database's range
    apart from its monthly databases', whose names it starts)."""
    found = account_of(db)
    if found is None:
        raise ValueError(f"not an account's database: {db}")
    return f"{PREFIX}{partition_of(found[0]):02d}:{db}:"


def where(doc_id: str) -> tuple[int, str] | None:
    """(partition, database) of an outbox document's id; None for any other id."""
    if not doc_id.startswith(PREFIX):
        return None
    try:
        partition, rest = doc_id[len(PREFIX):].split(":", 1)
        db, _ = rest.rsplit(":", 1)
        return int(partition), db
    except ValueError:
        return None


def changes_of(docs: list[JSON]) -> list[JSON]:
    """The revisions of outbox documents as feed changes, each document's in the order of its revisions: two
    requests writing one document can record theirs the other way round (a creation read back while it is
    changed)."""
    changes = [{"id": doc["_id"], "doc": doc, "changes": [{"rev": doc["_rev"]}]}
               for outbox in docs for doc in outbox.get("revisions") or []]
    return sorted(changes, key=lambda change: generation(change["changes"][0]["rev"]))


class Outbox:
    def __init__(self, feeds: Feeds):
        self.feeds = feeds

    async def record(self, revisions: list[tuple[str, str, JSON]]) -> None:
        """Record (account id, database, document as stored) revisions: one request for all of them."""
        by_db: dict[str, tuple[str, list[JSON]]] = {}
        for account_id, db, doc in revisions:
            by_db.setdefault(db, (account_id, []))[1].append(doc)
        docs = []
        for db, (account_id, written) in by_db.items():
            for start in range(0, len(written), PER_DOC):
                stamp = f"{time.time_ns():020d}-{secrets.token_hex(4)}"
                docs.append({"_id": prefix_of(db) + stamp, "account_id": account_id,
                             "partition": partition_of(account_id), "db": db, "written": time.time(),
                             "revisions": written[start:start + PER_DOC]})
        await self.feeds.add_states(docs)

    async def pending(self) -> dict[str, int]:
        """The databases that have outbox documents, with their partitions (ids only: one small read)."""
        found = (where(doc_id) for doc_id in await self.feeds.state_ids(PREFIX))
        return {db: partition for partition, db in filter(None, found)}

    async def of(self, db: str) -> list[JSON]:
        """The database's oldest outbox documents (at most PAGE)."""
        return await self.feeds.states(prefix_of(db), PAGE)

    async def drop(self, docs: list[JSON]) -> None:
        await self.feeds.drop_states(docs)

