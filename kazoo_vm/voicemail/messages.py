"""Many voicemail messages: listings, bulk folder changes and deletes, moves and copies by id, and the
recordings of a ZIP download (kvm_messages.erl, docs/kazoo-behaviour.md §6.7-§6.8, §6.13-§6.14, §6.17).
Every box named is checked before anything changes."""
from __future__ import annotations

import asyncio
from typing import Any

from ..storage.design_docs import ACCOUNT
from ..storage.store import Store
from . import bulk_writes, folders, linked_audio, message_docs, retention
from .accounts import Account
from .box_locks import BoxLocks
from .boxes import Boxes
from .errors import NotFoundError
from .inputs import ListingQuery, MessageChange
from .legacy_migration import LegacyMigration
from .lifecycle import Kind, MessageEvent, MessageLifecycle
from .message import Audio, audio_of
from .message_listing import MessageListing
from .message_moves import Mover
from .paging import Page
from .values import JSON


class Messages:
    def __init__(self, store: Store, boxes: Boxes, legacy: LegacyMigration, mover: Mover,
                 lifecycle: MessageLifecycle, locks: BoxLocks, *, page_size: int, retention_days: int):
        self.store = store
        self.locks = locks
        self.boxes = boxes
        self.legacy = legacy
        self.mover = mover
        self.lifecycle = lifecycle
        self.retention_days = retention_days
        self.listing = MessageListing(store, page_size, retention_days)

    def cutoff(self) -> int:
        return retention.cutoff(self.retention_days)

    # listings
    async def list_box(self, account: Account, box_id: str, query: ListingQuery) -> tuple[Page, list[JSON]]:
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

    async def list_account(self, account: Account, query: ListingQuery) -> tuple[Page, list[JSON]]:
        """GET /vmboxes/messages: every box that still has legacy messages is migrated first."""
        rows = await self.store.rows(account.db, ACCOUNT, "kazoo_vm", "boxes_with_legacy_messages")
        for row in rows:
            await self.legacy.box_for_messages(account, row["id"])
        return await self.listing.account(account, query)

    async def folder_counts(self, account: Account) -> dict[str, dict[str, int]]:
        """Per box, its new, saved and deleted messages in the retention window."""
        return await self.listing.folder_counts(account)

    # changes
    async def change(self, account: Account, box_id: str, ids: list[str], change: MessageChange) -> JSON:
        """POST /vmboxes/{box}/messages: folder change, move (one target box) or copy (several)."""
        box = await self.boxes.load(account, box_id)
        boxes = [] if change.targets is None else await self.boxes.load_all(account, change.targets)
        ids = await self._current_ids(account, box, ids)
        cutoff = self.cutoff()
        if isinstance(change.targets, tuple):
            return (await self.mover.copy(account, box_id, ids, boxes, cutoff)).as_data()
        async with self.locks.hold(account, box_id):
            if change.targets is None:
                result = await self._change_folder(account, box_id, ids, folders.chosen(change.folder),
                                                   soft_delete=False)
            else:
                result = await self.mover.move(account, box_id, ids, boxes[0], cutoff)
        return result.as_data()

    async def delete(self, account: Account, box_id: str, ids: list[str] | None, folder: Any = None) -> JSON:
        """DELETE /vmboxes/{box}/messages: the listed ids, else a folder's messages, else all the box's."""
        only = folders.only(folder) if ids is None else None
        found = await self._current_ids(account, await self.boxes.load(account, box_id), ids)
        async with self.locks.hold(account, box_id):
            if found is None:
                rows = await self.listing.box_rows(account, box_id)
                found = [row["id"] for row in rows if only is None or row["value"].get("folder") == only]
            return (await self._change_folder(account, box_id, found, folders.DELETED, soft_delete=True)).as_data()

    async def delete_all(self, account: Account, box_id: str) -> None:
        """Every listed message of the box, soft-deleted (the box is being deleted)."""
        await self.delete(account, box_id, None)

    async def _current_ids(self, account: Account, box: JSON, ids: list[str] | None) -> list[str] | None:
        """Migrate the box's legacy messages first; legacy ids become the ids they were migrated to."""
        await self.legacy.migrated(account, box)
        if ids is None:
            return None
        return list(dict.fromkeys((await self.legacy.resolve(account, ids)).values()))

    async def _change_folder(self, account: Account, box_id: str, ids: list[str], folder: str, *,
                             soft_delete: bool) -> bulk_writes.BulkResult:
        grouped, failed = bulk_writes.by_database(account, ids)
        cutoff = self.cutoff()

        def change(doc: JSON) -> str | None:
            reason = bulk_writes.refusal(doc, account, box_id, cutoff)
            if reason is None:
                folders.apply(doc, folder, soft_delete=soft_delete)
            return reason

        result = await bulk_writes.update_all(self.store, grouped, change, keep_old=self.lifecycle.listening)
        result.failed.update(failed)
        kind = Kind.DELETED if soft_delete else Kind.CHANGED
        await self.lifecycle.written_all(MessageEvent(account, new["_id"], old, new, kind)
                                         for old, new in result.written)
        return result

    # audio
    async def recordings(self, account: Account, box_id: str, ids: list[str]) -> list[Audio]:
        """The audio of every listed message, named as the raw download names it (made unique);
        404 when any of them is not a message of the box with audio."""
        box = await self.boxes.load(account, box_id)
        ids = await self._current_ids(account, box, ids)
        grouped, failed = bulk_writes.by_database(account, ids)
        if failed:
            raise NotFoundError(f"message {next(iter(failed))} not found")
        docs: list[tuple[str, JSON]] = []
        for db, db_ids in grouped.items():
            for row in await self.store.many(db, db_ids):
                doc = row.get("doc")
                if doc is None or not message_docs.in_box(doc, account, box_id):
                    raise NotFoundError(f"message {row['key']} not found")
                docs.append((db, doc))
        holders = await linked_audio.holders(self.store, account, docs)
        found: dict[str, Audio] = {}
        for db, doc in docs:
            if doc["_id"] not in holders:
                raise NotFoundError(f"message {doc['_id']} has no audio")
            found[doc["_id"]] = audio_of(self.store, doc, box, account, *holders[doc["_id"]])
        return unique_names([found[message_id] for message_id in ids])


def unique_names(recordings: list[Audio]) -> list[Audio]:
    """Entries with the same name get `_1`, `_2`... before their extension."""
    used: set[str] = set()
    for audio in recordings:
        stem, dot, extension = audio.filename.rpartition(".")
        name, count = audio.filename, 0
        while name in used:
            count += 1
            name = f"{stem}_{count}.{extension}" if dot else f"{audio.filename}_{count}"
        used.add(name)
        audio.filename = name
    return recordings

