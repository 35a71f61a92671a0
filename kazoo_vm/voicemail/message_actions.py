"""What a request on many messages asks for (cb_vmboxes §6.11-§6.14, §6.17): folder changes, deletes,
moves and copies by id, and the recordings of a ZIP download. Every box named is checked before
anything changes."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..storage import JSON
from . import folders, linked_audio, message_bulk
from .accounts import Account
from .boxes import Boxes
from .errors import AlreadyExists, BadIdentifier, Invalid, NotFoundError, field_error
from .legacy_migration import LegacyMigration
from .message_listing import MessageListing
from .message_moves import Mover
from .messages import Audio, Messages, audio_of
from .retention import is_prior, message_time, prior_error


@dataclass(frozen=True)
class Request:
    """The parts of a request that select messages and say what to do with them."""
    data: Mapping[str, Any]
    query: Mapping[str, str]
    body: Mapping[str, Any]

    def folder(self, default: str | None = folders.SAVED) -> str | None:
        return folders.requested(self.data, self.query, self.body, default)

    def folder_filter(self) -> str | None:
        """The folder whose messages a bulk delete removes; None (all) only when no folder is given:
        Kazoo reads an unknown folder as "all", which would delete what was not asked for."""
        given = next((source["folder"] for source in (self.data, self.query, self.body)
                      if source.get("folder") is not None), None)
        if given is not None and given not in folders.FOLDERS:
            raise field_error("folder", "enum", "Value not found in enumerated list of values",
                              target=list(folders.FOLDERS), value=given)
        return given


def message_ids(data: Mapping[str, Any], limit: int, *, required: bool = True) -> list[str] | None:
    ids = data.get("messages")
    if ids is None and not required:
        return None
    if not isinstance(ids, list) or (required and not ids):
        raise field_error("messages", "required", "No array of message ids are specified")
    if not all(isinstance(message_id, str) for message_id in ids):
        raise field_error("messages", "type", "message ids must be strings")
    if len(ids) > limit:
        raise field_error("messages", "maxItems", f"at most {limit} message ids per request", target=limit)
    return list(dict.fromkeys(ids))


def target_ids(data: Mapping[str, Any]) -> str | list[str] | None:
    """`source_id`: absent -> None, a box id -> move, a list of box ids -> copy."""
    if "source_id" not in data:
        return None
    value = data["source_id"]
    if value in ("", []) or (isinstance(value, list) and "" in value):
        raise field_error("source_id", "required",
                          "empty source_id is specified. please set a single or a list of source_ids.")
    if isinstance(value, str) or (isinstance(value, list) and all(isinstance(item, str) for item in value)):
        return value
    raise field_error("source_id", "type", "source_id must be a box id or a list of box ids")


class MessageActions:
    def __init__(self, boxes: Boxes, legacy: LegacyMigration, messages: Messages, listing: MessageListing,
                 mover: Mover, max_ids: int):
        self.boxes = boxes
        self.legacy = legacy
        self.messages = messages
        self.listing = listing
        self.mover = mover
        self.max_ids = max_ids

    @property
    def store(self):
        return self.messages.store

    async def update_many(self, account: Account, box_id: str, request: Request) -> JSON:
        """POST /vmboxes/{box}/messages: folder change, move (source_id a box) or copy (a list)."""
        ids = message_ids(request.data, self.max_ids)
        targets = target_ids(request.data)
        box = await self.boxes.load(account, box_id)
        boxes = await self._target_boxes(account, targets)
        ids = await self._current_ids(account, box, ids)
        if targets is None:
            return (await self._change_folder(account, box_id, ids, request.folder(), soft_delete=False)).as_data()
        return (await self._move_or_copy(account, box_id, ids, targets, boxes)).as_data()

    async def update_one(self, account: Account, box_id: str, message_id: str, request: Request) -> JSON:
        """POST /vmboxes/{box}/messages/{id}: folder change, or the move (new metadata) or copy of one."""
        targets = target_ids(request.data)
        if targets is None:
            return await self.messages.change_folder(account, box_id, message_id, request.folder())
        boxes = await self._target_boxes(account, targets)
        _, doc = await self.messages.load(account, box_id, message_id)  # a legacy id finds its message's id
        if is_prior(message_time(doc), self.messages.cutoff()):  # checked first for a copy too, as Kazoo does
            raise prior_error(message_id, self.messages.cutoff())
        result = await self._move_or_copy(account, box_id, [doc["_id"]], targets, boxes)
        if isinstance(targets, list):
            return result.as_data()
        if not result.succeeded:
            raise self._single_failure(message_id, result.failed.get(doc["_id"], message_bulk.NOT_FOUND))
        return await self.messages.fetch(account, targets, result.succeeded[0])

    def _single_failure(self, message_id: str, reason: str) -> Exception:
        if reason == message_bulk.PRIOR:
            return prior_error(message_id, self.messages.cutoff())
        if reason == message_bulk.NOT_FOUND:
            return BadIdentifier(message_id)
        if reason == message_bulk.CONFLICT:
            return AlreadyExists({"cause": message_id, "message": "the message is being moved to another box"})
        return Invalid({message_id: {reason: {"message": f"the message could not be moved: {reason}"}}})

    async def delete_many(self, account: Account, box_id: str, request: Request) -> JSON:
        """DELETE /vmboxes/{box}/messages: the listed ids, else a folder's messages, else all the box's."""
        ids = message_ids(request.data, self.max_ids, required=False)
        folder = request.folder_filter() if ids is None else None
        ids = await self._current_ids(account, await self.boxes.load(account, box_id), ids)
        if ids is None:
            rows = await self.listing.box_rows(account, box_id)
            ids = [row["id"] for row in rows if folder is None or row["value"].get("folder") == folder]
        return (await self._change_folder(account, box_id, ids, folders.DELETED, soft_delete=True)).as_data()

    async def _current_ids(self, account: Account, box: JSON, ids: list[str] | None) -> list[str] | None:
        """Migrate the box's legacy messages first; legacy ids become the ids they were migrated to."""
        await self.legacy.migrated(account, box)
        if ids is None:
            return None
        return list(dict.fromkeys((await self.legacy.resolve(account, ids)).values()))

    async def _change_folder(self, account: Account, box_id: str, ids: list[str], folder: str, *,
                             soft_delete: bool) -> message_bulk.BulkResult:
        grouped, failed = message_bulk.by_database(account, ids)
        cutoff = self.messages.cutoff()

        def change(doc: JSON) -> str | None:
            reason = message_bulk.refusal(doc, account, box_id, cutoff)
            if reason is None:
                folders.apply(doc, folder, soft_delete=soft_delete)
            return reason

        result = await message_bulk.update_all(self.store, grouped, change)
        result.failed.update(failed)
        return result

    async def _target_boxes(self, account: Account, targets: str | list[str] | None) -> list[JSON]:
        """Every target box, loaded before anything changes (404 for the first one missing)."""
        if targets is None:
            return []
        return [await self.boxes.load(account, target) for target in
                ([targets] if isinstance(targets, str) else list(dict.fromkeys(targets)))]

    async def _move_or_copy(self, account: Account, box_id: str, ids: list[str], targets: str | list[str],
                            boxes: list[JSON]) -> message_bulk.BulkResult:
        cutoff = self.messages.cutoff()
        if isinstance(targets, str):
            return await self.mover.move(account, box_id, ids, boxes[0], cutoff)
        return await self.mover.copy(account, box_id, ids, boxes, cutoff)

    async def recordings(self, account: Account, box_id: str, data: Mapping[str, Any]) -> list[Audio]:
        """The audio of every listed message, named as the raw download names it (made unique);
        404 when any of them is not a message of the box with audio."""
        ids = message_ids(data, self.max_ids)
        box = await self.boxes.load(account, box_id)
        ids = await self._current_ids(account, box, ids)
        grouped, failed = message_bulk.by_database(account, ids)
        if failed:
            raise NotFoundError(f"message {next(iter(failed))} not found")
        docs: list[tuple[str, JSON]] = []
        for db, db_ids in grouped.items():
            for row in await message_bulk.fetch(self.store, db, db_ids):
                doc = row.get("doc")
                if doc is None or not message_bulk.belongs(doc, account, box_id):
                    raise NotFoundError(f"message {row['key']} not found")
                docs.append((db, doc))
        holders = await linked_audio.holders(self.store, account, docs)
        found: dict[str, Audio] = {}
        for db, doc in docs:
            if doc["_id"] not in holders:
                raise NotFoundError(f"message {doc['_id']} has no audio")
            found[doc["_id"]] = audio_of(self.store, doc, box, account, *holders[doc["_id"]])
        return _unique_names([found[message_id] for message_id in ids])


def _unique_names(recordings: list[Audio]) -> list[Audio]:
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
