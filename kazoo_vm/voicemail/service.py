"""The voicemail domain, opened once per process (by the server or the CLI): everything wired together,
and the few operations that span boxes and messages."""
from __future__ import annotations

import asyncio

from ..config import Settings
from ..storage import StorageError
from ..storage.store import Store
from . import folders
from .accounts import Account, Accounts
from .actor import Actor
from .box_locks import BoxLocks
from .boxes import Boxes
from .inputs import ListingQuery
from .legacy_migration import LegacyMigration
from .lifecycle import MessageLifecycle
from .message import Message
from .message_moves import Mover
from .messages import Messages
from .paging import Page
from .values import JSON


class Voicemail:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = Store.connect(settings.couchdb_url, timeout=settings.couch_timeout,
                                   write_quorum=settings.write_quorum)
        self.lifecycle = MessageLifecycle()
        self.accounts = Accounts(self.store)
        self.boxes = Boxes(self.store, settings.page_size, self.lifecycle)
        self.mover = Mover(self.store, self.lifecycle)
        self.legacy = LegacyMigration(self.store, self.boxes, self.mover)
        self.box_locks = BoxLocks(self.store)
        self.message = Message(self.store, self.boxes, self.legacy, self.mover, self.lifecycle, self.box_locks,
                               settings.retention_days)
        self.messages = Messages(self.store, self.boxes, self.legacy, self.mover, self.lifecycle, self.box_locks,
                                 page_size=settings.page_size, retention_days=settings.retention_days)

    async def start(self) -> None:
        """Install missing or outdated design documents."""
        await self.accounts.install_design_docs()

    async def reachable(self) -> bool:
        """Whether storage answers (the health check)."""
        try:
            await self.store.ping()
        except StorageError:
            return False
        return True

    async def close(self) -> None:
        await self.store.close()

    async def box_listing(self, account: Account, query: ListingQuery) -> Page:
        """GET /vmboxes: each box's `messages` = legacy + new + saved, and `folders` for boxes with messages."""
        page, counts = await asyncio.gather(self.boxes.listing(account, query),
                                            self.messages.folder_counts(account))
        for row in page.rows:
            found = counts.get(row["id"])
            if found is not None:
                row["value"]["messages"] += found[folders.NEW] + found[folders.SAVED]
                row["value"]["folders"] = {folders.NEW: found[folders.NEW], folders.SAVED: found[folders.SAVED]}
        return page

    async def delete_box(self, account: Account, box_id: str, actor: Actor) -> JSON:
        """Soft-delete the box's messages, then the box (cb_vmboxes delete/2)."""
        await self.messages.delete_all(account, box_id)
        return await self.boxes.delete(account, box_id, actor)
