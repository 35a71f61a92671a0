"""Everything the voicemail domain needs, opened once per process (by the server or the CLI)."""
from __future__ import annotations

import asyncio
from collections.abc import Mapping

from ..config import Settings
from ..storage import JSON, CouchClient
from ..storage.design_docs import ACCOUNT
from ..storage.store import Store
from . import folders
from .accounts import Account, Accounts
from .boxes import Actor, Boxes
from .legacy_migration import LegacyMigration
from .message_actions import MessageActions, Request
from .message_listing import MessageListing
from .message_moves import Mover
from .messages import Messages
from .paging import Page


class Voicemail:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.couch = CouchClient(settings.couchdb_url, timeout=settings.couch_timeout,
                                 write_quorum=settings.write_quorum)
        self.store = Store(self.couch)
        self.accounts = Accounts(self.store)
        self.boxes = Boxes(self.store, settings.page_size)
        self.mover = Mover(self.store)
        self.legacy = LegacyMigration(self.store, self.boxes, self.mover)
        self.messages = Messages(self.store, self.legacy, settings.retention_days)
        self.listing = MessageListing(self.store, settings.page_size, settings.retention_days)
        self.actions = MessageActions(self.boxes, self.legacy, self.messages, self.listing, self.mover,
                                      settings.max_bulk_ids)

    async def start(self) -> None:
        """Install missing or outdated design documents."""
        await self.accounts.install_design_docs()

    async def close(self) -> None:
        await self.couch.close()

    async def box_listing(self, account: Account, query: Mapping[str, str]) -> Page:
        """GET /vmboxes: each box's `messages` = legacy + new + saved, and `folders` for boxes with messages."""
        page, counts = await asyncio.gather(self.boxes.listing(account, query),
                                            self.listing.folder_counts(account))
        for row in page.rows:
            found = counts.get(row["id"])
            if found is not None:
                row["value"]["messages"] += found[folders.NEW] + found[folders.SAVED]
                row["value"]["folders"] = {folders.NEW: found[folders.NEW], folders.SAVED: found[folders.SAVED]}
        return page

    async def box_messages(self, account: Account, box_id: str, query: Mapping[str, str]
                           ) -> tuple[Page, list[JSON]]:
        """GET /vmboxes/{box}/messages: the box is read while the listing runs (a read of the last seconds
        is reused, as for message reads: Boxes.load_recent); a box that still has legacy messages is
        migrated, then listed again."""
        box, listed = await asyncio.gather(self.boxes.load_recent(account, box_id),
                                           self.listing.box(account, box_id, query), return_exceptions=True)
        if isinstance(box, BaseException):
            raise box
        if await self.legacy.migrated(account, box) is not box:
            return await self.listing.box(account, box_id, query)
        if isinstance(listed, BaseException):
            raise listed
        return listed

    async def delete_box(self, account: Account, box_id: str, actor: Actor) -> JSON:
        """Soft-delete the box's messages, then the box (cb_vmboxes delete/2)."""
        await self.actions.delete_many(account, box_id, Request({}, {}, {}))
        return await self.boxes.delete(account, box_id, actor)

    async def migrate_account_on_access(self, account: Account) -> None:
        """Before an account-wide listing: migrate every box that still has legacy messages."""
        rows = await self.store.rows(account.db, ACCOUNT, "kazoo_vm", "boxes_with_legacy_messages")
        for row in rows:
            await self.legacy.box_for_messages(account, row["id"])
