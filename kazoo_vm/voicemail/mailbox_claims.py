"""A claim document per mailbox number in the account database: only one writer wins a document id (on a
cluster, the one CouchDB keeps as the winning revision: docs/couchdb.md), so two service processes creating the
same mailbox at the same moment cannot both succeed.
Kazoo's views ignore these documents (their `pvt_type` is kazoo-vm's own). Boxes that Kazoo wrote have no
claim; the view check in boxes.py still covers them."""
from __future__ import annotations

import hashlib

from ..storage import JSON, Conflict, NotFound
from ..storage.dbnames import gregorian_now
from ..storage.store import Store
from .accounts import Account

TYPE = "kazoo_vm_mailbox_claim"
# A claim younger than this may belong to a box being written right now; older ones whose box is gone,
# deleted or renumbered are taken over.
SETTLE_SECONDS = 60
ATTEMPTS = 3


def claim_id(mailbox_key: str) -> str:
    return "kazoo_vm_mailbox_" + hashlib.sha1(mailbox_key.encode()).hexdigest()


class MailboxClaims:
    def __init__(self, store: Store, key_of):
        self.store = store
        self.key_of = key_of

    async def claim(self, account: Account, mailbox_key: str, box_id: str) -> bool:
        """True when `box_id` holds the mailbox now; False when another box holds it."""
        doc_id = claim_id(mailbox_key)
        for _ in range(ATTEMPTS):
            current = await self.store.find(account.db, doc_id)
            if current is not None and current.get("box_id") == box_id:
                return True
            if current is not None and not await self._abandoned(account, current, mailbox_key):
                return False
            claim = {**(current or {}), "_id": doc_id, "pvt_type": TYPE, "mailbox": mailbox_key, "box_id": box_id,
                     "pvt_created": gregorian_now()}
            if await self.store.put_exclusive(account.db, claim):
                return True
        return False

    async def release(self, account: Account, mailbox_key: str, box_id: str) -> None:
        """Give the mailbox up, if `box_id` holds it."""
        current = await self.store.find(account.db, claim_id(mailbox_key))
        if current is None or current.get("box_id") != box_id:
            return
        try:
            await self.store.delete(account.db, current["_id"], current["_rev"])
        except (Conflict, NotFound):
            pass

    async def _abandoned(self, account: Account, claim: JSON, mailbox_key: str) -> bool:
        if gregorian_now() - int(claim.get("pvt_created") or 0) < SETTLE_SECONDS:
            return False
        box = await self.store.find(account.db, str(claim.get("box_id")))
        return (box is None or box.get("pvt_type") != "vmbox" or bool(box.get("pvt_deleted"))
                or not isinstance(box.get("mailbox"), str) or self.key_of(box["mailbox"]) != mailbox_key)
