"""Writes to many documents at once: fetched by id and written with `_bulk_docs` per database, so
the number of CouchDB requests grows with the (monthly) databases touched, not with the documents."""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..storage.store import Store
from . import message_docs, retention
from .accounts import Account
from .ids import message_month
from .values import JSON

ROUNDS = 3
NOT_FOUND = "not_found"
PRIOR = "prior_to_retention_duration"
CONFLICT = "conflict"

# Changes a fetched document in place; returns None when it is to be saved, else why it is not.
Change = Callable[[JSON], str | None]


@dataclass
class BulkResult:
    succeeded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    # (document before, document as written) of each write; the first is None unless asked for
    written: list[tuple[JSON | None, JSON]] = field(default_factory=list)

    def merge(self, other: "BulkResult") -> None:
        self.succeeded += other.succeeded
        self.failed.update(other.failed)
        self.written += other.written

    def as_data(self) -> JSON:
        """The documented shape: `succeeded` (and Kazoo's documented `suceeded`), `failed` as [{id: reason}]
        (docs/differences.md)."""
        return {"succeeded": self.succeeded, "suceeded": list(self.succeeded),
                "failed": [{message_id: reason} for message_id, reason in self.failed.items()]}


def by_database(account: Account, ids: Iterable[str]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Message ids grouped by their monthly database; ids that cannot be messages are not_found."""
    grouped: dict[str, list[str]] = {}
    failed: dict[str, str] = {}
    for message_id in dict.fromkeys(ids):
        if message_month(message_id) is None:
            failed[message_id] = NOT_FOUND
        else:
            grouped.setdefault(message_docs.db_of(account, message_id), []).append(message_id)
    return grouped, failed


def refusal(doc: JSON, account: Account, box_id: str, cutoff: int) -> str | None:
    """Why a stored document cannot be changed as a message of this box, or None when it can."""
    if not message_docs.in_box(doc, account, box_id) or doc.get("pvt_deleted"):
        return NOT_FOUND
    if retention.is_frozen(doc, cutoff):
        return PRIOR
    return None


async def update_all(store: Store, grouped: dict[str, list[str]], change: Change, *,
                     keep_old: bool = False) -> BulkResult:
    result = BulkResult()
    for db, ids in grouped.items():
        result.merge(await update(store, db, ids, change, keep_old=keep_old))
    return result


async def update(store: Store, db: str, ids: list[str], change: Change, *, keep_old: bool = False) -> BulkResult:
    """Apply `change` to every listed document of one database; conflicting writes are retried.
    With keep_old, `written` holds a copy of each document as it was before the change."""
    result, pending = BulkResult(), list(dict.fromkeys(ids))
    for _ in range(ROUNDS):
        if not pending:
            break
        docs, before = [], {}
        for row in await store.many(db, pending):
            doc = row.get("doc")
            if doc is None:
                result.failed[row["key"]] = NOT_FOUND
                continue
            old = copy.deepcopy(doc) if keep_old else None
            reason = change(doc)
            if reason is None:
                docs.append(doc)
                before[doc["_id"]] = old
            else:
                result.failed[doc["_id"]] = reason
        pending = []
        for doc, outcome in zip(docs, await store.write_many(db, docs)):
            if "error" not in outcome:
                result.succeeded.append(outcome["id"])
                doc["_rev"] = outcome["rev"]
                result.written.append((before[doc["_id"]], doc))
            elif outcome["error"] == "conflict":
                pending.append(outcome["id"])
            else:
                result.failed[outcome["id"]] = outcome["error"]
    for message_id in pending:
        result.failed[message_id] = CONFLICT
    return result
