"""Changes to many messages at once: fetched with `_all_docs` and written with `_bulk_docs` per monthly
database, so the number of CouchDB requests grows with the months touched, not with the messages."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..storage import JSON
from ..storage.store import Store
from . import message_docs, retention
from .accounts import Account
from .ids import message_month

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

    def merge(self, other: "BulkResult") -> None:
        self.succeeded += other.succeeded
        self.failed.update(other.failed)

    def as_data(self) -> JSON:
        """design.md's shape: `succeeded` (and Kazoo's documented `suceeded`), `failed` as [{id: reason}]."""
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


def belongs(doc: JSON, account: Account, box_id: str) -> bool:
    """The document is a message of this box of this account (soft-deleted or not, as a fetch sees it)."""
    return (doc.get("pvt_type") == message_docs.TYPE and doc.get("pvt_account_id", account.id) == account.id
            and doc.get("source_id") == box_id)


def refusal(doc: JSON, account: Account, box_id: str, cutoff: int) -> str | None:
    """Why a stored document cannot be changed as a message of this box, or None when it can."""
    if not belongs(doc, account, box_id) or doc.get("pvt_deleted"):
        return NOT_FOUND
    if retention.is_prior(retention.message_time(doc), cutoff):
        return PRIOR
    return None


async def update_all(store: Store, grouped: dict[str, list[str]], change: Change) -> BulkResult:
    result = BulkResult()
    for db, ids in grouped.items():
        result.merge(await update(store, db, ids, change))
    return result


async def fetch(store: Store, db: str, ids: list[str]) -> list[JSON]:
    """`_all_docs` rows with documents; a database that does not exist has none of them."""
    return await store.many(db, ids)


async def update(store: Store, db: str, ids: list[str], change: Change) -> BulkResult:
    """Apply `change` to every listed document of one database; conflicting writes are retried."""
    result, pending = BulkResult(), list(dict.fromkeys(ids))
    for _ in range(ROUNDS):
        if not pending:
            break
        docs = []
        for row in await fetch(store, db, pending):
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
        for outcome in await store.write_many(db, docs):
            if "error" not in outcome:
                result.succeeded.append(outcome["id"])
            elif outcome["error"] == "conflict":
                pending.append(outcome["id"])
            else:
                result.failed[outcome["id"]] = outcome["error"]
    for message_id in pending:
        result.failed[message_id] = "conflict"
    return result
