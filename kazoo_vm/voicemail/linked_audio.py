"""Where a message's audio is: in the message document itself, or, for messages Kazoo's own migration
moved, in the old account-database document a `kz_att_link` handler names (docs/kazoo-behaviour.md §8)."""
from __future__ import annotations

from ..storage.dbnames import to_db
from ..storage.store import Store
from .accounts import Account
from .values import JSON


def _object(value: object) -> JSON:
    """Stored data may be of any shape: what is not an object is treated as nothing."""
    return value if isinstance(value, dict) else {}


def link_of(doc: JSON, account: Account) -> tuple[str, str] | None:
    """(database, document id) a message's `pvt_attachments` link points to, within the same account."""
    for stub in _object(doc.get("pvt_attachments")).values():
        handler = _object(_object(_object(stub).get("handler")).get("kz_att_link"))
        db = to_db(str(handler.get("att_dbname") or ""))
        doc_id = handler.get("att_docid")
        if db and isinstance(doc_id, str) and db.startswith(account.db):
            return db, doc_id
    return None


async def holders(store: Store, account: Account, messages: list[tuple[str, JSON]]) -> dict[str, tuple[str, JSON]]:
    """For each (database, message) the (database, document) holding its audio; linked documents are
    fetched with one read by id per database. Messages whose audio cannot be found are left out."""
    found: dict[str, tuple[str, JSON]] = {}
    linked: dict[str, dict[str, list[str]]] = {}
    for db, doc in messages:
        link = None if doc.get("_attachments") else link_of(doc, account)
        if link is None:
            if doc.get("_attachments"):
                found[doc["_id"]] = (db, doc)
            continue
        linked.setdefault(link[0], {}).setdefault(link[1], []).append(doc["_id"])
    for db, targets in linked.items():
        for row in await store.many(db, list(targets)):
            holder = row.get("doc")
            if holder and holder.get("_attachments"):
                for message_id in targets[row["key"]]:
                    found[message_id] = (db, holder)
    return found
