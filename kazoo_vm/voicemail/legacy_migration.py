"""Kazoo 3.x voicemail moved into the monthly databases (kvm_migrate_account.erl, docs/kazoo-behaviour.md §2.3,
§8; on access, as docs/differences.md says).

A 3.x box keeps its messages as a `messages` array, each recording in a `private_media` document of the
account database. Each entry becomes message `YYYYMM-<media id>` (month of its timestamp, so a rerun finds
what an earlier run moved) with the audio copied in. Then the media document is marked with the new id
(so the legacy id still finds the message) and only then the entry leaves the box's array; entries that
cannot be moved stay, with a `migration_error`. Stopped at any step and run again, nothing is lost or
written twice. The bulk migration takes several boxes of an account a step, so that each monthly database is
written once a step, not once per box.
"""
from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from ..storage import JSON, StorageError
from ..storage.dbnames import gregorian_now, year_month
from ..storage.store import Store
from . import bulk_writes, message_docs
from .accounts import Account
from .actor import Actor
from .boxes import Boxes
from .errors import BadIdentifier, KeptChanging
from .folders import FOLDERS, NEW
from .ids import is_legacy_message_id, message_month, modb_id
from .keyed_locks import KeyedLocks
from .message_moves import Mover, Transfer
from .values import is_whole_number

MIGRATED_TO = "pvt_migrated_to"
SAFE_MEDIA_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
TEXT_FIELDS = ("from", "to", "caller_id_number", "caller_id_name", "call_id")
NO_MEDIA_ID = "no_media_id"
MISSING_AUDIO = "missing_audio"
BAD_DATA = "bad_data"
SAVE_RETRIES = 10
# A step migrates `batch` entries of each of a group of boxes together, at most this many entries and boxes:
# CouchDB reindexes a database after every write to it, so one write per monthly database for the whole group
# costs it far less than one per box; the bounds keep the documents held in memory for a step bounded.
STEP_ENTRIES = 1000
STEP_BOXES = 25
ON_ACCESS = Actor(request_id="legacy-migration-on-access")


@dataclass
class Stats:
    processed: int = 0
    succeeded: int = 0
    failed: int = 0
    no_ids: int = 0
    errors: dict[str, str] = field(default_factory=dict)

    def add(self, other: "Stats") -> None:
        self.processed += other.processed
        self.succeeded += other.succeeded
        self.failed += other.failed
        self.no_ids += other.no_ids
        self.errors.update(other.errors)

    def summary(self) -> JSON:
        return {"processed": self.processed, "succeeded": self.succeeded, "failed": self.failed,
                "no_ids": self.no_ids}


@dataclass
class Plan:
    """What one batch of entries becomes: transfers to write, and reasons for those that cannot move."""
    transfers: list[Transfer] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def legacy_timestamp(value: Any) -> int | None:
    """An integer or an integer string ("63630058722"); anything else is no timestamp."""
    if is_whole_number(value):
        return value if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip()) or None
    return None


def pending_entries(box: JSON, *, retry_failed: bool) -> list[JSON]:
    """The legacy entries to migrate: those without a migration_error, or all of them when retrying."""
    entries = box.get("messages")
    if not isinstance(entries, list):
        return []
    if retry_failed:
        return entries
    return [entry for entry in entries if isinstance(entry, dict) and not entry.get("migration_error")]


def step_groups(boxes: list[tuple[str, int]], batch: int) -> list[list[str]]:
    """The boxes, given as (id, pending entries), in groups to migrate together (migrate_boxes): at most
    STEP_ENTRIES entries a step (`batch` of each box, or fewer when it has fewer) and STEP_BOXES boxes."""
    groups: list[list[str]] = []
    entries = 0
    for box_id, pending in boxes:
        share = min(max(pending, 1), max(batch, 1))
        if not groups or entries + share > STEP_ENTRIES or len(groups[-1]) >= STEP_BOXES:
            groups.append([])
            entries = 0
        groups[-1].append(box_id)
        entries += share
    return groups


def _count(entries: list[JSON], written: set[str], errors: dict[str, str]) -> Stats:
    """Each entry counted once: moved (also when another entry named the same media id), without a media
    id, or failed."""
    stats = Stats(processed=len(entries))
    for entry in entries:
        media_id = entry.get("media_id") if isinstance(entry, dict) else None
        if isinstance(entry, dict) and media_id in (None, ""):
            stats.no_ids += 1
        elif isinstance(media_id, str) and media_id in written:
            stats.succeeded += 1
        else:
            stats.failed += 1
    stats.errors = {media_id: reason for media_id, reason in errors.items() if media_id not in written}
    return stats


def _kept(box: JSON, migrated: set[str], errors: dict[str, str]) -> list[Any]:
    """The box's entries that stay: all but the migrated ones, those that cannot move with their reason."""
    kept = []
    for entry in box.get("messages") or []:
        media_id = entry.get("media_id") if isinstance(entry, dict) else None
        if isinstance(media_id, str) and media_id in migrated:
            continue
        if isinstance(entry, dict):
            reason = NO_MEDIA_ID if not media_id else errors.get(str(media_id))
            if reason:
                entry = {**entry, "migration_error": reason}
        kept.append(entry)
    return kept


def _fields(entry: JSON, timestamp: int) -> JSON:
    fields: JSON = {name: entry[name] for name in TEXT_FIELDS if isinstance(entry.get(name), str) and entry[name]}
    length = legacy_timestamp(entry.get("length"))
    if length is not None:
        fields["length"] = length
    folder = entry.get("folder")
    fields["folder"] = folder if folder in FOLDERS else NEW
    fields["timestamp"] = timestamp
    return fields


class LegacyMigration:
    def __init__(self, store: Store, boxes: Boxes, mover: Mover):
        self.store = store
        self.boxes = boxes
        self.mover = mover
        self._locks = KeyedLocks()

    async def migrate_box(self, account: Account, box: JSON, actor: Actor, *, retry_failed: bool = False,
                          batch: int = 500, dry_run: bool = False,
                          on_batch: Callable[[Stats], None] | None = None) -> tuple[JSON, Stats]:
        """Migrate a box's legacy entries in batches; returns the box as stored afterwards, and the counts."""
        boxes, stats = await self.migrate_boxes(account, [box["_id"]], actor, retry_failed=retry_failed,
                                                batch=batch, dry_run=dry_run, on_batch=on_batch)
        if box["_id"] not in boxes:
            raise BadIdentifier(box["_id"])
        return boxes[box["_id"]], stats

    async def migrate_boxes(self, account: Account, box_ids: list[str], actor: Actor, *,
                            retry_failed: bool = False, batch: int = 500, dry_run: bool = False,
                            on_batch: Callable[[Stats], None] | None = None) -> tuple[dict[str, JSON], Stats]:
        """Migrate the legacy entries of several boxes of an account together, `batch` entries of each box a
        step, so that a step writes each monthly database once for all of them (step_groups). Boxes that are
        gone are passed over. Returns the boxes as stored afterwards (by id), and the counts; `on_batch` is
        told each box's counts after each step."""
        stats = Stats()
        size = max(batch, 1)
        async with self._hold_all(account, box_ids):
            boxes = await self.boxes.load_present(account, box_ids)
            entries = {box_id: pending_entries(box, retry_failed=retry_failed) for box_id, box in boxes.items()}
            planned: set[str] = set()
            written: set[str] = set()
            for start in range(0, max(map(len, entries.values()), default=0), size):
                step = {box_id: part for box_id, pending in entries.items() if (part := pending[start:start + size])}
                plans = await self._plan_step(account, boxes, step, actor, planned)
                if dry_run:
                    written.update(transfer.source["_id"] for plan in plans.values() for transfer in plan.transfers)
                else:
                    written.update(await self._write_step(account, plans))
                    boxes.update(await self._rewrite_boxes(account, [boxes[box_id] for box_id in step], written,
                                                           plans))
                for box_id, part in step.items():
                    counted = _count(part, written, plans[box_id].errors)
                    stats.add(counted)
                    if on_batch is not None:
                        on_batch(counted)
        return boxes, stats

    @asynccontextmanager
    async def _hold_all(self, account: Account, box_ids: list[str]) -> AsyncIterator[None]:
        """The locks of every box named, taken in one order so that two holders of several cannot wait for
        each other."""
        async with AsyncExitStack() as stack:
            for box_id in sorted(set(box_ids)):
                await stack.enter_async_context(self._locks.hold(f"{account.id}/{box_id}"))
            yield

    async def _plan_step(self, account: Account, boxes: dict[str, JSON], step: dict[str, list[JSON]],
                         actor: Actor, planned: set[str]) -> dict[str, Plan]:
        """One Plan per box of the step, from one read of all their media documents."""
        media_ids = [entry["media_id"] for part in step.values() for entry in part
                     if isinstance(entry, dict) and isinstance(entry.get("media_id"), str)
                     and SAFE_MEDIA_ID.match(entry["media_id"])]
        media = {row["key"]: row.get("doc") for row in
                 await self.store.many(account.db, list(dict.fromkeys(media_ids)))}
        return {box_id: self._plan(account, boxes[box_id], part, actor, planned, media)
                for box_id, part in step.items()}

    async def _write_step(self, account: Account, plans: dict[str, Plan]) -> set[str]:
        """Store the step's messages (each monthly database written once for all its boxes) and mark their
        media documents; the media ids stored. What failed is added to the errors of the box it came from."""
        transfers = [transfer for plan in plans.values() for transfer in plan.transfers]
        result = bulk_writes.BulkResult()
        done = await self.mover.write(account, transfers, result, existing_ok=True)
        for plan in plans.values():
            plan.errors.update({transfer.source["_id"]: result.failed[transfer.source["_id"]]
                                for transfer in plan.transfers if transfer.source["_id"] in result.failed})
        await self._mark_media(account, done)
        return {transfer.source["_id"] for transfer in done}

    def _plan(self, account: Account, box: JSON, entries: list[JSON], actor: Actor, planned: set[str],
              media: dict[str, JSON | None]) -> Plan:
        """Transfers for the entries whose media id no earlier batch of this run planned: one message per
        media id, whatever the number of entries naming it."""
        plan = Plan()
        for entry in entries:
            media_id = entry.get("media_id") if isinstance(entry, dict) else None
            if not isinstance(entry, dict) or (media_id is not None and not isinstance(media_id, str)):
                plan.errors[str(media_id)] = BAD_DATA
                continue
            if not media_id:
                continue
            if not SAFE_MEDIA_ID.match(media_id):
                plan.errors[media_id] = BAD_DATA
                continue
            source = media.get(media_id)
            if not source or not source.get("_attachments"):
                plan.errors[media_id] = MISSING_AUDIO
                continue
            if media_id in planned:
                continue
            planned.add(media_id)
            timestamp = (legacy_timestamp(entry.get("timestamp")) or legacy_timestamp(source.get("pvt_modified"))
                         or legacy_timestamp(source.get("pvt_created")) or legacy_timestamp(box.get("pvt_modified"))
                         or legacy_timestamp(box.get("pvt_created")) or gregorian_now())
            doc = message_docs.new_message(_fields(entry, timestamp), box, account, actor, media_id=media_id)
            doc.update({"pvt_moved_to_modb": "true", "pvt_previous_id": media_id, "pvt_created": timestamp,
                        "media_filename": next(iter(source["_attachments"]))})
            plan.transfers.append(Transfer({"_id": media_id}, account.db, doc,
                                           message_docs.db_of(account, doc["_id"]), account.db, source))
        return plan

    async def _mark_media(self, account: Account, done: list[Transfer]) -> None:
        """Record the new id on each legacy media document, so that the legacy id keeps finding it: written at
        the revision the plan read (no second read), those changed since read again and marked."""
        new_ids = {transfer.source["_id"]: transfer.target["_id"] for transfer in done}
        read = [transfer.audio for transfer in done if transfer.audio is not None]
        marked = [{**media, MIGRATED_TO: new_ids[media["_id"]]} for media in read
                  if media.get(MIGRATED_TO) != new_ids[media["_id"]]]
        outcomes = await self.store.write_many(account.db, marked)
        changed = [outcome["id"] for outcome in outcomes if outcome.get("error") == bulk_writes.CONFLICT]
        if not changed:
            return

        def mark(doc: JSON) -> str | None:
            doc[MIGRATED_TO] = new_ids[doc["_id"]]
            return None

        await bulk_writes.update(self.store, account.db, changed, mark)

    async def _rewrite_boxes(self, account: Account, boxes: list[JSON], migrated: set[str],
                             plans: dict[str, Plan]) -> dict[str, JSON]:
        """Drop the migrated entries from the boxes' arrays, with one `_bulk_docs`; the others keep (or get)
        their reason. Each box as this run last read or wrote it is tried first, and read again when it
        changed since."""
        saved: dict[str, JSON] = {}
        for attempt in range(SAVE_RETRIES):
            if attempt:
                boxes = [await self.boxes.load(account, box["_id"]) for box in boxes]
            changed = []
            for box in boxes:
                kept = _kept(box, migrated, plans[box["_id"]].errors)
                if kept == box.get("messages"):
                    saved[box["_id"]] = box
                    continue
                # pvt_modified is left alone: it is the time of the entries that have none, and must stay the
                # same for the later batches and for a rerun, or they would get another month, hence another id
                box["messages"] = kept
                changed.append(box)
            boxes = []
            for box, outcome in zip(changed, await self.store.write_many(account.db, changed)):
                if outcome.get("error") == bulk_writes.CONFLICT:
                    boxes.append(box)
                elif "error" in outcome:
                    raise StorageError(f"box {box['_id']} not saved: {outcome['error']}")
                else:
                    box["_rev"] = outcome["rev"]
                    saved[box["_id"]] = box
            if not boxes:
                return saved
        raise KeptChanging()

    async def resolve(self, account: Account, ids: list[str]) -> dict[str, str]:
        """The message id each legacy id (32 hex) became; ids that are not legacy map to themselves."""
        legacy = [message_id for message_id in ids if message_month(message_id) is None
                  and is_legacy_message_id(message_id)]
        found = {message_id: message_id for message_id in ids}
        if not legacy:
            return found
        for row in await self.store.many(account.db, legacy):
            media = row.get("doc") or {}
            new_id = media.get(MIGRATED_TO)
            moved_at = legacy_timestamp(media.get("utc_seconds")) or legacy_timestamp(media.get("pvt_created"))
            if isinstance(new_id, str):
                found[row["key"]] = new_id
            elif moved_at:
                found[row["key"]] = modb_id(*year_month(moved_at), row["key"])
        return found

    async def box_for_messages(self, account: Account, box_id: str) -> JSON:
        """The box a message operation works on, its legacy messages migrated first (docs/differences.md)."""
        return await self.migrated(account, await self.boxes.load(account, box_id))

    async def migrated(self, account: Account, box: JSON) -> JSON:
        """The box with its pending legacy messages migrated (the box itself when it has none)."""
        if pending_entries(box, retry_failed=False):
            box, _ = await self.migrate_box(account, box, ON_ACCESS)
        return box
