"""Changes to many messages at once: fetched with `_all_docs` and written with `_bulk_docs` per monthly
database, so the number of CouchDB requests grows with the months touched, not with the messages."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..storage import JSON, NotFound, is_db_missing
from ..storage.store import Store

ROUNDS = 3
NOT_FOUND = "not_found"

# Changes a fetched document in place; returns None when it is to be saved, else why it is not.
Change = Callable[[JSON], str | None]


@dataclass
class BulkResult:
    succeeded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def merge(self, other: "BulkResult") -> None:
        self.succeeded += other.succeeded
        self.failed.update(other.failed)


async def update(store: Store, db: str, ids: list[str], change: Change) -> BulkResult:
    """Apply `change` to every listed document of one database; conflicting writes are retried."""
    result, pending = BulkResult(), list(dict.fromkeys(ids))
    for _ in range(ROUNDS):
        if not pending:
            break
        docs = []
        try:
            rows = await store.couch.all_docs(db, pending)
        except NotFound as error:
            if not is_db_missing(error):
                raise
            rows = [{"key": message_id} for message_id in pending]
        for row in rows:
            doc = row.get("doc")
            if doc is None:
                result.failed[row["key"]] = NOT_FOUND
                continue
            reason = change(doc)
            if reason is None:
                docs.append(doc)
            else:
                result.failed[doc["_id"]] = reason
        pending = []
        for outcome in await store.couch.bulk_docs(db, docs):
            if "error" not in outcome:
                result.succeeded.append(outcome["id"])
            elif outcome["error"] == "conflict":
                pending.append(outcome["id"])
            else:
                result.failed[outcome["id"]] = outcome["error"]
    for message_id in pending:
        result.failed[message_id] = "conflict"
    return result
