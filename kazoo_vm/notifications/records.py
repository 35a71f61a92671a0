"""The per-message email record: a document `email:<account id>:<message id>` of the service's own database
`kazoo_vm_notifications` (Kazoo stores nothing on the message, docs/notifications.md). It is created once per
new message (a replayed event, a second instance or a restart finds it and sends nothing more), says who
accepted the mail, who refused it for good, who is still to be tried and when, whether the after-notify
action was applied, and is claimed by one instance at a time while it sends (`claim`, `claim_until`: an
instance that dies holding a claim leaves it to expire, and another takes the record up)."""
from __future__ import annotations

import time
from typing import Any

from ..storage import Conflict, NotFound
from ..storage.store import Store

JSON = dict[str, Any]
DB = "kazoo_vm_notifications"
CLASSIFICATION = "notifications"
TYPE = "kazoo_vm_email"
HISTORY = 20  # attempts kept on a record


def record_id(account_id: str, message_id: str) -> str:
    return f"email:{account_id}:{message_id}"


def new_record(account_id: str, box_id: str, message_id: str, event_id: str, now: float) -> JSON:
    return {"_id": record_id(account_id, message_id), "pvt_type": TYPE, "account_id": account_id,
            "box_id": box_id, "message_id": message_id, "event_id": event_id, "created": now,
            "state": "pending", "done": False, "due": now, "attempts": 0, "recipients": None, "accepted": [],
            "refused": {}, "deferred": {}, "action": None, "action_applied": False, "history": []}


class Records:
    def __init__(self, store: Store, instance: str, claim_seconds: float):
        self.store = store
        self.instance = instance
        self.claim_seconds = claim_seconds
        self._ready = False

    async def ensure_db(self) -> None:
        if not self._ready:
            await self.store.create_db(DB, CLASSIFICATION)
            self._ready = True

    async def create(self, record: JSON) -> bool:
        """Store a new record; False when the message has one already (the event was seen before)."""
        await self.ensure_db()
        try:
            return await self.store.put_exclusive(DB, record)
        except Conflict:
            return False

    async def get(self, account_id: str, message_id: str) -> JSON | None:
        await self.ensure_db()
        return await self.store.find(DB, record_id(account_id, message_id))

    async def due(self, now: float, limit: int) -> list[str]:
        """Ids of unfinished records due by now, the longest waiting first."""
        await self.ensure_db()
        rows = await self.store.rows(DB, CLASSIFICATION, "kazoo_vm_notifications", "unfinished_by_due",
                                     endkey=now, limit=limit)
        return [row["id"] for row in rows]

    async def claim(self, record_id_: str) -> JSON | None:
        """The record, claimed by this instance; None when it is finished, not due, or someone else's claim."""
        doc = await self.store.find(DB, record_id_)
        now = time.time()
        if doc is None or doc.get("done") or doc.get("due", 0) > now:
            return None
        if doc.get("claim") not in (None, self.instance) and doc.get("claim_until", 0) > now:
            return None
        doc["claim"], doc["claim_until"] = self.instance, now + self.claim_seconds
        try:
            return doc if await self.store.put_exclusive(DB, doc) else None
        except (Conflict, NotFound):
            return None

    async def save(self, doc: JSON, *, release: bool = False) -> JSON:
        """Write a claimed record (a conflict means the claim was lost: the record is read again and this
        instance's outcome written over it, which only adds to what it says)."""
        if release:
            doc["claim"], doc["claim_until"] = None, 0
        doc["history"] = doc.get("history", [])[-HISTORY:]
        for _ in range(3):
            try:
                await self.store.put(DB, doc)
                return doc
            except Conflict:
                stored = await self.store.get(DB, doc["_id"])
                doc["_rev"] = stored["_rev"]
        raise Conflict(f"email record {doc['_id']} kept changing")
